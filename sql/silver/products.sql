-- silver.products: one row per raw products row of the pending delivery days, typed, with its rejection reason.
with

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
    from raw.products
)

select
    *,
    case when product_id is null then 'missing_key' end as rejection_reason,
from cleaned
