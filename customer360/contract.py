"""The one declaration of sources, tables and pipeline steps that every other part reads.

It is long because it is data: every column of every table, typed and described, the checks and the
steps. Kept in one module so that the declaration stays one place to read and change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
SCHEDULED_QUERIES_DIR = REPO_ROOT / "scheduled_queries"

DATASETS = ("raw", "silver", "gold", "ops")
DATASET_DESCRIPTIONS = {
    "raw": "Source CSV deliveries loaded as-is, every column STRING, one partition per delivery day.",
    "silver": "Typed, cleaned and de-duplicated source tables plus the customer identity map.",
    "gold": "Customer 360 business tables, rebuilt atomically by every pipeline run.",
    "ops": "Pipeline operations: rejected rows, run history and data-quality results.",
}
# The partition pseudo-column of the raw tables (ingestion-time partitioning in
# BigQuery, a real DATE column in the local engine).
RAW_PARTITION_COLUMN = "_PARTITIONDATE"
DELIVERY_DATE_COLUMN = "_delivery_date"


@dataclass(frozen=True)
class Column:
    """One typed, described column of a contract table.

    New columns are added as NULLABLE (required=False): BigQuery adds those in place, while a new
    REQUIRED column, a type change or a rename replaces the table and needs a declared migration
    (customer360/migrations.py); `c360 plan --diff` shows which is which.
    """

    name: str
    type: str  # BigQuery type name: STRING, INT64, NUMERIC, FLOAT64, BOOL, DATE, TIMESTAMP
    description: str
    required: bool = False


@dataclass(frozen=True)
class Table:
    dataset: str
    name: str
    grain: str
    columns: tuple[Column, ...]
    partition_by: str | None = None  # a DATE/TIMESTAMP column
    cluster_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # the columns naming a row (gold tables: their grain)

    @property
    def ref(self) -> str:
        return f"{self.dataset}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.ref} has no column {name!r}")


@dataclass(frozen=True)
class IdentifierCounts:
    """A small silver table: per value of one column of a source's silver rows, how many rows hold it.

    The source's silver step moves it by the rows it replaces (their values out, the winners' in) and
    records every value whose count moved in ops.run_changes (previous: the count before), so the
    identity map finds the values on the lines, and those that appeared or vanished, without reading
    the lines, which grow with history.
    """

    column: str
    table: Table


def _identifier_counts(name: str, column: str, what: str) -> IdentifierCounts:
    return IdentifierCounts(column, Table(
        "silver",
        name,
        f"one row per {column} on at least one row of {what}",
        (Column(column, "STRING", f"A {column} as the rows of {what} hold it.", True),
         Column("row_count", "INT64", f"Rows of {what} holding it (at least 1).", True)),
        cluster_by=(column,),
        key=(column,),
    ))


@dataclass(frozen=True)
class Source:
    """One CSV export of a source system, and the silver table it feeds."""

    name: str
    system: str
    description: str
    columns: tuple[tuple[str, str], ...]  # (name, description) in file order
    primary_key: tuple[str, ...]
    silver: Table
    version_column: str | None = None  # the column whose latest value wins on de-duplication
    rejection_reasons: tuple[str, ...] = ("missing_key",)
    # How often a delivery is expected: "daily" (a file every delivery day, possibly header-only) or
    # "on_change" (only when something changed). A missing daily delivery is a warning, never a blocker.
    expected: str = "daily"
    # The values of one silver column the identity map resolves, counted in their own small table.
    identifier_counts: IdentifierCounts | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def raw(self) -> Table:
        return Table(
            dataset="raw",
            name=self.name,
            grain=f"one row per line of a {self.name} CSV delivery, as delivered",
            columns=tuple(Column(n, "STRING", d) for n, d in self.columns),
            partition_by=RAW_PARTITION_COLUMN,
        )


def _cols(*specs: tuple) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_DELIVERY = (DELIVERY_DATE_COLUMN, "DATE", "Delivery day of the raw partition the kept row came from.", True)

SOURCES: tuple[Source, ...] = (
    Source(
        name="customers",
        system="CRM",
        description="Customer master records exported by the CRM.",
        columns=(
            ("customer_id", "CRM identifier of the customer."),
            ("first_name", "Given name."),
            ("last_name", "Family name."),
            ("email", "E-mail address as typed into the CRM."),
            ("phone", "Phone number in any punctuation."),
            ("birth_date", "Date of birth, YYYY-MM-DD or MM/DD/YYYY."),
            ("city", "City of the postal address."),
            ("state", "State or province of the postal address."),
            ("country", "Country of the postal address."),
            ("signup_date", "Day the customer registered."),
            ("updated_at", "When the CRM record last changed."),
        ),
        primary_key=("customer_id",),
        version_column="updated_at",
        silver=Table(
            "silver",
            "customers",
            "one row per CRM customer_id, latest version",
            _cols(
                ("customer_id", "STRING", "CRM identifier of the customer.", True),
                ("first_name", "STRING", "Given name, trimmed."),
                ("last_name", "STRING", "Family name, trimmed."),
                ("email", "STRING", "Lower-cased e-mail, NULL when not a valid address."),
                ("phone", "STRING", "E.164 phone (+1 and ten digits), NULL when not a North American number."),
                ("birth_date", "DATE", "Date of birth, NULL when unparsable."),
                ("city", "STRING", "City, trimmed."),
                ("state", "STRING", "State or province, trimmed."),
                ("country", "STRING", "Country, trimmed."),
                ("signup_date", "DATE", "Day the customer registered, NULL when unparsable."),
                ("updated_at", "TIMESTAMP", "When the CRM record last changed (UTC)."),
                _DELIVERY,
            ),
            cluster_by=("customer_id",),
        ),
    ),
    Source(
        name="products",
        system="Product catalogue",
        description="Products on sale and their list prices.",
        columns=(
            ("product_id", "Catalogue identifier of the product."),
            ("product_name", "Display name."),
            ("category", "Merchandise category."),
            ("brand", "Brand name."),
            ("unit_price", "List price, optionally with a leading $."),
            ("updated_at", "When the catalogue record last changed."),
        ),
        primary_key=("product_id",),
        version_column="updated_at",
        silver=Table(
            "silver",
            "products",
            "one row per product_id, latest version",
            _cols(
                ("product_id", "STRING", "Catalogue identifier of the product.", True),
                ("product_name", "STRING", "Display name, trimmed."),
                ("category", "STRING", "Merchandise category; Uncategorized when empty.", True),
                ("brand", "STRING", "Brand name, trimmed."),
                ("unit_price", "NUMERIC", "List price, NULL when not a non-negative decimal."),
                ("updated_at", "TIMESTAMP", "When the catalogue record last changed (UTC)."),
                _DELIVERY,
            ),
            cluster_by=("product_id",),
        ),
    ),
    Source(
        name="stores",
        system="Store estate",
        description="Physical stores and the region they report to.",
        columns=(
            ("store_id", "Identifier of the store."),
            ("store_name", "Display name of the store."),
            ("city", "City the store is in."),
            ("state", "State the store is in."),
            ("region", "Sales region of the store."),
            ("opened_date", "Day the store opened."),
        ),
        primary_key=("store_id",),
        expected="on_change",
        silver=Table(
            "silver",
            "stores",
            "one row per store_id, latest delivery",
            _cols(
                ("store_id", "STRING", "Identifier of the store.", True),
                ("store_name", "STRING", "Display name of the store."),
                ("city", "STRING", "City the store is in."),
                ("state", "STRING", "State the store is in."),
                ("region", "STRING", "Sales region of the store."),
                ("opened_date", "DATE", "Day the store opened, NULL when unparsable."),
                _DELIVERY,
            ),
        ),
    ),
    Source(
        name="online_orders",
        system="E-commerce platform",
        description="Web and mobile-app order lines.",
        columns=(
            ("order_id", "Identifier of the order."),
            ("line_number", "Position of the line within the order."),
            ("customer_id", "CRM identifier of the ordering customer."),
            ("order_ts", "When the order was placed."),
            ("channel", "web or mobile_app."),
            ("product_id", "Product ordered."),
            ("quantity", "Units ordered, a positive whole number."),
            ("unit_price", "Price per unit charged."),
            ("discount_amount", "Discount on the whole line; empty means none."),
            ("order_status", "completed, cancelled or returned."),
        ),
        primary_key=("order_id", "line_number"),
        identifier_counts=_identifier_counts("order_line_customer_ids", "customer_id", "silver.online_order_lines"),
        rejection_reasons=(
            "missing_key",
            "invalid_timestamp",
            "invalid_quantity",
            "invalid_price",
            "invalid_discount",
            "invalid_channel",
            "invalid_status",
        ),
        silver=Table(
            "silver",
            "online_order_lines",
            "one row per (order_id, line_number), latest delivery",
            _cols(
                ("order_id", "STRING", "Identifier of the order.", True),
                ("line_number", "INT64", "Position of the line within the order.", True),
                ("customer_id", "STRING", "CRM identifier of the ordering customer, as delivered."),
                ("order_ts", "TIMESTAMP", "When the order was placed (UTC).", True),
                ("channel", "STRING", "web or mobile_app.", True),
                ("product_id", "STRING", "Product ordered."),
                ("quantity", "INT64", "Units ordered.", True),
                ("unit_price", "NUMERIC", "Price per unit charged.", True),
                ("discount_amount", "NUMERIC", "Discount on the whole line (0 when none).", True),
                ("line_revenue", "NUMERIC", "quantity x unit_price - discount_amount.", True),
                ("order_status", "STRING", "completed, cancelled or returned.", True),
                _DELIVERY,
            ),
            partition_by=DELIVERY_DATE_COLUMN,
            cluster_by=("order_id", "customer_id", "product_id"),
        ),
    ),
    Source(
        name="store_sales",
        system="Point of sale",
        description="In-store sale lines from the tills.",
        columns=(
            ("transaction_id", "Identifier of the till transaction."),
            ("line_number", "Position of the line within the transaction."),
            ("store_id", "Store the sale happened in."),
            ("loyalty_card_id", "Loyalty card scanned at the till, if any."),
            ("transaction_ts", "When the transaction was rung up."),
            ("product_id", "Product sold."),
            ("quantity", "Units sold, a positive whole number."),
            ("unit_price", "Price per unit charged."),
            ("discount_amount", "Discount on the whole line; empty means none."),
            ("payment_method", "How the customer paid."),
        ),
        primary_key=("transaction_id", "line_number"),
        identifier_counts=_identifier_counts("sale_line_card_ids", "loyalty_card_id", "silver.store_sale_lines"),
        rejection_reasons=(
            "missing_key",
            "invalid_timestamp",
            "invalid_quantity",
            "invalid_price",
            "invalid_discount",
        ),
        silver=Table(
            "silver",
            "store_sale_lines",
            "one row per (transaction_id, line_number), latest delivery",
            _cols(
                ("transaction_id", "STRING", "Identifier of the till transaction.", True),
                ("line_number", "INT64", "Position of the line within the transaction.", True),
                ("store_id", "STRING", "Store the sale happened in."),
                ("loyalty_card_id", "STRING", "Loyalty card scanned at the till, NULL when none."),
                ("transaction_ts", "TIMESTAMP", "When the transaction was rung up (UTC).", True),
                ("product_id", "STRING", "Product sold."),
                ("quantity", "INT64", "Units sold.", True),
                ("unit_price", "NUMERIC", "Price per unit charged.", True),
                ("discount_amount", "NUMERIC", "Discount on the whole line (0 when none).", True),
                ("line_revenue", "NUMERIC", "quantity x unit_price - discount_amount.", True),
                ("payment_method", "STRING", "How the customer paid, lower-cased."),
                _DELIVERY,
            ),
            partition_by=DELIVERY_DATE_COLUMN,
            cluster_by=("transaction_id", "store_id", "loyalty_card_id"),
        ),
    ),
    Source(
        name="loyalty_members",
        system="Loyalty programme",
        description="Loyalty programme members and their cards.",
        columns=(
            ("loyalty_card_id", "Identifier of the loyalty card."),
            ("customer_id", "CRM identifier the member gave, if any."),
            ("email", "E-mail address of the member."),
            ("phone", "Phone number of the member."),
            ("first_name", "Given name."),
            ("last_name", "Family name."),
            ("tier", "bronze, silver, gold or platinum."),
            ("points_balance", "Points currently on the card."),
            ("enrolled_date", "Day the member joined."),
            ("updated_at", "When the membership record last changed."),
        ),
        primary_key=("loyalty_card_id",),
        version_column="updated_at",
        silver=Table(
            "silver",
            "loyalty_members",
            "one row per loyalty_card_id, latest version",
            _cols(
                ("loyalty_card_id", "STRING", "Identifier of the loyalty card.", True),
                ("customer_id", "STRING", "CRM identifier the member gave, as delivered."),
                ("email", "STRING", "Lower-cased e-mail, NULL when not a valid address."),
                ("phone", "STRING", "E.164 phone, NULL when not a North American number."),
                ("first_name", "STRING", "Given name, trimmed."),
                ("last_name", "STRING", "Family name, trimmed."),
                ("tier", "STRING", "Bronze, Silver, Gold or Platinum; NULL when unknown."),
                ("points_balance", "INT64", "Points on the card, NULL when not a whole number."),
                ("enrolled_date", "DATE", "Day the member joined, NULL when unparsable."),
                ("updated_at", "TIMESTAMP", "When the membership record last changed (UTC)."),
                _DELIVERY,
            ),
            cluster_by=("customer_id",),
        ),
    ),
    Source(
        name="support_tickets",
        system="Support desk",
        description="Customer-support tickets.",
        columns=(
            ("ticket_id", "Identifier of the ticket."),
            ("customer_id", "CRM identifier of the customer, if known to the desk."),
            ("customer_email", "E-mail the customer wrote from."),
            ("agent_id", "Agent the ticket is assigned to."),
            ("channel", "phone, email or chat."),
            ("category", "Topic of the ticket."),
            ("created_at", "When the ticket was opened."),
            ("resolved_at", "When the ticket was resolved, if it was."),
            ("status", "open, pending, resolved or closed."),
            ("csat_score", "Customer satisfaction, a whole number 1 to 5."),
        ),
        primary_key=("ticket_id",),
        rejection_reasons=(
            "missing_key",
            "invalid_timestamp",
            "invalid_channel",
            "invalid_status",
            "invalid_resolution_time",
        ),
        silver=Table(
            "silver",
            "support_tickets",
            "one row per ticket_id, latest delivery",
            _cols(
                ("ticket_id", "STRING", "Identifier of the ticket.", True),
                ("customer_id", "STRING", "CRM identifier of the customer, as delivered."),
                ("customer_email", "STRING", "Lower-cased e-mail, NULL when not a valid address."),
                ("agent_id", "STRING", "Agent the ticket is assigned to."),
                ("channel", "STRING", "phone, email or chat.", True),
                ("category", "STRING", "Topic of the ticket."),
                ("created_at", "TIMESTAMP", "When the ticket was opened (UTC).", True),
                ("resolved_at", "TIMESTAMP", "When the ticket was resolved (UTC), NULL when not or unparsable."),
                ("status", "STRING", "open, pending, resolved or closed.", True),
                ("csat_score", "INT64", "Customer satisfaction 1-5, NULL when missing or out of range."),
                _DELIVERY,
            ),
            partition_by=DELIVERY_DATE_COLUMN,
            cluster_by=("ticket_id", "agent_id", "customer_id"),
        ),
    ),
    Source(
        name="support_agents",
        system="Support desk",
        description="Support agents and their teams.",
        columns=(
            ("agent_id", "Identifier of the agent."),
            ("agent_name", "Full name of the agent."),
            ("team", "Team the agent works in."),
            ("hire_date", "Day the agent was hired."),
        ),
        primary_key=("agent_id",),
        expected="on_change",
        silver=Table(
            "silver",
            "support_agents",
            "one row per agent_id, latest delivery",
            _cols(
                ("agent_id", "STRING", "Identifier of the agent.", True),
                ("agent_name", "STRING", "Full name of the agent."),
                ("team", "STRING", "Team the agent works in."),
                ("hire_date", "DATE", "Day the agent was hired, NULL when unparsable."),
                _DELIVERY,
            ),
        ),
    ),
)

SOURCES_BY_NAME = {s.name: s for s in SOURCES}


# ---------------------------------------------------------------------------
# What a delivery is: the files the cloud transfer loads, and the same files locally.
# ---------------------------------------------------------------------------

# A data file of a source: a regular file whose name ends with one of these (case-sensitive, as Cloud
# Storage names are). gzip-compressed CSV is loaded by BigQuery as it is by the local engine.
DATA_FILE_SUFFIXES = (".csv", ".csv.gz")
# Files an export tool leaves beside the data; listed as ignored, never loaded.
DELIVERY_MARKERS = ("_SUCCESS", ".DS_Store")
# The cloud transfer's wildcard inside gs://<bucket>/<source>/<YYYYMMDD>/: it matches every data file
# above; a name it matches that is not a data file (say `orders.csv.bak`) is refused locally, so no file
# loads in one engine and not the other. `*` does not descend into sub-folders.
CLOUD_FILE_PATTERN = "*.csv*"


def cloud_data_path_template(bucket: str, source: Source, day: str = "{run_date}") -> str:
    """The transfer's data_path_template: gs://<bucket>/<source>/<YYYYMMDD>/*.csv* (DAY is a runtime-parameter template)."""
    return f"gs://{bucket}/{source.name}/{day}/{CLOUD_FILE_PATTERN}"


