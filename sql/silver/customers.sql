-- silver.customers: one row per raw customers row of the pending delivery days, typed, with its rejection reason.
-- The step keeps the rows without a reason, de-duplicates them per customer_id and upserts them.
with

cleaned as (
    select
        silver.clean_string(customer_id) as customer_id,
        silver.clean_string(first_name) as first_name,
        silver.clean_string(last_name) as last_name,
        silver.clean_email(email) as email,
        silver.clean_phone(phone) as phone,
        silver.parse_date(birth_date) as birth_date,
        silver.clean_string(city) as city,
        silver.clean_string(state) as state,
        silver.clean_string(country) as country,
        silver.parse_date(signup_date) as signup_date,
        silver.parse_timestamp(updated_at) as updated_at,
        customer_id as record_key,
    from raw.customers
)

select
    *,
    case when customer_id is null then 'missing_key' end as rejection_reason,
from cleaned
