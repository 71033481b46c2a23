"""The demo retailer's tables as a function of rows per day and days of history: row counts and bytes per value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from customer360 import contract

# BigQuery's size of one value of each type, https://cloud.google.com/bigquery/pricing#data_size_calculation
# (a NULL of any type is 0 bytes; STRING and BYTES are 2 bytes plus their UTF-8 / byte length).
FIXED_TYPE_BYTES = {
    "INT64": 8, "FLOAT64": 8, "NUMERIC": 16, "BIGNUMERIC": 32, "BOOL": 1, "DATE": 8, "DATETIME": 8,
    "TIME": 8, "TIMESTAMP": 8, "INTERVAL": 16, "GEOGRAPHY": 16,
}
STRING_OVERHEAD_BYTES = 2
# A computed STRING whose inputs say nothing of its length (a literal, a generated id): this many bytes.
DEFAULT_STRING_BYTES = 12

# The partition pseudo-column of an ingestion-time partitioned table is not stored data: reading or
# filtering it adds no bytes (https://cloud.google.com/bigquery/docs/querying-partitioned-tables).
PSEUDO_COLUMNS = frozenset({contract.RAW_PARTITION_COLUMN, "_PARTITIONTIME"})

# ---------------------------------------------------------------------------
# Measured once from generated warehouses (the demo retailer, generator scale 1, seed 42):
#   c360 generate --out D --days 5 --scale 1
#   c360 backfill --data D --from 2026-01-05 --to 2026-01-05 --warehouse W1
#   c360 backfill --data D --from 2026-01-05 --to 2026-01-09 --warehouse W5
#   python -m customer360.cost_model W1 W5 5     (prints the three figures below)
# MEASURED_ROWS: rows of each table after day 1 and after day 5 (ops.run_changes holds one run's
# changes and is emptied by the daily script; locally it is a temporary table, so it is modelled below).
# MEASURED_COLUMN_BYTES: the average BigQuery bytes of each column per row over W5 (NULL counted as 0).
# MEASURED_DAILY_RAW_ROWS: rows of one regular day's raw partition per source (days 2-5 averaged; day 1
# delivers whole dimension snapshots).
# ---------------------------------------------------------------------------

MEASURED_DAYS = 5
MEASURED_ROWS: dict[str, tuple[int, int]] = {'raw.customers': (2024, 2325),
 'raw.products': (204, 233),
 'raw.stores': (29, 34),
 'raw.online_orders': (2706, 14360),
 'raw.store_sales': (2488, 13336),
 'raw.loyalty_members': (1511, 1833),
 'raw.support_tickets': (363, 2175),
 'raw.support_agents': (44, 49),
 'silver.customers': (2000, 2080),
 'silver.products': (200, 204),
 'silver.stores': (25, 26),
 'silver.online_order_lines': (2656, 13902),
 'silver.store_sale_lines': (2453, 13143),
 'silver.loyalty_members': (1500, 1560),
 'silver.support_tickets': (351, 1691),
 'silver.support_agents': (40, 41),
 'silver.order_line_customer_ids': (701, 1253),
 'silver.sale_line_card_ids': (462, 1174),
 'silver.customer_identity': (5014, 7758),
 'silver.order_products': (4762, 24997),
 'silver.order_group_totals': (247, 308),
 'silver.activity_slots': (2894, 15170),
 'silver.slot_totals': (113, 563),
 'silver.slot_customers': (2205, 11327),
 'silver.customer_orders': (1943, 10128),
 'silver.ticket_contributions': (342, 1673),
 'silver.agent_totals': (41, 47),
 'silver.customer_metrics': (1114, 1901),
 'gold.average_order_value': (247, 308),
 'gold.customer_segments': (2297, 2397),
 'gold.channel_activity_trends': (113, 563),
 'gold.agent_performance_summary': (41, 47),
 'gold.customer_360': (2297, 2397),
 'ops.rejected_rows': (103, 451),
 'ops.pipeline_runs': (28, 140),
 'ops.data_quality_results': (14, 70),
 'ops.raw_partitions': (8, 40),
 'ops.processed_partitions': (8, 40),
 'ops.run_partitions': (8, 40),
 'ops.warehouse_info': (2, 2)}
MEASURED_COLUMN_BYTES: dict[str, dict[str, float]] = {'raw.customers': {'customer_id': 10.97,
                   'first_name': 7.55,
                   'last_name': 8.1,
                   'email': 26.82,
                   'phone': 15.15,
                   'birth_date': 11.11,
                   'city': 10.43,
                   'state': 3.99,
                   'country': 4.0,
                   'signup_date': 12.0,
                   'updated_at': 22.28},
 'raw.products': {'product_id': 8.94,
                  'product_name': 28.09,
                  'category': 11.53,
                  'brand': 10.75,
                  'unit_price': 7.18,
                  'updated_at': 22.57},
 'raw.stores': {'store_id': 7.56, 'store_name': 17.29, 'city': 9.65, 'state': 4.0, 'region': 9.5, 'opened_date': 12.0},
 'raw.online_orders': {'order_id': 19.98,
                       'line_number': 3.0,
                       'customer_id': 10.8,
                       'order_ts': 22.75,
                       'channel': 8.36,
                       'product_id': 9.0,
                       'quantity': 3.0,
                       'unit_price': 7.1,
                       'discount_amount': 2.31,
                       'order_status': 10.94},
 'raw.store_sales': {'transaction_id': 19.98,
                     'line_number': 3.0,
                     'store_id': 8.0,
                     'loyalty_card_id': 6.01,
                     'transaction_ts': 26.34,
                     'product_id': 9.0,
                     'quantity': 3.0,
                     'unit_price': 7.08,
                     'discount_amount': 2.24,
                     'payment_method': 7.56},
 'raw.loyalty_members': {'loyalty_card_id': 11.97,
                         'customer_id': 6.71,
                         'email': 27.46,
                         'phone': 13.7,
                         'first_name': 7.56,
                         'last_name': 8.12,
                         'tier': 7.82,
                         'points_balance': 5.56,
                         'enrolled_date': 12.0,
                         'updated_at': 22.16},
 'raw.support_tickets': {'ticket_id': 19.93,
                         'customer_id': 7.82,
                         'customer_email': 22.86,
                         'agent_id': 7.82,
                         'channel': 6.71,
                         'category': 10.59,
                         'created_at': 22.68,
                         'resolved_at': 15.08,
                         'status': 8.69,
                         'csat_score': 1.17},
 'raw.support_agents': {'agent_id': 7.78, 'agent_name': 14.29, 'team': 17.04, 'hire_date': 12.0},
 'silver.customers': {'customer_id': 11.0,
                      'first_name': 7.55,
                      'last_name': 8.12,
                      'email': 26.85,
                      'phone': 13.95,
                      'birth_date': 7.38,
                      'city': 10.43,
                      'state': 3.99,
                      'country': 4.0,
                      'signup_date': 7.98,
                      'updated_at': 7.98,
                      '_delivery_date': 8.0},
 'silver.products': {'product_id': 9.0,
                     'product_name': 28.16,
                     'category': 11.73,
                     'brand': 10.72,
                     'unit_price': 15.76,
                     'updated_at': 7.96,
                     '_delivery_date': 8.0},
 'silver.stores': {'store_id': 8.0,
                   'store_name': 17.31,
                   'city': 9.62,
                   'state': 4.0,
                   'region': 9.31,
                   'opened_date': 7.69,
                   '_delivery_date': 8.0},
 'silver.online_order_lines': {'order_id': 20.0,
                               'line_number': 8.0,
                               'customer_id': 10.8,
                               'order_ts': 8.0,
                               'channel': 8.35,
                               'product_id': 9.0,
                               'quantity': 8.0,
                               'unit_price': 16.0,
                               'discount_amount': 16.0,
                               'line_revenue': 16.0,
                               'order_status': 10.94,
                               '_delivery_date': 8.0},
 'silver.store_sale_lines': {'transaction_id': 20.0,
                             'line_number': 8.0,
                             'store_id': 8.0,
                             'loyalty_card_id': 6.0,
                             'transaction_ts': 8.0,
                             'product_id': 9.0,
                             'quantity': 8.0,
                             'unit_price': 16.0,
                             'discount_amount': 16.0,
                             'line_revenue': 16.0,
                             'payment_method': 7.55,
                             '_delivery_date': 8.0},
 'silver.loyalty_members': {'loyalty_card_id': 12.0,
                            'customer_id': 6.62,
                            'email': 27.48,
                            'phone': 12.7,
                            'first_name': 7.55,
                            'last_name': 8.13,
                            'tier': 7.77,
                            'points_balance': 7.96,
                            'enrolled_date': 7.99,
                            'updated_at': 7.98,
                            '_delivery_date': 8.0},
 'silver.support_tickets': {'ticket_id': 20.0,
                            'customer_id': 7.82,
                            'customer_email': 22.84,
                            'agent_id': 7.91,
                            'channel': 6.68,
                            'category': 10.63,
                            'created_at': 8.0,
                            'resolved_at': 6.69,
                            'status': 9.11,
                            'csat_score': 3.89,
                            '_delivery_date': 8.0},
 'silver.support_agents': {'agent_id': 8.0, 'agent_name': 14.29, 'team': 16.8, 'hire_date': 7.8, '_delivery_date': 8.0},
 'silver.order_line_customer_ids': {'customer_id': 11.0, 'row_count': 8.0},
 'silver.sale_line_card_ids': {'loyalty_card_id': 12.0, 'row_count': 8.0},
 'silver.customer_identity': {'source': 14.46,
                              'source_id': 13.31,
                              'customer_key': 10.89,
                              'match_rule': 12.96,
                              'is_primary_card': 0.2},
 'silver.order_products': {'order_kind': 7.48,
                           'order_id': 20.0,
                           'product_id': 9.0,
                           'category': 11.96,
                           'store_id': 8.0,
                           'units': 8.0,
                           'revenue': 16.0},
 'silver.order_group_totals': {'dimension': 8.73,
                               'dimension_id': 8.95,
                               'order_count': 8.0,
                               'units': 8.0,
                               'revenue': 16.0},
 'silver.activity_slots': {'activity_kind': 6.68,
                           'activity_id': 20.0,
                           'channel': 9.77,
                           'day_of_week_number': 8.0,
                           'hour_of_day': 8.0,
                           'customer_key': 8.56,
                           'revenue': 16.0},
 'silver.slot_totals': {'channel': 11.4,
                        'day_of_week_number': 8.0,
                        'hour_of_day': 8.0,
                        'activity_count': 8.0,
                        'revenue': 16.0,
                        'distinct_customers': 8.0},
 'silver.slot_customers': {'channel': 9.66,
                           'day_of_week_number': 8.0,
                           'hour_of_day': 8.0,
                           'customer_key': 11.18,
                           'activities': 8.0},
 'silver.customer_orders': {'order_kind': 7.68,
                            'order_id': 20.0,
                            'source': 14.35,
                            'source_id': 11.32,
                            'customer_key': 11.15,
                            'counted_lines': 8.0,
                            'counted_revenue': 16.0,
                            'first_counted_at': 7.31,
                            'last_counted_at': 7.31,
                            'last_line_at': 8.0},
 'silver.ticket_contributions': {'ticket_id': 20.0,
                                 'agent_id': 8.0,
                                 'resolved_tickets': 8.0,
                                 'open_tickets': 8.0,
                                 'resolution_microseconds': 6.76,
                                 'csat_score': 3.93,
                                 'csat_counted': 8.0},
 'silver.agent_totals': {'agent_id': 8.0,
                         'tickets_assigned': 8.0,
                         'tickets_resolved': 8.0,
                         'open_tickets': 8.0,
                         'resolution_microseconds': 8.0,
                         'csat_sum': 8.0,
                         'csat_count': 8.0},
 'silver.customer_metrics': {'customer_key': 11.39,
                             'online_order_count': 8.0,
                             'online_revenue': 16.0,
                             'store_transaction_count': 8.0,
                             'store_revenue': 16.0,
                             'first_order_at': 7.58,
                             'last_order_at': 7.58,
                             'last_order_line_at': 5.21,
                             'last_sale_at': 4.52,
                             'support_ticket_count': 8.0,
                             'open_ticket_count': 8.0,
                             'csat_sum': 2.29,
                             'csat_count': 8.0,
                             'last_ticket_at': 3.82},
 'gold.average_order_value': {'dimension': 8.73,
                              'dimension_id': 8.95,
                              'dimension_name': 22.49,
                              'order_count': 8.0,
                              'units': 8.0,
                              'revenue': 16.0,
                              'average_order_value': 16.0},
 'gold.customer_segments': {'customer_key': 11.4,
                            'lifetime_revenue': 16.0,
                            'order_count': 8.0,
                            'first_order_at': 6.01,
                            'last_order_at': 6.01,
                            'loyalty_tier': 4.64,
                            'is_high_value': 1.0,
                            'is_one_time_buyer': 1.0,
                            'is_loyalty_champion': 1.0,
                            'segment': 14.32},
 'gold.channel_activity_trends': {'channel': 11.4,
                                  'day_of_week': 9.22,
                                  'day_of_week_number': 8.0,
                                  'hour_of_day': 8.0,
                                  'activity_count': 8.0,
                                  'revenue': 16.0,
                                  'distinct_customers': 8.0,
                                  'activity_rank': 8.0,
                                  'is_peak': 1.0},
 'gold.agent_performance_summary': {'agent_id': 8.0,
                                    'agent_name': 13.62,
                                    'team': 14.66,
                                    'tickets_assigned': 8.0,
                                    'tickets_resolved': 8.0,
                                    'open_tickets': 8.0,
                                    'resolution_rate': 8.0,
                                    'avg_resolution_hours': 7.83,
                                    'avg_csat': 7.66},
 'gold.customer_360': {'customer_key': 11.4,
                       'crm_customer_id': 9.55,
                       'loyalty_card_id': 7.17,
                       'first_name': 7.54,
                       'last_name': 8.12,
                       'email': 27.19,
                       'phone': 13.67,
                       'city': 9.05,
                       'state': 3.47,
                       'signup_date': 7.98,
                       'loyalty_tier': 4.64,
                       'points_balance': 4.76,
                       'online_order_count': 8.0,
                       'online_revenue': 16.0,
                       'store_transaction_count': 8.0,
                       'store_revenue': 16.0,
                       'lifetime_revenue': 16.0,
                       'first_order_at': 6.01,
                       'last_order_at': 6.01,
                       'support_ticket_count': 8.0,
                       'open_ticket_count': 8.0,
                       'avg_csat': 1.82,
                       'last_interaction_at': 6.34,
                       'segment': 14.32},
 'ops.rejected_rows': {'source': 14.37,
                       'delivery_date': 8.0,
                       'reason': 16.87,
                       'record_key': 19.33,
                       'raw_values': 246.76,
                       'run_id': 23.0},
 'ops.pipeline_runs': {'run_id': 23.0,
                       'run_date': 8.0,
                       'step': 19.0,
                       'step_kind': 8.86,
                       'target_table': 20.0,
                       'started_at': 8.0,
                       'finished_at': 8.0,
                       'duration_seconds': 8.0,
                       'rows_in': 2.86,
                       'rows_out': 7.71,
                       'rows_rejected': 2.57,
                       'status': 11.0,
                       'message': 0.0,
                       'engine': 8.0,
                       'input_fingerprint': 18.0},
 'ops.data_quality_results': {'run_id': 23.0,
                              'run_date': 8.0,
                              'check_name': 23.29,
                              'target_table': 17.21,
                              'severity': 6.36,
                              'violating_rows': 8.0,
                              'status': 6.0,
                              'checked_at': 8.0,
                              'subject': 7.64,
                              'detail': 35.0},
 'ops.raw_partitions': {'source': 13.38,
                        'delivery_date': 8.0,
                        'row_count': 8.0,
                        'loaded_at': 8.0,
                        'fingerprint': 66.0,
                        'file_count': 8.0,
                        'files': 169.2},
 'ops.processed_partitions': {'source': 13.38,
                              'delivery_date': 8.0,
                              'loaded_at': 8.0,
                              'fingerprint': 66.0,
                              'scanned_rows': 8.0,
                              'header_rows': 8.0,
                              'header_like_rows': 8.0,
                              'accepted_rows': 8.0,
                              'rejected_rows': 8.0,
                              'accepted_keys_missing': 8.0,
                              'first_key_min': 13.5,
                              'first_key_max': 13.5,
                              'pipeline_digest': 18.0,
                              'run_id': 23.0,
                              'processed_at': 8.0},
 'ops.run_partitions': {'run_id': 23.0, 'run_date': 8.0, 'source': 13.38, 'delivery_date': 8.0, 'reason': 5.0},
 'ops.warehouse_info': {'name': 17.0, 'value': 10.5, 'updated_at': 8.0}}
MEASURED_DAILY_RAW_ROWS: dict[str, float] = {'raw.customers': 75.2,
 'raw.products': 7.2,
 'raw.stores': 1.2,
 'raw.online_orders': 2913.5,
 'raw.store_sales': 2712.0,
 'raw.loyalty_members': 80.5,
 'raw.support_tickets': 453.0,
 'raw.support_agents': 1.2}

# Tables whose rows do not follow the retailer's volume: one row per source (or step, check) per day.
LEDGER_TABLES = frozenset({
    "ops.raw_partitions", "ops.processed_partitions", "ops.run_partitions", "ops.pipeline_runs",
    "ops.data_quality_results", "ops.warehouse_info",
})

# Slots of silver.slot_totals: channel x day of week x hour of day, for the channels the demo uses.
SLOT_CHANNELS = ("web", "mobile_app", "store", "phone", "email", "chat")
SLOTS = len(SLOT_CHANNELS) * 7 * 24


def _measured_daily_growth(ref: str) -> float:
    first, last = MEASURED_ROWS[ref]
    return max(0.0, (last - first) / (MEASURED_DAYS - 1))


@dataclass(frozen=True)
class Retailer:
    """The demo retailer scaled to `rows_per_day` raw rows on a regular delivery day.

    Model: every table holds its measured day-1 rows plus its measured growth per day for each further
    day, both scaled by rows_per_day / the measured regular day (ledger tables do not scale), and capped
    where the table has a natural bound:
    - bounded by the dimensions: order_group_totals (products + stores + categories), agent_totals and
      agent_performance_summary (agents), customer_metrics (customer keys), average_order_value;
    - bounded by the slots: slot_totals and channel_activity_trends (channel x weekday x hour);
    - slot_customers: at most every customer key in every slot.
    Dimensions, the identity map and the gold customer tables keep growing with the new customers and
    members the generator adds each day (measured); fact lines, the intermediates per order, activity
    and ticket, ops.rejected_rows and the ledger grow with every day of history.
    A day's run processes one regular delivery: today's raw partition of each source holds its measured
    regular-day rows; ops.run_changes holds one change per silver row the day delivers, one per value
    on the day's lines in the identifier counts, plus what a day adds to the identity map and to
    customer_orders (the steps that record their changes too).
    """

    rows_per_day: float

    @property
    def scale(self) -> float:
        return self.rows_per_day / sum(MEASURED_DAILY_RAW_ROWS.values())

    def _linear(self, ref: str, day: int) -> float:
        first, _ = MEASURED_ROWS[ref]
        factor = 1.0 if ref in LEDGER_TABLES else self.scale
        return factor * (first + _measured_daily_growth(ref) * (day - 1))

    def rows(self, ref: str, day: int) -> float:
        """Rows of a contract table after `day` days of history."""
        caps: Mapping[str, Callable[[], float]] = {
            "silver.order_group_totals": lambda: (self.rows("silver.products", day) + self.rows("silver.stores", day)
                                                  + self._linear("silver.order_group_totals", 1)),
            "gold.average_order_value": lambda: self.rows("silver.order_group_totals", day),
            "silver.agent_totals": lambda: self.rows("silver.support_agents", day),
            "gold.agent_performance_summary": lambda: self.rows("silver.support_agents", day),
            "silver.customer_metrics": lambda: self.rows("gold.customer_360", day),
            "silver.slot_totals": lambda: SLOTS,
            "gold.channel_activity_trends": lambda: SLOTS,
            "silver.slot_customers": lambda: SLOTS * self.rows("gold.customer_360", day),
            # The customer_ids on order lines and the cards on sale lines: at most (about) every customer
            # and every card.
            "silver.order_line_customer_ids": lambda: self.rows("silver.customers", day),
            "silver.sale_line_card_ids": lambda: self.rows("silver.loyalty_members", day),
        }
        if ref == "ops.run_changes":
            return self.run_changes_rows()
        linear = self._linear(ref, day)
        cap = caps.get(ref)
        return min(linear, cap()) if cap is not None else linear

    def partition_rows(self, ref: str) -> float:
        """Rows of one day's partition of a partitioned contract table (what a day adds)."""
        if ref.startswith("raw."):
            return self.scale * MEASURED_DAILY_RAW_ROWS[ref]
        factor = 1.0 if ref in LEDGER_TABLES else self.scale
        return factor * _measured_daily_growth(ref)

    def changes_rows(self, ref: str) -> float:
        """Rows of ops.run_changes a day's run records for one table: a source's delivered rows, else what a day adds."""
        for source in contract.SOURCES:
            if source.silver.ref == ref:
                return self.partition_rows(source.raw.ref)
        if ref in {t.ref for t in contract.IDENTIFIER_COUNT_TABLES}:
            # Nearly every value on a day's lines moves: as many as day 1's lines hold.
            return self.scale * MEASURED_ROWS[ref][0]
        return self.scale * _measured_daily_growth(ref)

    def run_changes_rows(self) -> float:
        recorded = ([s.silver.ref for s in contract.SOURCES] + [t.ref for t in contract.IDENTIFIER_COUNT_TABLES]
                    + ["silver.customer_identity", "silver.customer_orders"])
        return sum(self.changes_rows(ref) for ref in recorded)

    def column_bytes(self, ref: str, column: str) -> float:
        """Average bytes of one value of a contract table's column."""
        if column in PSEUDO_COLUMNS:
            return 0.0
        measured = MEASURED_COLUMN_BYTES.get(ref, {})
        if column in measured:
            return measured[column]
        return type_bytes(contract.table(ref).column(column).type)