def is_data_file_name(name: str) -> bool:
    return name.endswith(DATA_FILE_SUFFIXES)


def cloud_pattern_matches(name: str) -> bool:
    """Whether the transfer's wildcard (`*` any run of characters within one folder) matches NAME."""
    import fnmatch

    return "/" not in name and fnmatch.fnmatchcase(name, CLOUD_FILE_PATTERN)


# ---------------------------------------------------------------------------
# Silver: the cleaned sources, the identity map and the intermediates gold is maintained from.
# ---------------------------------------------------------------------------

CUSTOMER_IDENTITY = Table(
    "silver",
    "customer_identity",
    "one row per (source, source_id): every source identifier and the customer it resolves to",
    _cols(
        ("source", "STRING", "Source the identifier comes from (customers, loyalty_members, online_orders, store_sales, support_tickets).", True),
        ("source_id", "STRING", "The identifier: CRM customer_id, loyalty_card_id, an order's customer_id, a sale's loyalty_card_id, or a ticket_id.", True),
        ("customer_key", "STRING", "Resolved customer: a CRM customer_id or L-<loyalty_card_id>; NULL when unresolved."),
        ("match_rule", "STRING", "Rule that resolved it: crm_customer, customer_id, email, phone, loyalty_card, loyalty_only or unresolved.", True),
        ("is_primary_card", "BOOL", "For loyalty cards: the card that represents its customer (highest tier, most points, smallest id)."),
    ),
    cluster_by=("source", "source_id"),
)

