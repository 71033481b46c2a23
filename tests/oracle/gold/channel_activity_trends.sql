-- gold.channel_activity_trends: one row per (channel, day_of_week_number, hour_of_day) with activity, in UTC.
-- Online orders of any status count as activity; only completed ones bring revenue.
with

resolved as (
    select source, source_id, customer_key
    from silver.customer_identity
    where customer_key is not null
),

events as (
    select
        orders.channel,
        orders.order_ts as event_at,
        concat('order:', orders.order_id) as activity_key,
        if(orders.order_status = 'completed', orders.line_revenue, 0) as revenue,
        resolved.customer_key,
    from silver.online_order_lines as orders
    left join resolved on resolved.source = 'online_orders' and orders.customer_id = resolved.source_id
    union all
    select
        'in_store' as channel,
        sales.transaction_ts as event_at,
        concat('sale:', sales.transaction_id) as activity_key,
        sales.line_revenue as revenue,
        resolved.customer_key,
    from silver.store_sale_lines as sales
    left join resolved on resolved.source = 'store_sales' and sales.loyalty_card_id = resolved.source_id
    union all
    select
        concat('support_', tickets.channel) as channel,
        tickets.created_at as event_at,
        concat('ticket:', tickets.ticket_id) as activity_key,
        cast(0 as numeric) as revenue,
        resolved.customer_key,
    from silver.support_tickets as tickets
    left join resolved on resolved.source = 'support_tickets' and tickets.ticket_id = resolved.source_id
),

slots as (
    select
        channel,
        extract(dayofweek from event_at) as day_of_week_number,
        extract(hour from event_at) as hour_of_day,
        count(distinct activity_key) as activity_count,
        sum(revenue) as revenue,
        count(distinct customer_key) as distinct_customers,
    from events
    group by channel, day_of_week_number, hour_of_day
),

ranked as (
    select
        *,
        rank() over (partition by channel order by activity_count desc) as activity_rank,
    from slots
)

select
    channel,
    case day_of_week_number
        when 1 then 'Sunday'
        when 2 then 'Monday'
        when 3 then 'Tuesday'
        when 4 then 'Wednesday'
        when 5 then 'Thursday'
        when 6 then 'Friday'
        when 7 then 'Saturday'
    end as day_of_week,
    day_of_week_number,
    hour_of_day,
    activity_count,
    revenue,
    distinct_customers,
    activity_rank,
    activity_rank = 1 as is_peak,
from ranked
