-- silver.parse_timestamp: YYYY-MM-DD[( |T)HH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM]] to a UTC TIMESTAMP; else NULL.
-- A bare date is midnight UTC; a value without offset is UTC; an offset is honoured.
-- Hours 00-23, minutes and seconds 00-59 and offsets up to +/-14:00 only: DuckDB would roll 24:00:00
-- and +05:60 over and accept +15:00, which BigQuery rejects; BigQuery would take 23:59:60, DuckDB not.
-- Within that pattern both engines cast the value as it is (T or space, Z or an offset).
create or replace function silver.parse_timestamp(value string)
returns timestamp
as (
    if(
        regexp_contains(
            silver.clean_string(value),
            r'^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?$'
        ),
        safe_cast(silver.clean_string(value) as timestamp),
        null
    )
);
