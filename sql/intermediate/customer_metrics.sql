-- silver.customer_metrics: one row per customer_key with orders, sales or tickets: the figures of gold.customer_segments and gold.customer_360.
-- An order counts once for its customer, also when several of the customer's identifiers are on its lines.
with

orders as (
    select
        customer_key,
        order_kind,
        order_id,
        sum(counted_lines) as counted_lines,
        sum(counted_revenue) as counted_revenue,
        min(first_counted_at) as first_counted_at,
        max(last_counted_at) as last_counted_at,
        max(last_line_at) as last_line_at,
    from silver.customer_orders
    where customer_key is not null
    group by customer_key, order_kind, order_id
),

order_figures as (
    select
        customer_key,
        countif(order_kind = 'online' and counted_lines > 0) as online_order_count,
        coalesce(sum(if(order_kind = 'online', counted_revenue, null)), 0) as online_revenue,
        countif(order_kind = 'store' and counted_lines > 0) as store_transaction_count,
        coalesce(sum(if(order_kind = 'store', counted_revenue, null)), 0) as store_revenue,
        min(first_counted_at) as first_order_at,
        max(last_counted_at) as last_order_at,
        max(if(order_kind = 'online', last_line_at, null)) as last_order_line_at,
        max(if(order_kind = 'store', last_line_at, null)) as last_sale_at,
    from orders
    group by customer_key
),

ticket_figures as (
    select
        identity.customer_key,
        count(*) as support_ticket_count,
        countif(tickets.status in ('open', 'pending')) as open_ticket_count,
        sum(tickets.csat_score) as csat_sum,
        count(tickets.csat_score) as csat_count,
        max(tickets.created_at) as last_ticket_at,
    from silver.support_tickets as tickets
    inner join silver.customer_identity as identity
        on identity.source = 'support_tickets' and tickets.ticket_id = identity.source_id
    where identity.customer_key is not null
    group by identity.customer_key
)

select
    coalesce(order_figures.customer_key, ticket_figures.customer_key) as customer_key,
    coalesce(order_figures.online_order_count, 0) as online_order_count,
    coalesce(order_figures.online_revenue, 0) as online_revenue,
    coalesce(order_figures.store_transaction_count, 0) as store_transaction_count,
    coalesce(order_figures.store_revenue, 0) as store_revenue,
    order_figures.first_order_at,
    order_figures.last_order_at,
    order_figures.last_order_line_at,
    order_figures.last_sale_at,
    coalesce(ticket_figures.support_ticket_count, 0) as support_ticket_count,
    coalesce(ticket_figures.open_ticket_count, 0) as open_ticket_count,
    ticket_figures.csat_sum,
    coalesce(ticket_figures.csat_count, 0) as csat_count,
    ticket_figures.last_ticket_at,
from order_figures
full outer join ticket_figures on order_figures.customer_key = ticket_figures.customer_key
