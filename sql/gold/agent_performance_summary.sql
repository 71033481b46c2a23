-- gold.agent_performance_summary: one row per agent (every support agent, plus agent ids seen only on tickets).
-- A ticket is resolved when its status is resolved or closed and it has a resolution time (silver.ticket_contributions).
with

agents as (
    select agent_id, agent_name, team,
    from silver.support_agents
),

ticket_only_agents as (
    select
        totals.agent_id,
        'Unknown' as agent_name,
        cast(null as string) as team,
    from silver.agent_totals as totals
    where not exists (select 1 from agents where agents.agent_id = totals.agent_id)
),

all_agents as (
    select * from agents
    union all
    select * from ticket_only_agents
)

select
    all_agents.agent_id,
    coalesce(all_agents.agent_name, 'Unknown') as agent_name,
    all_agents.team,
    coalesce(totals.tickets_assigned, 0) as tickets_assigned,
    coalesce(totals.tickets_resolved, 0) as tickets_resolved,
    coalesce(totals.open_tickets, 0) as open_tickets,
    if(coalesce(totals.tickets_assigned, 0) = 0, null, totals.tickets_resolved / totals.tickets_assigned)
        as resolution_rate,
    -- Summed in whole microseconds and divided once, so the figure does not depend on summation order.
    if(totals.tickets_resolved > 0, totals.resolution_microseconds / (totals.tickets_resolved * 3600000000), null)
        as avg_resolution_hours,
    if(totals.csat_count > 0, totals.csat_sum / totals.csat_count, null) as avg_csat,
from all_agents
left join silver.agent_totals as totals on all_agents.agent_id = totals.agent_id
