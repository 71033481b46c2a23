-- gold.average_order_value: one row per (dimension, dimension_id) for dimensions product, category and store.
-- Completed online lines and every store line count (silver.order_products); online orders sit under the pseudo-store ONLINE.
select
    totals.dimension,
    totals.dimension_id,
    case totals.dimension
        when 'product' then coalesce(products.product_name, 'Unknown')
        when 'category' then totals.dimension_id
        else if(totals.dimension_id = 'ONLINE', 'Online', coalesce(stores.store_name, 'Unknown'))
    end as dimension_name,
    totals.order_count,
    totals.units,
    totals.revenue,
    totals.revenue / totals.order_count as average_order_value,
from silver.order_group_totals as totals
left join silver.products as products
    on totals.dimension = 'product' and totals.dimension_id = products.product_id
left join silver.stores as stores
    on totals.dimension = 'store' and totals.dimension_id = stores.store_id
