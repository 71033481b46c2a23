-- silver.products: one row per raw products row of the delivery day, typed, with its rejection reason.
with

delivered as (
    select
        *,
        to_json_string(struct(product_id, product_name, category, brand, unit_price, updated_at)) as raw_record,
    from raw.products
    -- Cloud loads keep header rows so a wrong header can be caught; the header row itself is not data.
    where _PARTITIONDATE = @run_date and coalesce(product_id, '') != 'product_id'
),

cleaned as (
    select
        silver.clean_string(product_id) as product_id,
        silver.clean_string(product_name) as product_name,
        coalesce(silver.clean_string(category), 'Uncategorized') as category,
        silver.clean_string(brand) as brand,
        -- A negative list price is as unusable as an unparsable one: soft rule, the value becomes NULL.
        if(silver.parse_money(unit_price) >= 0, silver.parse_money(unit_price), null) as unit_price,
        silver.parse_timestamp(updated_at) as updated_at,
        product_id as record_key,
        raw_record,
    from delivered
)

select
    *,
    case when product_id is null then 'missing_key' end as rejection_reason,
from cleaned
