-- silver.stores: one row per raw stores row of the pending delivery days, typed, with its rejection reason.
with

cleaned as (
    select
        silver.clean_string(store_id) as store_id,
        silver.clean_string(store_name) as store_name,
        silver.clean_string(city) as city,
        silver.clean_string(state) as state,
        silver.clean_string(region) as region,
        silver.parse_date(opened_date) as opened_date,
        store_id as record_key,
    from raw.stores
)

select
    *,
    case when store_id is null then 'missing_key' end as rejection_reason,
from cleaned