# Intermediates: history-sized tables kept per order, activity or ticket, and small totals kept per
# group. A run recomputes the rows of the orders, activities and tickets its changes touch and applies
# the difference to the totals, so its cost follows what changed, not how much history there is.
INTERMEDIATE_TABLES: tuple[Table, ...] = (
    Table(
        "silver",
        "order_products",
        "one row per (order, product, store) of an order's counted lines, with the product's category",
        _cols(
            ("order_kind", "STRING", "online (an online order_id) or store (a store transaction_id).", True),
            ("order_id", "STRING", "The online order_id or the store transaction_id.", True),
            ("product_id", "STRING", "Product of the lines; UNKNOWN when NULL.", True),
            ("category", "STRING", "The product's category; Unknown for a product not in the catalogue.", True),
            ("store_id", "STRING", "Store of the lines: ONLINE for online orders, UNKNOWN when NULL.", True),
            ("units", "INT64", "Units of those counted lines.", True),
            ("revenue", "NUMERIC", "Line revenue of those counted lines.", True),
        ),
        cluster_by=("order_id",),
    ),
    Table(
        "silver",
        "order_group_totals",
        "one row per (dimension, dimension_id) with counted lines",
        _cols(
            ("dimension", "STRING", "product, category or store.", True),
            ("dimension_id", "STRING", "product_id, category or store_id, as in silver.order_products.", True),
            ("order_count", "INT64", "Orders with at least one counted line in the group.", True),
            ("units", "INT64", "Units of the counted lines.", True),
            ("revenue", "NUMERIC", "Revenue of the counted lines.", True),
        ),
        cluster_by=("dimension",),
    ),
    Table(
        "silver",
        "activity_slots",
        "one row per (activity, channel slot, customer): an order, store sale or ticket in its UTC hour",
        _cols(
            ("activity_kind", "STRING", "order, sale or ticket.", True),
            ("activity_id", "STRING", "order_id, transaction_id or ticket_id.", True),
            ("channel", "STRING", "web, mobile_app, in_store, support_phone, support_email or support_chat.", True),
            ("day_of_week_number", "INT64", "1 = Sunday ... 7 = Saturday, UTC.", True),
            ("hour_of_day", "INT64", "Hour 0-23, UTC.", True),
            ("customer_key", "STRING", "Resolved customer of the activity's lines in the slot; NULL when unresolved."),
            ("revenue", "NUMERIC", "Completed revenue of those lines; 0 for tickets.", True),
        ),
        cluster_by=("activity_id",),
    ),
    Table(
        "silver",
        "slot_totals",
        "one row per (channel, day_of_week_number, hour_of_day) with activity",
        _cols(
            ("channel", "STRING", "As in silver.activity_slots.", True),
            ("day_of_week_number", "INT64", "1 = Sunday ... 7 = Saturday.", True),
            ("hour_of_day", "INT64", "Hour 0-23.", True),
            ("activity_count", "INT64", "Distinct activities in the slot.", True),
            ("revenue", "NUMERIC", "Completed revenue in the slot.", True),
            ("distinct_customers", "INT64", "Distinct resolved customers in the slot.", True),
        ),
    ),
    Table(
        "silver",
        "slot_customers",
        "one row per (channel slot, customer) with activity",
        _cols(
            ("channel", "STRING", "As in silver.activity_slots.", True),
            ("day_of_week_number", "INT64", "1 = Sunday ... 7 = Saturday.", True),
            ("hour_of_day", "INT64", "Hour 0-23.", True),
            ("customer_key", "STRING", "Resolved customer.", True),
            ("activities", "INT64", "Rows of silver.activity_slots for the customer in the slot.", True),
        ),
        cluster_by=("customer_key",),
    ),
    Table(
        "silver",
        "customer_orders",
        "one row per (order, source identifier): what an online order or store transaction brings the customer of its customer_id or loyalty card",
        _cols(
            ("order_kind", "STRING", "online or store.", True),
            ("order_id", "STRING", "The online order_id or the store transaction_id.", True),
            ("source", "STRING", "online_orders (a customer_id) or store_sales (a loyalty_card_id).", True),
            ("source_id", "STRING", "The customer_id or loyalty_card_id on the order's lines.", True),
            ("customer_key", "STRING", "The identifier's resolved customer; NULL when unresolved."),
            ("counted_lines", "INT64", "Lines that count towards orders and revenue (completed online, every store line).", True),
            ("counted_revenue", "NUMERIC", "Revenue of the counted lines.", True),
            ("first_counted_at", "TIMESTAMP", "Earliest counted line (UTC)."),
            ("last_counted_at", "TIMESTAMP", "Latest counted line (UTC)."),
            ("last_line_at", "TIMESTAMP", "Latest line of any status (UTC).", True),
        ),
        cluster_by=("order_id",),
    ),
    Table(
        "silver",
        "ticket_contributions",
        "one row per ticket assigned to an agent: what it adds to the agent's figures",
        _cols(
            ("ticket_id", "STRING", "Identifier of the ticket.", True),
            ("agent_id", "STRING", "Agent the ticket is assigned to.", True),
            ("resolved_tickets", "INT64", "1 when resolved or closed with a resolution time, else 0.", True),
            ("open_tickets", "INT64", "1 when open or pending, else 0.", True),
            ("resolution_microseconds", "INT64", "created_at to resolved_at, for resolved tickets; else NULL."),
            ("csat_score", "INT64", "CSAT score, NULL when none."),
            ("csat_counted", "INT64", "1 when the ticket has a CSAT score, else 0.", True),
        ),
        cluster_by=("ticket_id",),
    ),
    Table(
        "silver",
        "agent_totals",
        "one row per agent_id seen on a ticket",
        _cols(
            ("agent_id", "STRING", "Identifier of the agent.", True),
            ("tickets_assigned", "INT64", "Tickets assigned.", True),
            ("tickets_resolved", "INT64", "Tickets resolved or closed with a resolution time.", True),
            ("open_tickets", "INT64", "Tickets open or pending.", True),
            ("resolution_microseconds", "INT64", "Sum of resolution times of the resolved tickets.", True),
            ("csat_sum", "INT64", "Sum of CSAT scores.", True),
            ("csat_count", "INT64", "Tickets with a CSAT score.", True),
        ),
    ),
    Table(
        "silver",
        "customer_metrics",
        "one row per customer_key with orders, sales or tickets",
        _cols(
            ("customer_key", "STRING", "Resolved customer identity.", True),
            ("online_order_count", "INT64", "Completed online orders.", True),
            ("online_revenue", "NUMERIC", "Completed online revenue.", True),
            ("store_transaction_count", "INT64", "Store transactions.", True),
            ("store_revenue", "NUMERIC", "In-store revenue.", True),
            ("first_order_at", "TIMESTAMP", "Earliest counted order (UTC)."),
            ("last_order_at", "TIMESTAMP", "Latest counted order (UTC)."),
            ("last_order_line_at", "TIMESTAMP", "Latest online order line of any status (UTC)."),
            ("last_sale_at", "TIMESTAMP", "Latest store sale (UTC)."),
            ("support_ticket_count", "INT64", "Support tickets.", True),
            ("open_ticket_count", "INT64", "Tickets open or pending.", True),
            ("csat_sum", "INT64", "Sum of the tickets' CSAT scores."),
            ("csat_count", "INT64", "Tickets with a CSAT score.", True),
            ("last_ticket_at", "TIMESTAMP", "Latest ticket (UTC)."),
        ),
        cluster_by=("customer_key",),
    ),
)

