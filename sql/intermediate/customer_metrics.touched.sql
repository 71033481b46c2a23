-- Customers whose figures the run's changes can move: those whose orders changed (before and after)
-- and the customers of changed tickets and of tickets that now resolve to another customer.
with

changes as (
    select table_name, key_value, key_detail, previous,
    from ops.run_changes
)

select key_value as entity_id,
from changes
where table_name = 'silver.customer_orders'
union distinct
select identity.customer_key as entity_id,
from silver.customer_identity as identity
inner join changes
    on
        identity.source = 'support_tickets'
        and identity.source_id = changes.key_value
        and (
            changes.table_name = 'silver.support_tickets'
            or (changes.table_name = 'silver.customer_identity' and changes.key_detail = 'support_tickets')
        )
where identity.customer_key is not null
union distinct
select json_value(previous, '$.customer_key') as entity_id,
from changes
where
    table_name = 'silver.customer_identity'
    and key_detail = 'support_tickets'
    and json_value(previous, '$.customer_key') is not null
