-- Violations (warning only): order and sale lines the run wrote that name a product or store missing from silver; gold reports them as Unknown.
with

written as (
    select table_name, key_value, key_detail,
    from ops.run_changes
    where change != 'removed'
),

online_lines as (
    select orders.order_id, orders.line_number, orders.product_id,
    from silver.online_order_lines as orders
    inner join written
        on
            written.table_name = 'silver.online_order_lines'
            and orders.order_id = written.key_value
            and cast(orders.line_number as string) = written.key_detail
),

store_lines as (
    select sales.transaction_id, sales.line_number, sales.product_id, sales.store_id,
    from silver.store_sale_lines as sales
    inner join written
        on
            written.table_name = 'silver.store_sale_lines'
            and sales.transaction_id = written.key_value
            and cast(sales.line_number as string) = written.key_detail
)

select
    'silver.online_order_lines' as fact_table,
    concat(online_lines.order_id, '|', cast(online_lines.line_number as string)) as record_key,
    'product_id' as column_name,
    online_lines.product_id as value,
from online_lines
where not exists (select 1 from silver.products where products.product_id = online_lines.product_id)
union all
select
    'silver.store_sale_lines' as fact_table,
    concat(store_lines.transaction_id, '|', cast(store_lines.line_number as string)) as record_key,
    'product_id' as column_name,
    store_lines.product_id as value,
from store_lines
where not exists (select 1 from silver.products where products.product_id = store_lines.product_id)
union all
select
    'silver.store_sale_lines' as fact_table,
    concat(store_lines.transaction_id, '|', cast(store_lines.line_number as string)) as record_key,
    'store_id' as column_name,
    store_lines.store_id as value,
from store_lines
where not exists (select 1 from silver.stores where stores.store_id = store_lines.store_id)