GOLD_TABLES: tuple[Table, ...] = (
    Table(
        "gold",
        "average_order_value",
        "one row per (dimension, dimension_id)",
        _cols(
            ("dimension", "STRING", "product, category or store.", True),
            ("dimension_id", "STRING", "product_id, category name or store_id (ONLINE for online orders).", True),
            ("dimension_name", "STRING", "Product name, category name or store name; Unknown when not in the catalogue.", True),
            ("order_count", "INT64", "Distinct orders with at least one counted line in the group.", True),
            ("units", "INT64", "Sum of quantity over counted lines.", True),
            ("revenue", "NUMERIC", "Sum of line revenue over counted lines.", True),
            ("average_order_value", "NUMERIC", "revenue / order_count.", True),
        ),
        cluster_by=("dimension",),
        key=("dimension", "dimension_id"),
    ),
    Table(
        "gold",
        "customer_segments",
        "one row per customer_key",
        _cols(
            ("customer_key", "STRING", "Resolved customer identity.", True),
            ("lifetime_revenue", "NUMERIC", "Completed online plus in-store revenue.", True),
            ("order_count", "INT64", "Completed online orders plus store transactions.", True),
            ("first_order_at", "TIMESTAMP", "Earliest counted order (UTC)."),
            ("last_order_at", "TIMESTAMP", "Latest counted order (UTC)."),
            ("loyalty_tier", "STRING", "Tier of the customer's best loyalty card."),
            ("is_high_value", "BOOL", "Has orders and lifetime revenue at or above the 90th percentile of buyers.", True),
            ("is_one_time_buyer", "BOOL", "Exactly one order.", True),
            ("is_loyalty_champion", "BOOL", "Gold or Platinum tier with two or more orders.", True),
            ("segment", "STRING", "High-Value, Loyalty Champions, One-Time Buyers, Repeat Buyers or Prospects.", True),
        ),
        cluster_by=("segment",),
        key=("customer_key",),
    ),
    Table(
        "gold",
        "channel_activity_trends",
        "one row per (channel, day_of_week_number, hour_of_day) with activity",
        _cols(
            ("channel", "STRING", "web, mobile_app, in_store, support_phone, support_email or support_chat.", True),
            ("day_of_week", "STRING", "Sunday to Saturday, UTC.", True),
            ("day_of_week_number", "INT64", "1 = Sunday ... 7 = Saturday.", True),
            ("hour_of_day", "INT64", "Hour 0-23, UTC.", True),
            ("activity_count", "INT64", "Distinct orders (any status), transactions or tickets.", True),
            ("revenue", "NUMERIC", "Completed revenue; 0 for support channels.", True),
            ("distinct_customers", "INT64", "Distinct resolved customers active in the slot.", True),
            ("activity_rank", "INT64", "RANK of activity_count, busiest first, within the channel.", True),
            ("is_peak", "BOOL", "activity_rank = 1.", True),
        ),
        cluster_by=("channel",),
        key=("channel", "day_of_week_number", "hour_of_day"),
    ),
    Table(
        "gold",
        "agent_performance_summary",
        "one row per agent_id",
        _cols(
            ("agent_id", "STRING", "Identifier of the agent.", True),
            ("agent_name", "STRING", "Agent name; Unknown when only seen on tickets.", True),
            ("team", "STRING", "Team of the agent; NULL when unknown."),
            ("tickets_assigned", "INT64", "Tickets assigned to the agent.", True),
            ("tickets_resolved", "INT64", "Tickets resolved or closed with a resolution time.", True),
            ("open_tickets", "INT64", "Tickets open or pending.", True),
            ("resolution_rate", "FLOAT64", "tickets_resolved / tickets_assigned; NULL when none assigned."),
            ("avg_resolution_hours", "FLOAT64", "Mean hours from creation to resolution over resolved tickets."),
            ("avg_csat", "FLOAT64", "Mean of the non-NULL CSAT scores."),
        ),
        key=("agent_id",),
    ),
    Table(
        "gold",
        "customer_360",
        "one row per customer_key",
        _cols(
            ("customer_key", "STRING", "Resolved customer identity.", True),
            ("crm_customer_id", "STRING", "CRM customer_id; NULL for loyalty-only customers."),
            ("loyalty_card_id", "STRING", "Best loyalty card (highest tier, most points, smallest id)."),
            ("first_name", "STRING", "Given name, from CRM else loyalty."),
            ("last_name", "STRING", "Family name, from CRM else loyalty."),
            ("email", "STRING", "E-mail, from CRM else loyalty."),
            ("phone", "STRING", "Phone, from CRM else loyalty."),
            ("city", "STRING", "City from CRM."),
            ("state", "STRING", "State from CRM."),
            ("signup_date", "DATE", "CRM signup date, else loyalty enrolment date."),
            ("loyalty_tier", "STRING", "Tier of the best loyalty card."),
            ("points_balance", "INT64", "Points on the best loyalty card."),
            ("online_order_count", "INT64", "Completed online orders.", True),
            ("online_revenue", "NUMERIC", "Completed online revenue.", True),
            ("store_transaction_count", "INT64", "Store transactions.", True),
            ("store_revenue", "NUMERIC", "In-store revenue.", True),
            ("lifetime_revenue", "NUMERIC", "online_revenue + store_revenue.", True),
            ("first_order_at", "TIMESTAMP", "Earliest counted order (UTC)."),
            ("last_order_at", "TIMESTAMP", "Latest counted order (UTC)."),
            ("support_ticket_count", "INT64", "Support tickets.", True),
            ("open_ticket_count", "INT64", "Tickets open or pending.", True),
            ("avg_csat", "FLOAT64", "Mean CSAT over the customer's tickets."),
            ("last_interaction_at", "TIMESTAMP", "Latest order (any status), sale or ticket (UTC)."),
            ("segment", "STRING", "Segment from gold.customer_segments.", True),
        ),
        cluster_by=("customer_key",),
        key=("customer_key",),
    ),
)

