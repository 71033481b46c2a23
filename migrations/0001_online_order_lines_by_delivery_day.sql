-- table: silver.online_order_lines
-- reason: partitioned by delivery day (_delivery_date) instead of order_ts, so a day's run reads only the delivery days that hold its keys; the rows are unchanged.
select order_id, line_number, customer_id, order_ts, channel, product_id, quantity, unit_price, discount_amount, line_revenue, order_status, _delivery_date
from silver.online_order_lines
