-- Orders whose groups the run's changes can move: orders with a changed line, and every order of a
-- product that was added, removed or moved to another category (its lines change category group).
with

changes as (
    select table_name, key_value, change, previous,
    from ops.run_changes
),

recategorised_products as (
    select changes.key_value as product_id,
    from changes
    left join silver.products as products on changes.key_value = products.product_id
    where
        changes.table_name = 'silver.products'
        and (
            changes.change != 'updated'
            or json_value(changes.previous, '$.category') is distinct from products.category
        )
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
where product_id in (select product_id from recategorised_products)
union distinct
select 'store' as entity_kind, transaction_id as entity_id,
from silver.store_sale_lines
where product_id in (select product_id from recategorised_products)
