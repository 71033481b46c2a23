-- gold.average_order_value: one row per (dimension, dimension_id) for dimensions product, category and store.
-- Completed online lines and every store line count; online orders sit under the pseudo-store ONLINE.
with

online_lines as (
    select
        concat('online:', order_id) as order_key,
        product_id,
        'ONLINE' as store_id,
        quantity,
        line_revenue,
    from silver.online_order_lines
    where order_status = 'completed'
),

store_lines as (
    select
        -- Order ids and transaction ids come from different systems and may collide.
        concat('store:', transaction_id) as order_key,
        product_id,
        store_id,
        quantity,
        line_revenue,
    from silver.store_sale_lines
),

lines as (
    select * from online_lines
    union all
    select * from store_lines
),

described_lines as (
    select
        lines.order_key,
        lines.quantity,
        lines.line_revenue,
        coalesce(lines.product_id, 'UNKNOWN') as product_id,
        coalesce(products.product_name, 'Unknown') as product_name,
        coalesce(products.category, 'Unknown') as category,
        coalesce(lines.store_id, 'UNKNOWN') as store_id,
        if(lines.store_id = 'ONLINE', 'Online', coalesce(stores.store_name, 'Unknown')) as store_name,
    from lines
    left join silver.products as products on lines.product_id = products.product_id
    left join silver.stores as stores on lines.store_id = stores.store_id
),

dimension_lines as (
    select 'product' as dimension, product_id as dimension_id, product_name as dimension_name, order_key, quantity, line_revenue,
    from described_lines
    union all
    select 'category' as dimension, category as dimension_id, category as dimension_name, order_key, quantity, line_revenue,
    from described_lines
    union all
    select 'store' as dimension, store_id as dimension_id, store_name as dimension_name, order_key, quantity, line_revenue,
    from described_lines
),

aggregated as (
    select
        dimension,
        dimension_id,
        dimension_name,
        count(distinct order_key) as order_count,
        sum(quantity) as units,
        sum(line_revenue) as revenue,
    from dimension_lines
    group by dimension, dimension_id, dimension_name
)

select
    dimension,
    dimension_id,
    dimension_name,
    order_count,
    units,
    revenue,
    revenue / order_count as average_order_value,
from aggregated
