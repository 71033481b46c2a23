-- silver.ticket_contributions: one row per ticket assigned to an agent: what it adds to the agent's figures.
-- A ticket is resolved when its status is resolved or closed and it has a resolution time.
with

tickets as (
    select
        ticket_id,
        agent_id,
        status,
        csat_score,
        status in ('resolved', 'closed') and resolved_at is not null as is_resolved,
        timestamp_diff(resolved_at, created_at, microsecond) as resolution_microseconds,
    from silver.support_tickets
    where agent_id is not null
)

select
    ticket_id,
    agent_id,
    if(is_resolved, 1, 0) as resolved_tickets,
    if(status in ('open', 'pending'), 1, 0) as open_tickets,
    if(is_resolved, resolution_microseconds, null) as resolution_microseconds,
    csat_score,
    if(csat_score is null, 0, 1) as csat_counted,
from tickets
