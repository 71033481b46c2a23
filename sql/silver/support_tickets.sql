-- silver.support_tickets: one row per raw support_tickets row of the pending delivery days, typed, with its rejection reason.
-- The first hard rule broken, in the order below, is the reason.
with

cleaned as (
    select
        silver.clean_string(ticket_id) as ticket_id,
        silver.clean_string(customer_id) as customer_id,
        silver.clean_email(customer_email) as customer_email,
        silver.clean_string(agent_id) as agent_id,
        silver.ticket_channel(channel) as channel,
        silver.clean_string(category) as category,
        silver.parse_timestamp(created_at) as created_at,
        silver.parse_timestamp(resolved_at) as resolved_at,
        silver.ticket_status(status) as status,
        -- CSAT is a whole number 1-5; anything else is unknown (soft rule).
        if(silver.parse_whole_number(csat_score) between 1 and 5, silver.parse_whole_number(csat_score), null)
            as csat_score,
        ticket_id as record_key,
    from raw.support_tickets
)

select
    *,
    case
        when ticket_id is null then 'missing_key'
        when created_at is null then 'invalid_timestamp'
        when channel is null then 'invalid_channel'
        when status is null then 'invalid_status'
        when resolved_at < created_at then 'invalid_resolution_time'
    end as rejection_reason,
from cleaned
