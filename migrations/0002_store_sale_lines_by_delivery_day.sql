-- table: silver.store_sale_lines
-- reason: partitioned by delivery day (_delivery_date) instead of transaction_ts, so a day's run reads only the delivery days that hold its keys; the rows are unchanged.
select transaction_id, line_number, store_id, loyalty_card_id, transaction_ts, product_id, quantity, unit_price, discount_amount, line_revenue, payment_method, _delivery_date
from silver.store_sale_lines
