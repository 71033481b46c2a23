-- Orders whose customer figures the run's changes can move: orders and transactions with a changed
-- line, and those of customer_ids and loyalty cards that now resolve to another customer (or to none).
with

changes as (
    select table_name, key_value, key_detail,
    from ops.run_changes
),

reresolved as (
    select key_detail as source, key_value as source_id,
    from changes
    where table_name = 'silver.customer_identity'
)

select 'online' as entity_kind, key_value as entity_id,
from changes
where table_name = 'silver.online_order_lines'
union distinct
select 'store' as entity_kind, key_value as entity_id,
from changes
where table_name = 'silver.store_sale_lines'
union distinct
select 'online' as entity_kind, order_id as entity_id,
from silver.online_order_lines
where customer_id in (select source_id from reresolved where source = 'online_orders')
union distinct
select 'store' as entity_kind, transaction_id as entity_id,
from silver.store_sale_lines
where loyalty_card_id in (select source_id from reresolved where source = 'store_sales')
