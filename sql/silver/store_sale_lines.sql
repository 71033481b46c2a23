-- silver.store_sale_lines: one row per raw store_sales row of the pending delivery days, typed, with its rejection reason.
-- The first hard rule broken, in the order below, is the reason.
with

cleaned as (
    select
        silver.clean_string(transaction_id) as transaction_id,
        silver.parse_whole_number(line_number) as line_number,
        silver.clean_string(store_id) as store_id,
        silver.clean_string(loyalty_card_id) as loyalty_card_id,
        silver.parse_timestamp(transaction_ts) as transaction_ts,
        silver.clean_string(product_id) as product_id,
        silver.parse_whole_number(quantity) as quantity,
        silver.parse_money(unit_price) as unit_price,
        -- An empty discount means no discount; a present but unparsable one is invalid.
        if(silver.clean_string(discount_amount) is null, 0, silver.parse_money(discount_amount)) as discount_amount,
        silver.clean_enum(payment_method) as payment_method,
        concat(coalesce(transaction_id, ''), '|', coalesce(line_number, '')) as record_key,
    from raw.store_sales
),

checked as (
    select
        *,
        case
            when transaction_id is null or line_number is null then 'missing_key'
            when transaction_ts is null then 'invalid_timestamp'
            -- At most 9 digits: a line is then below 10^19 (with a price below 10^10), so sums over
            -- billions of lines stay inside NUMERIC instead of overflowing every later gold rebuild.
            when quantity is null or quantity <= 0 or quantity > 999999999 then 'invalid_quantity'
            when unit_price is null or unit_price < 0 then 'invalid_price'
            when discount_amount is null or discount_amount < 0 or discount_amount > quantity * unit_price
                then 'invalid_discount'
        end as rejection_reason,
    from cleaned
)

select
    transaction_id,
    line_number,
    store_id,
    loyalty_card_id,
    transaction_ts,
    product_id,
    quantity,
    unit_price,
    discount_amount,
    if(rejection_reason is null, quantity * unit_price - discount_amount, null) as line_revenue,
    payment_method,
    record_key,
    rejection_reason,
from checked
