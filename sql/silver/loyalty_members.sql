-- silver.loyalty_members: one row per raw loyalty_members row of the pending delivery days, typed, with its rejection reason.
with

cleaned as (
    select
        silver.clean_string(loyalty_card_id) as loyalty_card_id,
        silver.clean_string(customer_id) as customer_id,
        silver.clean_email(email) as email,
        silver.clean_phone(phone) as phone,
        silver.clean_string(first_name) as first_name,
        silver.clean_string(last_name) as last_name,
        -- Tiers are stored capitalised; anything else is unknown (soft rule).
        silver.loyalty_tier(tier) as tier,
        silver.parse_whole_number(points_balance) as points_balance,
        silver.parse_date(enrolled_date) as enrolled_date,
        silver.parse_timestamp(updated_at) as updated_at,
        loyalty_card_id as record_key,
    from raw.loyalty_members
)

select
    *,
    case when loyalty_card_id is null then 'missing_key' end as rejection_reason,
from cleaned
