-- silver.parse_date: YYYY-MM-DD or MM/DD/YYYY to DATE; anything else, or an impossible day, is NULL.
-- MM/DD/YYYY is rebuilt as an ISO string so both engines only ever cast ISO dates.
create or replace function silver.parse_date(value string)
returns date
as (
    case
        when regexp_contains(silver.clean_string(value), r'^[0-9]{4}-[0-9]{2}-[0-9]{2}$')
            then safe_cast(silver.clean_string(value) as date)
        when regexp_contains(silver.clean_string(value), r'^[0-9]{2}/[0-9]{2}/[0-9]{4}$')
            then safe_cast(
                concat(
                    substr(silver.clean_string(value), 7, 4), '-',
                    substr(silver.clean_string(value), 1, 2), '-',
                    substr(silver.clean_string(value), 4, 2)
                ) as date
            )
    end
);
