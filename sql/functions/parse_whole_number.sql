-- silver.parse_whole_number: an unsigned whole number to INT64; else (fractions, signs, overflow) NULL.
create or replace function silver.parse_whole_number(value string)
returns int64
as (
    if(
        regexp_contains(silver.clean_string(value), r'^[0-9]+$'),
        safe_cast(silver.clean_string(value) as int64),
        null
    )
);
