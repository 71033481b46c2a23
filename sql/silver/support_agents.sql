-- silver.support_agents: one row per raw support_agents row of the pending delivery days, typed, with its rejection reason.
with

cleaned as (
    select
        silver.clean_string(agent_id) as agent_id,
        silver.clean_string(agent_name) as agent_name,
        silver.clean_string(team) as team,
        silver.parse_date(hire_date) as hire_date,
        agent_id as record_key,
    from raw.support_agents
)

select
    *,
    case when agent_id is null then 'missing_key' end as rejection_reason,
from cleaned
