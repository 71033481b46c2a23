-- gold.customer_360: one row per customer_key, the profile of a customer across every system.
-- Attributes come from the CRM record when there is one, else from the customer's primary loyalty card.
with

segments as (
    select *
    from gold.customer_segments
),

resolved as (
    select source, source_id, customer_key
    from silver.customer_identity
    where customer_key is not null
),

primary_cards as (
    select
        cards.customer_key,
        members.loyalty_card_id,
        members.first_name,
        members.last_name,
        members.email,
        members.phone,
        members.enrolled_date,
        members.points_balance,
    from silver.customer_identity as cards
    inner join silver.loyalty_members as members on cards.source_id = members.loyalty_card_id
    where cards.source = 'loyalty_members' and cards.is_primary_card
),

online_orders as (
    select
        resolved.customer_key,
        count(distinct if(orders.order_status = 'completed', orders.order_id, null)) as online_order_count,
        coalesce(sum(if(orders.order_status = 'completed', orders.line_revenue, null)), 0) as online_revenue,
        max(orders.order_ts) as last_order_line_at,
    from silver.online_order_lines as orders
    inner join resolved on resolved.source = 'online_orders' and orders.customer_id = resolved.source_id
    group by resolved.customer_key
),

store_sales as (
    select
        resolved.customer_key,
        count(distinct sales.transaction_id) as store_transaction_count,
        sum(sales.line_revenue) as store_revenue,
        max(sales.transaction_ts) as last_sale_at,
    from silver.store_sale_lines as sales
    inner join resolved on resolved.source = 'store_sales' and sales.loyalty_card_id = resolved.source_id
    group by resolved.customer_key
),

support as (
    select
        resolved.customer_key,
        count(*) as support_ticket_count,
        countif(tickets.status in ('open', 'pending')) as open_ticket_count,
        avg(tickets.csat_score) as avg_csat,
        max(tickets.created_at) as last_ticket_at,
    from silver.support_tickets as tickets
    inner join resolved on resolved.source = 'support_tickets' and tickets.ticket_id = resolved.source_id
    group by resolved.customer_key
),

last_interactions as (
    -- GREATEST() returns NULL if any argument is NULL in BigQuery, so take the max over rows instead.
    select customer_key, max(interaction_at) as last_interaction_at,
    from (
        select customer_key, last_order_line_at as interaction_at, from online_orders
        union all
        select customer_key, last_sale_at as interaction_at, from store_sales
        union all
        select customer_key, last_ticket_at as interaction_at, from support
    )
    group by customer_key
)

select
    segments.customer_key,
    crm.customer_id as crm_customer_id,
    primary_cards.loyalty_card_id,
    if(crm.customer_id is null, primary_cards.first_name, crm.first_name) as first_name,
    if(crm.customer_id is null, primary_cards.last_name, crm.last_name) as last_name,
    if(crm.customer_id is null, primary_cards.email, crm.email) as email,
    if(crm.customer_id is null, primary_cards.phone, crm.phone) as phone,
    crm.city,
    crm.state,
    if(crm.customer_id is null, primary_cards.enrolled_date, crm.signup_date) as signup_date,
    segments.loyalty_tier,
    primary_cards.points_balance,
    coalesce(online_orders.online_order_count, 0) as online_order_count,
    coalesce(online_orders.online_revenue, 0) as online_revenue,
    coalesce(store_sales.store_transaction_count, 0) as store_transaction_count,
    coalesce(store_sales.store_revenue, 0) as store_revenue,
    segments.lifetime_revenue,
    segments.first_order_at,
    segments.last_order_at,
    coalesce(support.support_ticket_count, 0) as support_ticket_count,
    coalesce(support.open_ticket_count, 0) as open_ticket_count,
    support.avg_csat,
    last_interactions.last_interaction_at,
    segments.segment,
from segments
left join silver.customers as crm on segments.customer_key = crm.customer_id
left join primary_cards on segments.customer_key = primary_cards.customer_key
left join online_orders on segments.customer_key = online_orders.customer_key
left join store_sales on segments.customer_key = store_sales.customer_key
left join support on segments.customer_key = support.customer_key
left join last_interactions on segments.customer_key = last_interactions.customer_key
