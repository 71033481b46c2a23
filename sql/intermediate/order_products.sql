-- silver.order_products: one row per (order, product, store) of an order's counted lines, with the product's category.
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
)

select
    lines.order_kind,
    lines.order_id,
    coalesce(lines.product_id, 'UNKNOWN') as product_id,
    coalesce(products.category, 'Unknown') as category,
    coalesce(lines.store_id, 'UNKNOWN') as store_id,
    sum(lines.quantity) as units,
    sum(lines.line_revenue) as revenue,
from counted_lines as lines
left join silver.products as products on lines.product_id = products.product_id
group by
    lines.order_kind,
    lines.order_id,
    coalesce(lines.product_id, 'UNKNOWN'),
    coalesce(products.category, 'Unknown'),
    coalesce(lines.store_id, 'UNKNOWN')
