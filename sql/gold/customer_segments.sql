-- gold.customer_segments: one row per customer_key (every CRM customer and loyalty-only member).
-- High-Value uses the continuous 90th percentile of lifetime revenue over customers with at least one order.
with

identities as (
    select distinct customer_key,
    from silver.customer_identity
    where source in ('customers', 'loyalty_members')
),

primary_cards as (
    select
        cards.customer_key,
        members.tier as loyalty_tier,
    from silver.customer_identity as cards
    inner join silver.loyalty_members as members on cards.source_id = members.loyalty_card_id
    where cards.source = 'loyalty_members' and cards.is_primary_card
),

buyers as (
    select
        customer_key,
        online_revenue + store_revenue as lifetime_revenue,
        online_order_count + store_transaction_count as order_count,
        first_order_at,
        last_order_at,
    from silver.customer_metrics
    where online_order_count + store_transaction_count >= 1
),

high_value_threshold as (
    select distinct percentile_cont(lifetime_revenue, 0.9) over () as revenue_p90,
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
