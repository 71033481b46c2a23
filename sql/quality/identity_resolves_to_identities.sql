-- Violations: identity rows the run wrote whose customer_key is neither a CRM customer nor a loyalty-only member (L-<card>).
with

identities as (
    select customer_id as customer_key,
    from silver.customers
    union all
    select concat('L-', loyalty_card_id) as customer_key,
    from silver.loyalty_members
),

written as (
    select key_detail as source, key_value as source_id,
    from ops.run_changes
    where table_name = 'silver.customer_identity' and change != 'removed'
)

select
    mapped.source,
    mapped.source_id,
    mapped.customer_key,
from silver.customer_identity as mapped
inner join written on mapped.source = written.source and mapped.source_id = written.source_id
where
    mapped.customer_key is not null
    and not exists (select 1 from identities where identities.customer_key = mapped.customer_key)
