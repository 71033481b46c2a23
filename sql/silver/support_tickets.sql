-- silver.support_tickets: one row per raw support_tickets row of the delivery day, typed, with its rejection reason.
-- The first hard rule broken, in the order below, is the reason.
with

delivered as (
    select
        *,
        to_json_string(struct(
            ticket_id, customer_id, customer_email, agent_id, channel, category,
            created_at, resolved_at, status, csat_score
        )) as raw_record,
    from raw.support_tickets
    -- Cloud loads keep header rows so a wrong header can be caught; the header row itself is not data.
    where _PARTITIONDATE = @run_date and coalesce(ticket_id, '') != 'ticket_id'
),

cleaned as (
    select
        silver.clean_string(ticket_id) as ticket_id,
        silver.clean_string(customer_id) as customer_id,
        silver.clean_email(customer_email) as customer_email,
        silver.clean_string(agent_id) as agent_id,
        silver.clean_enum(channel) as channel,
        silver.clean_string(category) as category,
        silver.parse_timestamp(created_at) as created_at,
        silver.parse_timestamp(resolved_at) as resolved_at,
        silver.clean_enum(status) as status,
        -- CSAT is a whole number 1-5; anything else is unknown (soft rule).
        if(silver.parse_whole_number(csat_score) between 1 and 5, silver.parse_whole_number(csat_score), null)
            as csat_score,
        ticket_id as record_key,
        raw_record,
    from delivered
)

select
    *,
    case
        when ticket_id is null then 'missing_key'
        when created_at is null then 'invalid_timestamp'
        when channel is null or channel not in ('phone', 'email', 'chat') then 'invalid_channel'
        when status is null or status not in ('open', 'pending', 'resolved', 'closed') then 'invalid_status'
        when resolved_at < created_at then 'invalid_resolution_time'
    end as rejection_reason,
from cleaned
