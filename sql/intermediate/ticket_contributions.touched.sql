-- Tickets the run changed.
select key_value as entity_id,
from ops.run_changes
where table_name = 'silver.support_tickets'
