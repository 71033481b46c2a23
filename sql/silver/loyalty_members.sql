-- silver.loyalty_members: one row per raw loyalty_members row of the delivery day, typed, with its rejection reason.
with

delivered as (
    select
        *,
        to_json_string(struct(
            loyalty_card_id, customer_id, email, phone, first_name, last_name,
            tier, points_balance, enrolled_date, updated_at
        )) as raw_record,
    from raw.loyalty_members
    -- Cloud loads keep header rows so a wrong header can be caught; the header row itself is not data.
    where _PARTITIONDATE = @run_date and coalesce(loyalty_card_id, '') != 'loyalty_card_id'
),

cleaned as (
    select
        silver.clean_string(loyalty_card_id) as loyalty_card_id,
        silver.clean_string(customer_id) as customer_id,
        silver.clean_email(email) as email,
        silver.clean_phone(phone) as phone,
        silver.clean_string(first_name) as first_name,
        silver.clean_string(last_name) as last_name,
        -- Tiers are stored capitalised; anything else is unknown (soft rule).
        case silver.clean_enum(tier)
            when 'bronze' then 'Bronze'
            when 'silver' then 'Silver'
            when 'gold' then 'Gold'
            when 'platinum' then 'Platinum'
        end as tier,
        silver.parse_whole_number(points_balance) as points_balance,
        silver.parse_date(enrolled_date) as enrolled_date,
        silver.parse_timestamp(updated_at) as updated_at,
        loyalty_card_id as record_key,
        raw_record,
    from delivered
)

select
    *,
    case when loyalty_card_id is null then 'missing_key' end as rejection_reason,
from cleaned