def type_bytes(type_name: str) -> float:
    """Bytes of one non-NULL value of a type, a STRING of unknown length taken as DEFAULT_STRING_BYTES."""
    if type_name in FIXED_TYPE_BYTES:
        return float(FIXED_TYPE_BYTES[type_name])
    return float(STRING_OVERHEAD_BYTES + DEFAULT_STRING_BYTES)


# ---------------------------------------------------------------------------
# Measuring a local warehouse
# ---------------------------------------------------------------------------


def _bytes_expression(column: contract.Column) -> str:
    name = f'"{column.name}"'
    if column.type in FIXED_TYPE_BYTES:
        return f"avg(case when {name} is null then 0 else {FIXED_TYPE_BYTES[column.type]} end)"
    return f"avg(case when {name} is null then 0 else {STRING_OVERHEAD_BYTES} + strlen(cast({name} as varchar)) end)"


def measure(first_day_warehouse: str, last_day_warehouse: str, days: int) -> dict:
    """MEASURED_ROWS, MEASURED_COLUMN_BYTES and MEASURED_DAILY_RAW_ROWS from two local warehouses."""
    import duckdb

    rows: dict[str, tuple[int, int]] = {}
    column_bytes: dict[str, dict[str, float]] = {}
    daily_raw: dict[str, float] = {}
    first = duckdb.connect(first_day_warehouse, read_only=True)
    last = duckdb.connect(last_day_warehouse, read_only=True)
    try:
        for table in contract.ALL_TABLES:
            if table.ref == "ops.run_changes":
                continue
            rows[table.ref] = (first.execute(f"select count(*) from {table.ref}").fetchone()[0],
                               last.execute(f"select count(*) from {table.ref}").fetchone()[0])
            expressions = ", ".join(_bytes_expression(c) for c in table.columns)
            values = last.execute(f"select {expressions} from {table.ref}").fetchone()
            column_bytes[table.ref] = {c.name: round(float(v or 0.0), 2) for c, v in zip(table.columns, values)}
        for source in contract.SOURCES:
            (later,) = last.execute(
                f"select count(*) from {source.raw.ref} "
                f"where {contract.RAW_PARTITION_COLUMN} > (select min({contract.RAW_PARTITION_COLUMN}) from {source.raw.ref})"
            ).fetchone()
            daily_raw[source.raw.ref] = round(later / (days - 1), 1)
    finally:
        first.close()
        last.close()
    return {"MEASURED_ROWS": rows, "MEASURED_COLUMN_BYTES": column_bytes, "MEASURED_DAILY_RAW_ROWS": daily_raw}


if __name__ == "__main__":
    import pprint
    import sys

    figures = measure(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    for name, value in figures.items():
        print(f"{name} = ", end="")
        pprint.pprint(value, width=120, sort_dicts=False)
