-- silver.parse_money: a plain decimal, optional sign and leading $, at most 10 integer digits, to NUMERIC; else NULL.
-- The 10-digit bound keeps quantity x price inside NUMERIC (29 integer digits) for any INT64 quantity.
create or replace function silver.parse_money(value string)
returns numeric
as (
    if(
        regexp_contains(silver.clean_string(value), r'^-?\$?[0-9]{1,10}(\.[0-9]+)?$'),
        safe_cast(replace(silver.clean_string(value), '$', '') as numeric),
        null
    )
);
