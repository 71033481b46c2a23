-- silver.activity_slots: one row per (activity, channel slot, customer): an online order, store sale or ticket in its UTC hour.
-- Online orders of any status are activity; only completed lines bring revenue.
with

resolved as (
    select source, source_id, customer_key,
    from silver.customer_identity
    where customer_key is not null
),

events as (
    select
        'order' as activity_kind,
        orders.order_id as activity_id,
        orders.channel,
        orders.order_ts as event_at,
        if(orders.order_status = 'completed', orders.line_revenue, 0) as revenue,
        resolved.customer_key,
    from silver.online_order_lines as orders
    left join resolved on resolved.source = 'online_orders' and orders.customer_id = resolved.source_id
    union all
    select
        'sale' as activity_kind,
        sales.transaction_id as activity_id,
        'in_store' as channel,
        sales.transaction_ts as event_at,
        sales.line_revenue as revenue,
        resolved.customer_key,
    from silver.store_sale_lines as sales
    left join resolved on resolved.source = 'store_sales' and sales.loyalty_card_id = resolved.source_id
    union all
    select
        'ticket' as activity_kind,
        tickets.ticket_id as activity_id,
        concat('support_', tickets.channel) as channel,
        tickets.created_at as event_at,
        cast(0 as numeric) as revenue,
        resolved.customer_key,
    from silver.support_tickets as tickets
    left join resolved on resolved.source = 'support_tickets' and tickets.ticket_id = resolved.source_id
)

select
    activity_kind,
    activity_id,
    channel,
    extract(dayofweek from event_at) as day_of_week_number,
    extract(hour from event_at) as hour_of_day,
    customer_key,
    sum(revenue) as revenue,
from events
group by activity_kind, activity_id, channel, day_of_week_number, hour_of_day, customer_key
