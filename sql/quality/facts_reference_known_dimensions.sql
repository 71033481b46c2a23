-- Violations (warning only): fact lines naming a product or store missing from silver; gold reports them as Unknown.
select
    'silver.online_order_lines' as fact_table,
    concat(orders.order_id, '|', cast(orders.line_number as string)) as record_key,
    'product_id' as column_name,
    orders.product_id as value,
from silver.online_order_lines as orders
where not exists (select 1 from silver.products where products.product_id = orders.product_id)
union all
select
    'silver.store_sale_lines' as fact_table,
    concat(sales.transaction_id, '|', cast(sales.line_number as string)) as record_key,
    'product_id' as column_name,
    sales.product_id as value,
from silver.store_sale_lines as sales
where not exists (select 1 from silver.products where products.product_id = sales.product_id)
union all
select
    'silver.store_sale_lines' as fact_table,
    concat(sales.transaction_id, '|', cast(sales.line_number as string)) as record_key,
    'store_id' as column_name,
    sales.store_id as value,
from silver.store_sale_lines as sales
where not exists (select 1 from silver.stores where stores.store_id = sales.store_id)
