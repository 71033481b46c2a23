-- gold.agent_performance_summary: one row per agent (every support agent, plus agent ids seen only on tickets).
-- A ticket is resolved when its status is resolved or closed and it has a resolution time.
with

agents as (
    select agent_id, agent_name, team
    from silver.support_agents
),

tickets as (
    select
        agent_id,
        status,
        csat_score,
        status in ('resolved', 'closed') and resolved_at is not null as is_resolved,
        timestamp_diff(resolved_at, created_at, microsecond) / 3600000000 as resolution_hours,
    from silver.support_tickets
    where agent_id is not null
),

ticket_only_agents as (
    select distinct
        tickets.agent_id,
        'Unknown' as agent_name,
        cast(null as string) as team,
    from tickets
    where not exists (select 1 from agents where agents.agent_id = tickets.agent_id)
),

all_agents as (
    select * from agents
    union all
    select * from ticket_only_agents
),

ticket_stats as (
    select
        agent_id,
        count(*) as tickets_assigned,
        countif(is_resolved) as tickets_resolved,
        countif(status in ('open', 'pending')) as open_tickets,
        avg(if(is_resolved, resolution_hours, null)) as avg_resolution_hours,
        avg(csat_score) as avg_csat,
    from tickets
    group by agent_id
)

select
    all_agents.agent_id,
    coalesce(all_agents.agent_name, 'Unknown') as agent_name,
    all_agents.team,
    coalesce(ticket_stats.tickets_assigned, 0) as tickets_assigned,
    coalesce(ticket_stats.tickets_resolved, 0) as tickets_resolved,
    coalesce(ticket_stats.open_tickets, 0) as open_tickets,
    if(
        coalesce(ticket_stats.tickets_assigned, 0) = 0,
        null,
        ticket_stats.tickets_resolved / ticket_stats.tickets_assigned
    ) as resolution_rate,
    ticket_stats.avg_resolution_hours,
    ticket_stats.avg_csat,
from all_agents
left join ticket_stats on all_agents.agent_id = ticket_stats.agent_id
