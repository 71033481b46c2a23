-- Identity match rate: one row per source, the share of its records that resolve to a customer.
-- Loyalty cards count as matched when linked to a CRM customer; anonymous store sales count as unmatched.
with

resolved as (
    select source, source_id, customer_key, match_rule
    from silver.customer_identity
),

loyalty as (
    select
        'loyalty_members' as source,
        count(*) as records,
        countif(resolved.match_rule in ('customer_id', 'email', 'phone')) as matched,
    from silver.loyalty_members as members
    left join resolved on resolved.source = 'loyalty_members' and members.loyalty_card_id = resolved.source_id
),

online as (
    select
        'online_orders' as source,
        count(*) as records,
        countif(resolved.customer_key is not null) as matched,
    from silver.online_order_lines as orders
    left join resolved on resolved.source = 'online_orders' and orders.customer_id = resolved.source_id
),

store as (
    select
        'store_sales' as source,
        count(*) as records,
        countif(resolved.customer_key is not null) as matched,
    from silver.store_sale_lines as sales
    left join resolved on resolved.source = 'store_sales' and sales.loyalty_card_id = resolved.source_id
),

support as (
    select
        'support_tickets' as source,
        count(*) as records,
        countif(resolved.customer_key is not null) as matched,
    from silver.support_tickets as tickets
    left join resolved on resolved.source = 'support_tickets' and tickets.ticket_id = resolved.source_id
),

all_sources as (
    select * from loyalty
    union all
    select * from online
    union all
    select * from store
    union all
    select * from support
)

select
    source,
    records,
    matched,
    if(records = 0, null, matched / records) as match_rate,
from all_sources
