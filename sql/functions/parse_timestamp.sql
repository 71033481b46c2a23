-- silver.parse_timestamp: YYYY-MM-DD[( |T)HH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM]] to a UTC TIMESTAMP; else NULL.
-- A bare date is midnight UTC; a value without offset is UTC; an offset is honoured.
-- The value is normalised to 'YYYY-MM-DD HH:MM:SS[.f]+HH:MM' before the cast so both engines parse one form.
create or replace function silver.parse_timestamp(value string)
returns timestamp
as (
    if(
        regexp_contains(
            silver.clean_string(value),
            r'^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?)?$'
        ),
        safe_cast(
            regexp_replace(
                regexp_replace(
                    regexp_replace(silver.clean_string(value), r'^([0-9]{4}-[0-9]{2}-[0-9]{2})$', r'\1 00:00:00'),
                    r'T', ' '
                ),
                r'Z$', '+00:00'
            ) as timestamp
        ),
        null
    )
);