OPS_TABLES: tuple[Table, ...] = (
    Table(
        "ops",
        "rejected_rows",
        "one row per raw row that failed a hard cleaning rule",
        _cols(
            ("source", "STRING", "Source the row was delivered in.", True),
            ("delivery_date", "DATE", "Delivery day (raw partition) of the row.", True),
            ("reason", "STRING", "First hard rule the row broke.", True),
            ("record_key", "STRING", "Primary-key values as delivered, joined with '|'."),
            ("raw_values", "STRING", "The raw row as a JSON object of strings.", True),
            ("run_id", "STRING", "Run that rejected the row.", True),
        ),
        partition_by="delivery_date",
        cluster_by=("source", "reason"),
    ),
    Table(
        "ops",
        "pipeline_runs",
        "one row per step per run",
        _cols(
            ("run_id", "STRING", "Identifier of the pipeline run.", True),
            ("run_date", "DATE", "Delivery day the run processed.", True),
            ("step", "STRING", "Pipeline step name.", True),
            ("step_kind", "STRING", "load, silver, identity, quality, intermediate, gold or run.", True),
            ("target_table", "STRING", "Table the step writes."),
            ("started_at", "TIMESTAMP", "When the step started (UTC).", True),
            ("finished_at", "TIMESTAMP", "When the step finished (UTC)."),
            ("duration_seconds", "FLOAT64", "Wall time of the step."),
            ("rows_in", "INT64", "Rows the step read."),
            ("rows_out", "INT64", "Rows the step wrote or kept."),
            ("rows_rejected", "INT64", "Rows the step sent to ops.rejected_rows."),
            ("status", "STRING", "succeeded, skipped (nothing to process), failed or rolled_back.", True),
            ("message", "STRING", "Error message of a failed step."),
            ("engine", "STRING", "duckdb or bigquery.", True),
            ("input_fingerprint", "STRING", "SHA-256 of the delivery's files and the pipeline's SQL."),
        ),
        partition_by="run_date",
    ),
    Table(
        "ops",
        "data_quality_results",
        "one row per check per run",
        _cols(
            ("run_id", "STRING", "Run the check belongs to.", True),
            ("run_date", "DATE", "Delivery day of the run.", True),
            ("check_name", "STRING", "Name of the data-quality check.", True),
            ("target_table", "STRING", "Table the check inspects.", True),
            ("severity", "STRING", "error (blocks the run) or warn.", True),
            ("violating_rows", "INT64", "Rows the check returned.", True),
            ("status", "STRING", "pass, fail or warn.", True),
            ("checked_at", "TIMESTAMP", "When the check ran (UTC).", True),
            ("subject", "STRING", "What a per-item result is about (a source, for deliveries_arrived); NULL for the whole check."),
            ("detail", "STRING", "A one-line explanation of a warn or fail result."),
        ),
        partition_by="run_date",
    ),
    Table(
        "ops",
        "raw_partitions",
        "one row per (source, delivery day) held in raw: what its latest load put there",
        _cols(
            ("source", "STRING", "Source of the raw table.", True),
            ("delivery_date", "DATE", "Delivery day (raw partition).", True),
            ("row_count", "INT64", "Rows in the partition (in the cloud this counts the files' header rows too).", True),
            ("loaded_at", "TIMESTAMP", "When the partition was last loaded (UTC); in the cloud its last_modified_time.", True),
            ("fingerprint", "STRING", "Digest of the partition's content: SHA-256 of the files locally, a row digest in the cloud."),
            ("file_count", "INT64", "Files loaded into the partition (local loads)."),
            ("files", "STRING", "The files loaded, as a JSON array of paths (local loads)."),
        ),
        cluster_by=("source",),
    ),
    Table(
        "ops",
        "processed_partitions",
        "one row per (source, delivery day): the version of the raw partition silver holds, and its counts",
        _cols(
            ("source", "STRING", "Source of the raw table.", True),
            ("delivery_date", "DATE", "Delivery day (raw partition).", True),
            ("loaded_at", "TIMESTAMP", "loaded_at of the raw partition when it was processed.", True),
            ("fingerprint", "STRING", "fingerprint of the raw partition when it was processed."),
            ("scanned_rows", "INT64", "Raw rows read, header rows included.", True),
            ("header_rows", "INT64", "Rows that are exactly the contract header (cloud loads keep each file's header).", True),
            ("header_like_rows", "INT64", "Other rows that look like a header (renamed, reordered or another source's); they fail the run.", True),
            ("accepted_rows", "INT64", "Rows accepted into silver (before de-duplication).", True),
            ("rejected_rows", "INT64", "Rows written to ops.rejected_rows.", True),
            ("accepted_keys_missing", "INT64", "Accepted keys not found in silver after the step (must be 0).", True),
            ("first_key_min", "STRING", "Smallest cleaned first primary-key column value accepted that day."),
            ("first_key_max", "STRING", "Largest cleaned first primary-key column value accepted that day."),
            ("pipeline_digest", "STRING", "Digest of the SQL the day was processed with.", True),
            ("run_id", "STRING", "Run that processed it.", True),
            ("processed_at", "TIMESTAMP", "When it was processed (UTC).", True),
        ),
        cluster_by=("source",),
    ),
    Table(
        "ops",
        "run_partitions",
        "one row per (run, source, delivery day) a run processed",
        _cols(
            ("run_id", "STRING", "Run.", True),
            ("run_date", "DATE", "The run's date.", True),
            ("source", "STRING", "Source.", True),
            ("delivery_date", "DATE", "Delivery day processed.", True),
            ("reason", "STRING", "new, changed (loaded again), pipeline_changed (the SQL changed), forced, full_refresh or selected (c360 run --select).", True),
        ),
        partition_by="run_date",
        cluster_by=("run_id",),
    ),
    Table(
        "ops",
        "run_changes",
        "one row per key the current run changed in a silver or intermediate table (work table, emptied by each run)",
        _cols(
            ("run_id", "STRING", "Run.", True),
            ("table_name", "STRING", "Table changed, e.g. silver.online_order_lines.", True),
            ("key_value", "STRING", "First key column of the changed row (or the grouping key recorded for downstream steps).", True),
            ("key_detail", "STRING", "The other key columns, joined with '|' (e.g. the line_number, or an identity's source)."),
            ("change", "STRING", "added, updated or removed.", True),
            ("previous", "STRING", "The row before the change as JSON (updated and removed rows)."),
        ),
        cluster_by=("table_name", "key_value"),
    ),
    Table(
        "ops",
        "warehouse_info",
        "one row per property of the warehouse (its schema version)",
        _cols(
            ("name", "STRING", "Property name.", True),
            ("value", "STRING", "Property value.", True),
            ("updated_at", "TIMESTAMP", "When it was set (UTC).", True),
        ),
    ),
)


