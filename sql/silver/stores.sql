-- silver.stores: one row per raw stores row of the delivery day, typed, with its rejection reason.
with

delivered as (
    select
        *,
        to_json_string(struct(store_id, store_name, city, state, region, opened_date)) as raw_record,
    from raw.stores
    -- Cloud loads keep header rows so a wrong header can be caught; the header row itself is not data.
    where _PARTITIONDATE = @run_date and coalesce(store_id, '') != 'store_id'
),

cleaned as (
    select
        silver.clean_string(store_id) as store_id,
        silver.clean_string(store_name) as store_name,
        silver.clean_string(city) as city,
        silver.clean_string(state) as state,
        silver.clean_string(region) as region,
        silver.parse_date(opened_date) as opened_date,
        store_id as record_key,
        raw_record,
    from delivered
)

select
    *,
    case when store_id is null then 'missing_key' end as rejection_reason,
from cleaned
