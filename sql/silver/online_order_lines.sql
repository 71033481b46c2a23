-- silver.online_order_lines: one row per raw online_orders row of the pending delivery days, typed, with its rejection reason.
-- The first hard rule broken, in the order below, is the reason.
with

cleaned as (
    select
        silver.clean_string(order_id) as order_id,
        silver.parse_whole_number(line_number) as line_number,
        silver.clean_string(customer_id) as customer_id,
        silver.parse_timestamp(order_ts) as order_ts,
        silver.online_channel(channel) as channel,
        silver.clean_string(product_id) as product_id,
        silver.parse_whole_number(quantity) as quantity,
        silver.parse_money(unit_price) as unit_price,
        -- An empty discount means no discount; a present but unparsable one is invalid.
        if(silver.clean_string(discount_amount) is null, 0, silver.parse_money(discount_amount)) as discount_amount,
        silver.order_status(order_status) as order_status,
        concat(coalesce(order_id, ''), '|', coalesce(line_number, '')) as record_key,
    from raw.online_orders
),

checked as (
    select
        *,
        case
            when order_id is null or line_number is null then 'missing_key'
            when order_ts is null then 'invalid_timestamp'
            -- At most 9 digits: a line is then below 10^19 (with a price below 10^10), so sums over
            -- billions of lines stay inside NUMERIC instead of overflowing every later gold rebuild.
            when quantity is null or quantity <= 0 or quantity > 999999999 then 'invalid_quantity'
            when unit_price is null or unit_price < 0 then 'invalid_price'
            when discount_amount is null or discount_amount < 0 or discount_amount > quantity * unit_price
                then 'invalid_discount'
            when channel is null then 'invalid_channel'
            when order_status is null then 'invalid_status'
        end as rejection_reason,
    from cleaned
)

select
    order_id,
    line_number,
    customer_id,
    order_ts,
    channel,
    product_id,
    quantity,
    unit_price,
    discount_amount,
    if(rejection_reason is null, quantity * unit_price - discount_amount, null) as line_revenue,
    order_status,
    record_key,
    rejection_reason,
from checked
