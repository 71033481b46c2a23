-- silver.customer_identity: one row per (source, source_id), every source identifier and the customer it resolves to.
-- Re-evaluated over all silver data on every run, so a corrected e-mail re-links earlier records.
-- Where several identities match, the smallest customer_key wins.
with

crm as (
    select customer_id, email, phone
    from silver.customers
),

loyalty as (
    select loyalty_card_id, customer_id, email, phone
    from silver.loyalty_members
),

crm_identities as (
    select
        'customers' as source,
        customer_id as source_id,
        customer_id as customer_key,
        'crm_customer' as match_rule,
        cast(null as bool) as is_primary_card,
    from crm
),

loyalty_matches as (
    select
        loyalty.loyalty_card_id,
        (select min(crm.customer_id) from crm where crm.customer_id = loyalty.customer_id) as by_customer_id,
        (select min(crm.customer_id) from crm where crm.email = loyalty.email) as by_email,
        (select min(crm.customer_id) from crm where crm.phone = loyalty.phone) as by_phone,
    from loyalty
),

loyalty_resolved as (
    select
        loyalty_matches.loyalty_card_id,
        coalesce(by_customer_id, by_email, by_phone, concat('L-', loyalty_matches.loyalty_card_id)) as customer_key,
        case
            when by_customer_id is not null then 'customer_id'
            when by_email is not null then 'email'
            when by_phone is not null then 'phone'
            else 'loyalty_only'
        end as match_rule,
        case members.tier when 'Platinum' then 4 when 'Gold' then 3 when 'Silver' then 2 when 'Bronze' then 1 else 0 end
            as tier_rank,
        members.points_balance,
    from loyalty_matches
    inner join silver.loyalty_members as members on loyalty_matches.loyalty_card_id = members.loyalty_card_id
),

loyalty_identities as (
    select
        'loyalty_members' as source,
        loyalty_card_id as source_id,
        customer_key,
        match_rule,
        -- The card that speaks for its customer: highest tier, then most points, then smallest card id.
        row_number() over (
            partition by customer_key
            order by tier_rank desc, points_balance desc nulls last, loyalty_card_id asc
        ) = 1 as is_primary_card,
    from loyalty_resolved
),

-- The customer_ids on order lines and the cards on sale lines, from their counts (one row per value).
online_identities as (
    select
        'online_orders' as source,
        orders.customer_id as source_id,
        crm.customer_id as customer_key,
        if(crm.customer_id is null, 'unresolved', 'customer_id') as match_rule,
        cast(null as bool) as is_primary_card,
    from silver.order_line_customer_ids as orders
    left join crm on orders.customer_id = crm.customer_id
),

store_identities as (
    select
        'store_sales' as source,
        sales.loyalty_card_id as source_id,
        cards.customer_key,
        if(cards.customer_key is null, 'unresolved', 'loyalty_card') as match_rule,
        cast(null as bool) as is_primary_card,
    from silver.sale_line_card_ids as sales
    left join loyalty_identities as cards on sales.loyalty_card_id = cards.source_id
),

identity_emails as (
    select email, customer_id as customer_key
    from crm
    where email is not null
    union all
    select loyalty.email, cards.customer_key
    from loyalty
    inner join loyalty_identities as cards on loyalty.loyalty_card_id = cards.source_id
    where loyalty.email is not null
),

ticket_matches as (
    select
        tickets.ticket_id,
        (select min(crm.customer_id) from crm where crm.customer_id = tickets.customer_id) as by_customer_id,
        (
            select min(identity_emails.customer_key)
            from identity_emails
            where identity_emails.email = tickets.customer_email
        ) as by_email,
    from silver.support_tickets as tickets
),

ticket_identities as (
    select
        'support_tickets' as source,
        ticket_id as source_id,
        coalesce(by_customer_id, by_email) as customer_key,
        case
            when by_customer_id is not null then 'customer_id'
            when by_email is not null then 'email'
            else 'unresolved'
        end as match_rule,
        cast(null as bool) as is_primary_card,
    from ticket_matches
)

select * from crm_identities
union all
select * from loyalty_identities
union all
select * from online_identities
union all
select * from store_identities
union all
select * from ticket_identities