IDENTIFIER_COUNT_TABLES: tuple[Table, ...] = tuple(s.identifier_counts.table for s in SOURCES if s.identifier_counts)
SILVER_TABLES: tuple[Table, ...] = (tuple(s.silver for s in SOURCES) + IDENTIFIER_COUNT_TABLES + (CUSTOMER_IDENTITY,)
                                    + INTERMEDIATE_TABLES)
RAW_TABLES: tuple[Table, ...] = tuple(s.raw for s in SOURCES)
ALL_TABLES: tuple[Table, ...] = RAW_TABLES + SILVER_TABLES + GOLD_TABLES + OPS_TABLES
TABLES_BY_REF = {t.ref: t for t in ALL_TABLES}


# ---------------------------------------------------------------------------
# Pipeline steps, in execution order.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A table an intermediate's definition reads, restricted on a run to the entities the run touched."""

    table: str  # e.g. silver.online_order_lines
    column: str  # its column holding the entity id, e.g. order_id
    kind: str | None = None  # the entity kind its ids belong to (online, store, order, ...); None for one kind


@dataclass(frozen=True)
class Totals:
    """A small table kept per group of an intermediate's rows, updated by the difference a run makes."""

    table: str
    group_by: tuple[str, ...]
    # Totals column counting the distinct entities with rows in the group; a group that reaches 0 is removed.
    entity_count: str
    sums: tuple[tuple[str, str], ...] = ()  # (totals column, intermediate column)
    # (totals column, member column, multiplicity table, its count column): distinct members over all
    # entities, kept through a table counting each (group, member)'s rows.
    member_count: tuple[str, str, str, str] | None = None
    # The group's values as expressions over the intermediate's rows, when they are not its columns of the
    # same names: several totals can then share one table (a constant dimension, then a column).
    group_values: tuple[str, ...] | None = None

    def group_value(self, index: int) -> str:
        return self.group_values[index] if self.group_values else self.group_by[index]


@dataclass(frozen=True)
class Additive:
    """An intermediate moved by the rows another intermediate's run added, instead of recomputed, for the
    entities that only gained rows there.

    The source intermediate (its `records` column naming this one's entity) publishes in ops.run_changes
    the rows it added for an entity that had none among the entities it touched. For each touched entity
    this table already holds and that the source changed only by such rows, this step computes its
    definition over those rows alone (its other scoped tables restricted to those entities) and merges the
    result into the stored row: each column of `merges` by sum, min or max; every other column is taken
    as computed. Every other touched entity is recomputed from all of its rows. A day's new orders then
    cost their own rows, not their customers' history.

    Valid only when each merged column reads nothing but the source and is a sum (or count), min or max
    over its rows, and no other column reads the source (tests/test_additive.py checks the reads by
    column lineage; the kind of each aggregate is the declaration's promise).
    """

    source: str  # the intermediate table whose added rows feed it, e.g. silver.customer_orders
    merges: tuple[tuple[str, str], ...]  # (column, "sum" | "min" | "max")


@dataclass(frozen=True)
class Intermediate:
    entity: tuple[str, ...]  # the columns naming the entity rows are kept per: (kind, id) or (id,)
    scopes: tuple[Scope, ...]
    totals: tuple[Totals, ...] = ()
    # A column whose values on the touched rows (before and after) are recorded in ops.run_changes, for
    # the steps that follow (customer_orders records the customer keys whose figures moved).
    records: str | None = None
    # Record every entity whose row changed, with its previous row (the identity map: later steps move
    # the orders, sales and tickets of identifiers that now resolve to another customer).
    records_entity_changes: bool = False
    additive: Additive | None = None


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # silver | identity | quality | intermediate | gold
    sql_file: str | None  # path relative to sql/; None for checks generated from the contract
    target: str | None = None  # table ref the step writes (for checks: the table inspected)
    source: str | None = None  # for silver steps: the source it cleans
    description: str = ""
    intermediate: Intermediate | None = None
    check: QualityCheck | None = None  # for quality steps: the check, with its thresholds

    @property
    def severity(self) -> str | None:
        """For quality steps: error (the check can block the run) or warn (it only records)."""
        return self.check.severity if self.check else None

    @property
    def path(self) -> Path | None:
        return SQL_DIR / self.sql_file if self.sql_file else None

    @property
    def touched_path(self) -> Path | None:
        """For the identity map and intermediates: the query naming the entities a run's changes touch."""
        if self.intermediate is None:
            return None
        return SQL_DIR / self.sql_file.replace(".sql", ".touched.sql")

    @property
    def procedure_name(self) -> str:
        return f"step_{self.kind}_{self.name}"

    @property
    def procedure_dataset(self) -> str:
        """Dataset holding the step's stored procedure: the layer it writes, ops for checks."""
        return "ops" if self.kind == "quality" else self.target.split(".")[0]

    @property
    def writes(self) -> tuple[str, ...]:
        """Every table the step writes."""
        if self.kind == "silver":
            counts = SOURCES_BY_NAME[self.source].identifier_counts
            return ((self.target,) + ((counts.table.ref,) if counts else ())
                    + ("ops.rejected_rows", "ops.processed_partitions", "ops.run_changes"))
        if self.kind == "identity":
            return (self.target, "ops.run_changes")
        if self.kind == "quality":
            return ("ops.data_quality_results",)
        if self.kind == "intermediate":
            extra: list[str] = []
            for totals in self.intermediate.totals:
                extra.append(totals.table)
                if totals.member_count:
                    extra.append(totals.member_count[2])
            return (self.target, *extra) + (("ops.run_changes",) if self.intermediate.records else ())
        return (self.target,)


