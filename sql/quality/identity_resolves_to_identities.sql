-- Violations: identity rows whose customer_key is neither a CRM customer nor a loyalty-only member (L-<card>).
with

identities as (
    select customer_id as customer_key
    from silver.customers
    union all
    select concat('L-', loyalty_card_id) as customer_key
    from silver.loyalty_members
)

select
    mapped.source,
    mapped.source_id,
    mapped.customer_key,
from silver.customer_identity as mapped
where
    mapped.customer_key is not null
    and not exists (select 1 from identities where identities.customer_key = mapped.customer_key)
