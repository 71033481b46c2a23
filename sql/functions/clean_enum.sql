-- silver.clean_enum: an enumeration value trimmed and lower-cased for case-insensitive matching.
create or replace function silver.clean_enum(value string)
returns string
as (
    lower(silver.clean_string(value))
);