_THRESHOLD = re.compile(r"(>=|<=|!=|=|>|<) ?([0-9]+)")


@dataclass(frozen=True)
class QualityCheck:
    """A data-quality check: a query returning the violating rows, and what their count means, dbt style.

    `error_if` and `warn_if` are conditions on the count of violating rows (`> 0`, `>= 100`, `!= 0`), or
    None for never. A check whose count meets `error_if` fails and blocks the run (the run rolls back);
    one that meets only `warn_if` is recorded as a warning; otherwise it passes.
    https://docs.getdbt.com/reference/resource-configs/severity
    """

    name: str
    target: str
    description: str
    sql_file: str | None = None  # None: generated from this contract by customer360.sqlgen
    error_if: str | None = "> 0"
    warn_if: str | None = None

    def __post_init__(self) -> None:
        for option in ("error_if", "warn_if"):
            condition = getattr(self, option)
            if condition is not None and not _THRESHOLD.fullmatch(condition):
                raise ValueError(f"check {self.name}: {option} {condition!r} is not a condition such as '> 0'")
        if self.error_if is None and self.warn_if is None:
            raise ValueError(f"check {self.name}: give error_if, warn_if or both")

    @property
    def severity(self) -> str:
        """error when the check can block the run, warn when it only records."""
        return "error" if self.error_if is not None else "warn"

    def condition_sql(self, option: str, count: str) -> str | None:
        """The threshold as a GoogleSQL condition on the column COUNT (`violating_rows > 0`)."""
        condition = getattr(self, option)
        if condition is None:
            return None
        operator, number = _THRESHOLD.fullmatch(condition).groups()
        return f"{count} {operator} {int(number)}"

    @property
    def thresholds(self) -> str:
        """The thresholds in words, as the docs and the dashboard show them: `error if > 0`, `warn if > 0`."""
        parts = [f"error if {self.error_if}" if self.error_if else None, f"warn if {self.warn_if}" if self.warn_if else None]
        return ", ".join(p for p in parts if p)


QUALITY_CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck("raw_header_matches_contract", "raw",
                 "No processed raw partition holds a row that looks like a header but is not the contract's "
                 "(a renamed, reordered or another source's header loaded by position)."),
    QualityCheck("silver_keys_unique_and_present", "silver",
                 "Every key the run wrote is present once in its silver table, with no NULL key column."),
    QualityCheck("silver_accepted_values", "silver",
                 "Enumerations of the rows the run wrote hold only their accepted values."),
    QualityCheck("conservation", "ops.processed_partitions",
                 "For every processed raw partition: raw rows = header rows + accepted + rejected rows, the "
                 "rejected rows are in ops.rejected_rows, and every accepted key is in silver."),
    QualityCheck("identity_resolves_to_identities", "silver.customer_identity",
                 "Every customer_key the run wrote in the identity map is a CRM customer or a loyalty-only member.",
                 "quality/identity_resolves_to_identities.sql"),
    QualityCheck("facts_reference_known_dimensions", "silver",
                 "Order and sale lines the run wrote name products and stores that exist (unknown ones are kept, "
                 "reported as Unknown).",
                 "quality/facts_reference_known_dimensions.sql", error_if=None, warn_if="> 0"),
    QualityCheck("deliveries_arrived", "ops.raw_partitions",
                 "Every source expected daily has a delivery for each of the last days up to the run's date.",
                 error_if=None, warn_if="> 0"),
)

# How many days back, up to the run's date, deliveries_arrived looks for missing daily deliveries.
FRESHNESS_WINDOW_DAYS = 7


def _intermediate(name: str, target: str, description: str, spec: Intermediate) -> Step:
    return Step(name, "intermediate", f"intermediate/{name}.sql", target, description=description, intermediate=spec)


_ONLINE_LINES = "silver.online_order_lines"
_STORE_LINES = "silver.store_sale_lines"
_TICKETS = "silver.support_tickets"

INTERMEDIATE_STEPS: tuple[Step, ...] = (
    _intermediate(
        "order_products", "silver.order_products",
        "Recompute the product, category and store groups of the orders the run touched and move "
        "order_group_totals by the difference.",
        Intermediate(
            entity=("order_kind", "order_id"),
            scopes=(Scope(_ONLINE_LINES, "order_id", "online"), Scope(_STORE_LINES, "transaction_id", "store")),
            totals=tuple(
                Totals("silver.order_group_totals", ("dimension", "dimension_id"), "order_count",
                       sums=(("units", "units"), ("revenue", "revenue")),
                       group_values=(f"'{dimension}'", column))
                for dimension, column in (("product", "product_id"), ("category", "category"), ("store", "store_id"))
            ),
        ),
    ),
    _intermediate(
        "activity_slots", "silver.activity_slots",
        "Recompute the channel slots of the orders, sales and tickets the run touched and move slot_totals.",
        Intermediate(
            entity=("activity_kind", "activity_id"),
            scopes=(Scope(_ONLINE_LINES, "order_id", "order"), Scope(_STORE_LINES, "transaction_id", "sale"),
                    Scope(_TICKETS, "ticket_id", "ticket")),
            totals=(Totals("silver.slot_totals", ("channel", "day_of_week_number", "hour_of_day"), "activity_count",
                           sums=(("revenue", "revenue"),),
                           member_count=("distinct_customers", "customer_key", "silver.slot_customers", "activities")),),
        ),
    ),
    _intermediate(
        "customer_orders", "silver.customer_orders",
        "Recompute what the orders the run touched bring each customer.",
        Intermediate(
            entity=("order_kind", "order_id"),
            scopes=(Scope(_ONLINE_LINES, "order_id", "online"), Scope(_STORE_LINES, "transaction_id", "store")),
            records="customer_key",
        ),
    ),
    _intermediate(
        "ticket_contributions", "silver.ticket_contributions",
        "Recompute the agent figures of the tickets the run touched and move agent_totals by the difference.",
        Intermediate(
            entity=("ticket_id",),
            scopes=(Scope(_TICKETS, "ticket_id"),),
            totals=(Totals("silver.agent_totals", ("agent_id",), "tickets_assigned",
                           sums=(("tickets_resolved", "resolved_tickets"), ("open_tickets", "open_tickets"),
                                 ("resolution_microseconds", "resolution_microseconds"),
                                 ("csat_sum", "csat_score"), ("csat_count", "csat_counted"))),),
        ),
    ),
    _intermediate(
        "customer_metrics", "silver.customer_metrics",
        "Add the new orders of customers that only gained orders to their figures; recompute the order and "
        "ticket figures of the other customers the run touched.",
        Intermediate(
            entity=("customer_key",),
            scopes=(Scope("silver.customer_orders", "customer_key"), Scope("silver.customer_identity", "customer_key")),
            additive=Additive(
                "silver.customer_orders",
                merges=(("online_order_count", "sum"), ("online_revenue", "sum"), ("store_transaction_count", "sum"),
                        ("store_revenue", "sum"), ("first_order_at", "min"), ("last_order_at", "max"),
                        ("last_order_line_at", "max"), ("last_sale_at", "max")),
            ),
        ),
    ),
)

