-- gold.channel_activity_trends: one row per (channel, day_of_week_number, hour_of_day) with activity, in UTC.
-- Online orders of any status count as activity; only completed ones bring revenue (silver.activity_slots).
select
    channel,
    case day_of_week_number
        when 1 then 'Sunday'
        when 2 then 'Monday'
        when 3 then 'Tuesday'
        when 4 then 'Wednesday'
        when 5 then 'Thursday'
        when 6 then 'Friday'
        when 7 then 'Saturday'
    end as day_of_week,
    day_of_week_number,
    hour_of_day,
    activity_count,
    revenue,
    distinct_customers,
    rank() over (partition by channel order by activity_count desc) as activity_rank,
    rank() over (partition by channel order by activity_count desc) = 1 as is_peak,
from silver.slot_totals
