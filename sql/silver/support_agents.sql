-- silver.support_agents: one row per raw support_agents row of the delivery day, typed, with its rejection reason.
with

delivered as (
    select
        *,
        to_json_string(struct(agent_id, agent_name, team, hire_date)) as raw_record,
    from raw.support_agents
    -- Cloud loads keep header rows so a wrong header can be caught; the header row itself is not data.
    where _PARTITIONDATE = @run_date and coalesce(agent_id, '') != 'agent_id'
),

cleaned as (
    select
        silver.clean_string(agent_id) as agent_id,
        silver.clean_string(agent_name) as agent_name,
        silver.clean_string(team) as team,
        silver.parse_date(hire_date) as hire_date,
        agent_id as record_key,
        raw_record,
    from delivered
)

select
    *,
    case when agent_id is null then 'missing_key' end as rejection_reason,
from cleaned
