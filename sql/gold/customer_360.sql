-- gold.customer_360: one row per customer_key, the profile of a customer across every system.
-- Attributes come from the CRM record when there is one, else from the customer's primary loyalty card.
with

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
    coalesce(metrics.online_order_count, 0) as online_order_count,
    coalesce(metrics.online_revenue, 0) as online_revenue,
    coalesce(metrics.store_transaction_count, 0) as store_transaction_count,
    coalesce(metrics.store_revenue, 0) as store_revenue,
    segments.lifetime_revenue,
    segments.first_order_at,
    segments.last_order_at,
    coalesce(metrics.support_ticket_count, 0) as support_ticket_count,
    coalesce(metrics.open_ticket_count, 0) as open_ticket_count,
    if(metrics.csat_count > 0, metrics.csat_sum / metrics.csat_count, null) as avg_csat,
    -- The latest of three optional times: each argument below is one of the non-NULL ones, if any
    -- (GREATEST is NULL as soon as one argument is, in BigQuery).
    greatest(
        coalesce(metrics.last_order_line_at, metrics.last_sale_at, metrics.last_ticket_at),
        coalesce(metrics.last_sale_at, metrics.last_ticket_at, metrics.last_order_line_at),
        coalesce(metrics.last_ticket_at, metrics.last_order_line_at, metrics.last_sale_at)
    ) as last_interaction_at,
    segments.segment,
from gold.customer_segments as segments
left join silver.customers as crm on segments.customer_key = crm.customer_id
left join primary_cards on segments.customer_key = primary_cards.customer_key
left join silver.customer_metrics as metrics on segments.customer_key = metrics.customer_key
