-- Identifiers whose resolution the run's changes can affect: changed CRM customers; loyalty cards that
-- name a changed customer (by id, e-mail or phone, old or new) or changed themselves, and every card
-- sharing a customer with one of them before or after (the card that speaks for a customer may change);
-- the customer_ids and cards that appeared on a line or left the last one, ids and cards that gained
-- or lost what they resolve to, and the tickets of changed customer_ids and e-mails.
with

changes as (
    select table_name, key_value, key_detail, change, previous,
    from ops.run_changes
),

changed_customers as (
    select
        changes.key_value as customer_id,
        changes.change,
        json_value(changes.previous, '$.email') as previous_email,
        json_value(changes.previous, '$.phone') as previous_phone,
        customers.email,
        customers.phone,
    from changes
    left join silver.customers as customers on changes.key_value = customers.customer_id
    where changes.table_name = 'silver.customers'
),

-- The e-mails and phones of changed customers, old and new: cards and tickets matching them may move.
changed_emails as (
    select email from changed_customers where email is not null
    union distinct
    select previous_email as email from changed_customers where previous_email is not null
),

changed_phones as (
    select phone from changed_customers where phone is not null
    union distinct
    select previous_phone as phone from changed_customers where previous_phone is not null
),

-- Cards whose customer may change: changed cards, cards naming a changed customer by id, e-mail or
-- phone (old or new), and cards resolved to a changed customer. (Equality joins, one per way a card
-- names a customer: a single join on "id or e-mail or phone" would compare every card with every customer.)
reached_cards as (
    select key_value as loyalty_card_id,
    from changes
    where table_name = 'silver.loyalty_members'
    union distinct
    select members.loyalty_card_id,
    from silver.loyalty_members as members
    inner join changed_customers on members.customer_id = changed_customers.customer_id
    union distinct
    select members.loyalty_card_id,
    from silver.loyalty_members as members
    inner join changed_emails on members.email = changed_emails.email
    union distinct
    select members.loyalty_card_id,
    from silver.loyalty_members as members
    inner join changed_phones on members.phone = changed_phones.phone
    union distinct
    select source_id as loyalty_card_id,
    from silver.customer_identity
    where source = 'loyalty_members' and customer_key in (select customer_id from changed_customers)
),

-- E-mails a ticket can resolve through whose owner may change.
reached_emails as (
    select email from changed_emails
    union distinct
    select members.email,
    from silver.loyalty_members as members
    where members.email is not null and members.loyalty_card_id in (select loyalty_card_id from reached_cards)
    union distinct
    select json_value(previous, '$.email') as email,
    from changes
    where table_name = 'silver.loyalty_members' and json_value(previous, '$.email') is not null
),

-- The customers reached cards resolve to now, and those they may resolve to after the run.
reached_keys as (
    select cards.customer_key,
    from silver.customer_identity as cards
    where cards.source = 'loyalty_members' and cards.source_id in (select loyalty_card_id from reached_cards)
    union distinct
    select concat('L-', loyalty_card_id) as customer_key,
    from reached_cards
    union distinct
    select customers.customer_id as customer_key,
    from silver.loyalty_members as members
    inner join silver.customers as customers on members.customer_id = customers.customer_id
    where members.loyalty_card_id in (select loyalty_card_id from reached_cards)
    union distinct
    select customers.customer_id as customer_key,
    from silver.loyalty_members as members
    inner join silver.customers as customers on members.email = customers.email
    where members.loyalty_card_id in (select loyalty_card_id from reached_cards)
    union distinct
    select customers.customer_id as customer_key,
    from silver.loyalty_members as members
    inner join silver.customers as customers on members.phone = customers.phone
    where members.loyalty_card_id in (select loyalty_card_id from reached_cards)
),

-- The customer_ids and cards whose count of lines moved: they appeared on a line, or left the last one.
changed_order_ids as (
    select key_value as customer_id,
    from changes
    where table_name = 'silver.order_line_customer_ids'
),

changed_sale_cards as (
    select key_value as loyalty_card_id,
    from changes
    where table_name = 'silver.sale_line_card_ids'
)

select 'customers' as entity_kind, customer_id as entity_id,
from changed_customers
union distinct
select 'loyalty_members' as entity_kind, loyalty_card_id as entity_id,
from reached_cards
union distinct
select 'loyalty_members' as entity_kind, cards.source_id as entity_id,
from silver.customer_identity as cards
where cards.source = 'loyalty_members' and cards.customer_key in (select customer_key from reached_keys)
union distinct
select 'online_orders' as entity_kind, customer_id as entity_id,
from changed_order_ids
where customer_id is not null
union distinct
select 'online_orders' as entity_kind, customer_id as entity_id,
from changed_customers
where change != 'updated'
union distinct
select 'store_sales' as entity_kind, loyalty_card_id as entity_id,
from changed_sale_cards
where loyalty_card_id is not null
union distinct
select 'store_sales' as entity_kind, loyalty_card_id as entity_id,
from reached_cards
union distinct
select 'support_tickets' as entity_kind, key_value as entity_id,
from changes
where table_name = 'silver.support_tickets'
union distinct
select 'support_tickets' as entity_kind, tickets.ticket_id as entity_id,
from silver.support_tickets as tickets
where
    tickets.customer_id in (select customer_id from changed_customers where change != 'updated')
    or tickets.customer_email in (select email from reached_emails)
