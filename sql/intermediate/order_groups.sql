-- silver.order_groups: one row per (order, dimension group) that the order's counted lines fall in.
-- Completed online lines and every store line count; online orders sit under the pseudo-store ONLINE.
with

counted_lines as (
    select
        'online' as order_kind,
        order_id,
        product_id,
        'ONLINE' as store_id,
        quantity,
        line_revenue,
    from silver.online_order_lines
    where order_status = 'completed'
    union all
    select
        'store' as order_kind,
        transaction_id as order_id,
        product_id,
        store_id,
        quantity,
        line_revenue,
    from silver.store_sale_lines
),

described_lines as (
    select
        lines.order_kind,
        lines.order_id,
        lines.quantity,
        lines.line_revenue,
        coalesce(lines.product_id, 'UNKNOWN') as product_id,
        coalesce(products.category, 'Unknown') as category,
        coalesce(lines.store_id, 'UNKNOWN') as store_id,
    from counted_lines as lines
    left join silver.products as products on lines.product_id = products.product_id
),

dimension_lines as (
    select order_kind, order_id, 'product' as dimension, product_id as dimension_id, quantity, line_revenue,
    from described_lines
    union all
    select order_kind, order_id, 'category' as dimension, category as dimension_id, quantity, line_revenue,
    from described_lines
    union all
    select order_kind, order_id, 'store' as dimension, store_id as dimension_id, quantity, line_revenue,
    from described_lines
)

select
    order_kind,
    order_id,
    dimension,
    dimension_id,
    sum(quantity) as units,
    sum(line_revenue) as revenue,
from dimension_lines
group by order_kind, order_id, dimension, dimension_id
