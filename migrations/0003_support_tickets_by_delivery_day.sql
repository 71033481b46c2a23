-- table: silver.support_tickets
-- reason: partitioned by delivery day (_delivery_date) instead of created_at, so a day's run reads only the delivery days that hold its keys; the rows are unchanged.
select ticket_id, customer_id, customer_email, agent_id, channel, category, created_at, resolved_at, status, csat_score, _delivery_date
from silver.support_tickets
