-- gold.customer_segments: one row per customer_key (every CRM customer and loyalty-only member).
-- High-Value uses the continuous 90th percentile of lifetime revenue over customers with at least one order.
with

identities as (
    select distinct customer_key
    from silver.customer_identity
    where source in ('customers', 'loyalty_members')
),

resolved as (
    select source, source_id, customer_key
    from silver.customer_identity
    where customer_key is not null
),

primary_cards as (
    select
        resolved_cards.customer_key,
        members.tier as loyalty_tier,
    from silver.customer_identity as resolved_cards
    inner join silver.loyalty_members as members on resolved_cards.source_id = members.loyalty_card_id
    where resolved_cards.source = 'loyalty_members' and resolved_cards.is_primary_card
),

order_lines as (
    select
        resolved.customer_key,
        concat('online:', orders.order_id) as order_key,
        orders.order_ts as ordered_at,
        orders.line_revenue,
    from silver.online_order_lines as orders
    inner join resolved on resolved.source = 'online_orders' and orders.customer_id = resolved.source_id
    where orders.order_status = 'completed'
    union all
    select
        resolved.customer_key,
        concat('store:', sales.transaction_id) as order_key,
        sales.transaction_ts as ordered_at,
        sales.line_revenue,
    from silver.store_sale_lines as sales
    inner join resolved on resolved.source = 'store_sales' and sales.loyalty_card_id = resolved.source_id
),

buyers as (
    select
        customer_key,
        sum(line_revenue) as lifetime_revenue,
        count(distinct order_key) as order_count,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
    from order_lines
    group by customer_key
),

high_value_threshold as (
    select distinct percentile_cont(lifetime_revenue, 0.9) over () as revenue_p90
    from buyers
),

flagged as (
    select
        identities.customer_key,
        coalesce(buyers.lifetime_revenue, 0) as lifetime_revenue,
        coalesce(buyers.order_count, 0) as order_count,
        buyers.first_order_at,
        buyers.last_order_at,
        primary_cards.loyalty_tier,
        coalesce(
            buyers.order_count >= 1
            and buyers.lifetime_revenue >= (select max(revenue_p90) from high_value_threshold),
            false
        ) as is_high_value,
        coalesce(buyers.order_count, 0) = 1 as is_one_time_buyer,
        coalesce(
            primary_cards.loyalty_tier in ('Gold', 'Platinum') and buyers.order_count >= 2,
            false
        ) as is_loyalty_champion,
    from identities
    left join buyers on identities.customer_key = buyers.customer_key
    left join primary_cards on identities.customer_key = primary_cards.customer_key
)

select
    *,
    case
        when is_high_value then 'High-Value'
        when is_loyalty_champion then 'Loyalty Champions'
        when is_one_time_buyer then 'One-Time Buyers'
        when order_count >= 2 then 'Repeat Buyers'
        else 'Prospects'
    end as segment,
from flagged
