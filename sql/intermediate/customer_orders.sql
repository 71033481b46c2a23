-- silver.customer_orders: one row per (order, source identifier): what an online order or store transaction brings the customer of its customer_id or loyalty card.
-- Completed online lines and every store line count towards orders and revenue; a line of any status is an interaction.
with

resolved as (
    select source, source_id, customer_key,
    from silver.customer_identity
    where customer_key is not null
),

lines as (
    select
        'online' as order_kind,
        order_id,
        'online_orders' as source,
        customer_id as source_id,
        order_ts as line_at,
        order_status = 'completed' as is_counted,
        line_revenue,
    from silver.online_order_lines
    where customer_id is not null
    union all
    select
        'store' as order_kind,
        transaction_id as order_id,
        'store_sales' as source,
        loyalty_card_id as source_id,
        transaction_ts as line_at,
        true as is_counted,
        line_revenue,
    from silver.store_sale_lines
    where loyalty_card_id is not null
)

select
    lines.order_kind,
    lines.order_id,
    lines.source,
    lines.source_id,
    resolved.customer_key,
    countif(lines.is_counted) as counted_lines,
    coalesce(sum(if(lines.is_counted, lines.line_revenue, null)), 0) as counted_revenue,
    min(if(lines.is_counted, lines.line_at, null)) as first_counted_at,
    max(if(lines.is_counted, lines.line_at, null)) as last_counted_at,
    max(lines.line_at) as last_line_at,
from lines
left join resolved on lines.source = resolved.source and lines.source_id = resolved.source_id
group by lines.order_kind, lines.order_id, lines.source, lines.source_id, resolved.customer_key
