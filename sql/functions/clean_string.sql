-- silver.clean_string: trimmed text, NULL when empty.
-- Trims with \s (space, tab, CR, LF, FF) explicitly: TRIM() differs between engines.
create or replace function silver.clean_string(value string)
returns string
as (
    nullif(regexp_replace(value, r'^\s+|\s+$', ''), '')
);