PIPELINE: tuple[Step, ...] = (
    tuple(
        Step(s.silver.name, "silver", f"silver/{s.silver.name}.sql", s.silver.ref, s.name,
             description=f"Clean the pending {s.name} deliveries and re-decide the winner of every key they touch "
                         f"in {s.silver.ref}.")
        for s in SOURCES
    )
    + (
        Step("customer_identity", "identity", "silver/customer_identity.sql", CUSTOMER_IDENTITY.ref,
             description="Re-resolve the identifiers the run's changes affect to their customers.",
             intermediate=Intermediate(
                 entity=("source", "source_id"),
                 scopes=(Scope("silver.order_line_customer_ids", "customer_id", "online_orders"),
                         Scope("silver.sale_line_card_ids", "loyalty_card_id", "store_sales"),
                         Scope(_TICKETS, "ticket_id", "support_tickets")),
                 records_entity_changes=True,
             )),
    )
    + tuple(
        Step(c.name, "quality", c.sql_file, c.target, description=c.description, check=c)
        for c in QUALITY_CHECKS
    )
    + INTERMEDIATE_STEPS
    # GOLD_TABLES lists customer_segments before customer_360, which reads it.
    + tuple(
        Step(t.name, "gold", f"gold/{t.name}.sql", t.ref, description=f"Rebuild {t.ref} ({t.grain}) from the small intermediates.")
        for t in GOLD_TABLES
    )
)

STEPS_BY_NAME = {s.name: s for s in PIPELINE}


def additive_consumer(source_table: str) -> Step | None:
    """The intermediate step moved by what SOURCE_TABLE's step adds (Additive), if any."""
    found = [s for s in PIPELINE if s.intermediate and s.intermediate.additive
             and s.intermediate.additive.source == source_table]
    return found[0] if found else None


def _check_additive() -> None:
    for index, step in enumerate(PIPELINE):
        additive = step.intermediate.additive if step.intermediate else None
        if additive is None:
            continue
        sources = [s for s in PIPELINE[:index] if s.target == additive.source and s.intermediate]
        if len(step.intermediate.entity) != 1 or not sources or (sources[0].intermediate.records,) != step.intermediate.entity:
            raise ValueError(f"{step.name}: its additive source {additive.source} must be an earlier intermediate "
                             f"whose records column is {step.intermediate.entity}")
        columns = set(table(step.target).column_names)
        for column, merge in additive.merges:
            if column not in columns or merge not in ("sum", "min", "max"):
                raise ValueError(f"{step.name}: cannot merge {column!r} by {merge!r}")


@dataclass(frozen=True)
class SharedBookkeeping:
    """A bookkeeping table many steps write, each reader reading only the rows it depends on.

    A read of `table` by a step of a kind in `readers` is not a dependency on every step that writes
    it (customer360.lineage). The reader's SQL must compare `column` only with its own name (`filters_by`
    "own": a silver step's source, a check's name), with tables it reads directly ("tables read"), or
    with the sources of silver tables it reads directly ("sources read"); the lineage verifies that
    against the SQL.
    """

    table: str
    column: str
    readers: tuple[str, ...]
    filters_by: str  # own | tables read | sources read
    reason: str


LINEAGE_EXEMPTIONS: tuple[SharedBookkeeping, ...] = (
    SharedBookkeeping(
        "ops.processed_partitions", "source", ("silver",), "own",
        "Each silver step reads back only its own source's ledger rows (which other days may hold a withdrawn "
        "key's next version); the checks read every source's rows and so follow every silver step.",
    ),
    SharedBookkeeping(
        "ops.processed_partitions", "source", ("identity", "intermediate"), "sources read",
        "The identity map and the intermediates read the key ranges of the sources whose silver tables they "
        "read, to find the delivery days holding the entities they recompute; they follow those silver steps.",
    ),
    SharedBookkeeping(
        "ops.run_changes", "table_name", ("identity", "quality", "intermediate"), "tables read",
        "The run's change log: each step that writes a silver or intermediate table appends the keys it changed, "
        "tagged with the table. A reader reads the changes of tables it also reads directly, so its dependencies "
        "come from those reads.",
    ),
    SharedBookkeeping(
        "ops.data_quality_results", "check_name", ("quality",), "own",
        "Each check reads back only its own result rows, to assert them.",
    ),
)

# Query parameters every step may use, with their BigQuery types. A silver step's @delivery_dates are
# the pending delivery days of its source.
QUERY_PARAMETERS = {"run_date": "DATE", "run_id": "STRING", "pipeline_digest": "STRING"}


def held_days_parameter(source: Source) -> str:
    """The step variable naming the delivery days whose silver rows of `source` may hold a set of keys."""
    return f"{source.name}_days"


# Parameters of one step, set by the step itself before its statements run: a silver step's pending
# delivery days of its source, the other days that may hold a withdrawn key's next version, the other
# days whose silver rows may hold a key it delivers, the days of the silver rows it replaces and of
# those it writes; an intermediate's days of the silver rows of the entities it touched, per source.
# Silver rows of a delivery day D hold keys within D's key range in ops.processed_partitions, so these
# days are found from the ledger and the reads of a table partitioned by delivery day are pruned.
STEP_PARAMETERS = {
    name: "ARRAY<DATE>"
    for name in ("delivery_dates", "fallback_dates", "holder_dates", "replaced_dates", "written_dates",
                 *(held_days_parameter(s) for s in SOURCES))
}
# In a stored procedure each parameter is an argument named with this prefix: BigQuery resolves a
# column before a variable of the same name, so `run_id = run_id` would compare a column to itself.
PROCEDURE_ARGUMENT_PREFIX = "arg_"


def procedure_argument(parameter: str) -> str:
    return PROCEDURE_ARGUMENT_PREFIX + parameter


def source_for_silver(table_name: str) -> Source:
    for s in SOURCES:
        if s.silver.name == table_name:
            return s
    raise KeyError(table_name)


def table(ref: str) -> Table:
    try:
        return TABLES_BY_REF[ref]
    except KeyError:
        raise KeyError(f"no table {ref!r} in the contract") from None


@dataclass(frozen=True)
class EnumRule:
    """An enumeration: its accepted values, matched case-insensitively after trimming, stored as spelled here.

    `function` names the SQL function generated from the rule (silver.<function>(value)): the accepted
    value a raw value stands for, or NULL.
    """

    table: str
    column: str
    values: tuple[str, ...]
    function: str


ACCEPTED_VALUES: tuple[EnumRule, ...] = (
    EnumRule("silver.online_order_lines", "channel", ("web", "mobile_app"), "online_channel"),
    EnumRule("silver.online_order_lines", "order_status", ("completed", "cancelled", "returned"), "order_status"),
    EnumRule("silver.support_tickets", "channel", ("phone", "email", "chat"), "ticket_channel"),
    EnumRule("silver.support_tickets", "status", ("open", "pending", "resolved", "closed"), "ticket_status"),
    EnumRule("silver.loyalty_members", "tier", ("Bronze", "Silver", "Gold", "Platinum"), "loyalty_tier"),
)


def accepted_values(table_ref: str, column: str) -> tuple[str, ...]:
    for rule in ACCEPTED_VALUES:
        if (rule.table, rule.column) == (table_ref, column):
            return rule.values
    raise KeyError(f"no accepted values declared for {table_ref}.{column}")


LOYALTY_TIER_ORDER = ("Bronze", "Silver", "Gold", "Platinum")

# Read-only report queries over the warehouse (run summary, dashboard, ops views).
REPORTS = {
    "identity_match_rate": "reports/identity_match_rate.sql",
}


_check_additive()
