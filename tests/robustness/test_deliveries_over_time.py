"""Deliveries over time: whatever the order, lateness, re-deliveries and missing sources, silver and gold equal the current deliveries.

For random sequences of deliveries of a few days (re-delivered with rows added, dropped or changed,
late, loaded by `c360 load` and processed by a later run, or missing a source) the warehouse must end as
if only the latest delivery of every day had ever arrived:
- silver equals the de-duplication of the current delivery of every day still held in raw, by the rules
  of the product (latest updated_at, then latest delivery day, then the cleaned values), computed here
  independently of the engine's incremental steps;
- gold equals the gold definitions (tests/oracle/gold, run on that silver);
- every raw row of every held day is kept in silver or rejected;
- the order of arrival never matters, and a full refresh gives byte-identical silver and gold.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from customer360 import contract, dialect, engine
from customer360.sqlgen import silver as silver_sql
from pipeline_harness import account, customer, duckdb_sql, member, order_line, sale_line, ticket, write_delivery

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=n) for n in range(3)]
ORACLE = Path(__file__).resolve().parents[1] / "oracle" / "gold"


# ---------------------------------------------------------------------------
# The reference: silver and gold computed from raw without the incremental machinery
# ---------------------------------------------------------------------------


def _reference_silver(connection: duckdb.DuckDBPyConnection, source: contract.Source) -> list[tuple]:
    """The de-duplication of every held day's accepted rows, written out here from the product rules."""
    days = [d for (d,) in connection.execute(
        f'SELECT DISTINCT "{contract.RAW_PARTITION_COLUMN}" FROM raw.{source.name}').fetchall()]
    if not days:
        return []
    step = contract.STEPS_BY_NAME[source.silver.name]
    cleaned = duckdb_sql(silver_sql.cleaning_query(step, "delivery_dates"), {"delivery_dates": days})
    columns = list(source.silver.column_names)
    key = source.primary_key
    others = [c for c in columns if c not in key and c != source.version_column and c != "_delivery_date"]
    order = ([f"{source.version_column} DESC NULLS LAST"] if source.version_column else []) + [
        "_delivery_date DESC"] + [f"{c} ASC NULLS LAST" for c in others]
    sql = (
        f"SELECT {', '.join(columns)} FROM (SELECT *, row_number() OVER (PARTITION BY {', '.join(key)} "
        f"ORDER BY {', '.join(order)}) AS n FROM ({cleaned}) WHERE rejection_reason IS NULL AND _row_kind != 'header') "
        f"WHERE n = 1"
    )
    return sorted(connection.execute(sql).fetchall(), key=repr)


def _rows(connection, sql: str) -> list[tuple]:
    return sorted(connection.execute(sql).fetchall(), key=repr)


def _comparable(table: contract.Table) -> str:
    return ", ".join(f"round({c.name}, 9)" if c.type == "FLOAT64" else c.name for c in table.columns)


def assert_matches_the_current_deliveries(warehouse: Path, label: str) -> None:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for source in contract.SOURCES:
            held = _rows(connection, f"SELECT {', '.join(source.silver.column_names)} FROM {source.silver.ref}")
            assert held == _reference_silver(connection, source), (
                f"{label}: {source.silver.ref} is not the de-duplication of the current deliveries"
            )
        # The identity map and gold, by their definitions over that silver.
        identity = duckdb_sql((contract.SQL_DIR / "silver" / "customer_identity.sql").read_text())
        assert _rows(connection, f"SELECT * FROM silver.customer_identity") == _rows(connection, identity), (
            f"{label}: silver.customer_identity differs from its definition over silver"
        )
        for table in contract.GOLD_TABLES:
            oracle = duckdb_sql((ORACLE / f"{table.name}.sql").read_text(encoding="utf-8"))
            expected = _rows(connection, f"SELECT {_comparable(table)} FROM ({oracle})")
            found = _rows(connection, f"SELECT {_comparable(table)} FROM {table.ref}")
            assert found == expected, f"{label}: {table.ref} differs from its definition over silver"
    finally:
        connection.close()
    for day in DAYS:
        for source, accounting in account(warehouse, day).items():
            assert accounting.unaccounted == 0, f"{label}: {accounting.unaccounted} {source} rows of {day} lost"


def tables(warehouse: Path) -> dict[str, list[tuple]]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t.ref: _rows(connection, f"SELECT * FROM {t.ref}") for t in contract.SILVER_TABLES + contract.GOLD_TABLES}
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# Random deliveries over a few keys, so that days share keys and re-deliveries withdraw them
# ---------------------------------------------------------------------------

_stamp = st.sampled_from(["2026-01-01 00:00:00", "2026-01-02 00:00:00", ""])
_price = st.sampled_from(["10.00", "3.50", "abc"])
_status = st.sampled_from(["completed", "returned", "cancelled"])

_customers = st.lists(
    st.builds(lambda k, email, stamp: customer(k, email=email, updated_at=stamp),
              st.sampled_from(["C1", "C2"]), st.sampled_from(["a@x.com", "b@x.com", ""]), _stamp),
    max_size=3,
)
_members = st.lists(
    st.builds(lambda k, cid, email, tier: member(k, customer_id=cid, email=email, tier=tier),
              st.sampled_from(["L1", "L2"]), st.sampled_from(["C1", "C9", ""]), st.sampled_from(["a@x.com", ""]),
              st.sampled_from(["gold", "bronze"])),
    max_size=2,
)
_orders = st.lists(
    st.builds(lambda k, line, cid, price, status: order_line(k, line, customer_id=cid, unit_price=price, order_status=status),
              st.sampled_from(["O1", "O2", "O3"]), st.sampled_from(["1", "2"]), st.sampled_from(["C1", "C2", "C7"]),
              _price, _status),
    max_size=4,
)
_sales = st.lists(
    st.builds(lambda k, card, price: sale_line(k, loyalty_card_id=card, unit_price=price),
              st.sampled_from(["T1", "T2"]), st.sampled_from(["L1", "L2", ""]), _price),
    max_size=2,
)
_tickets = st.lists(
    st.builds(lambda k, email, status: ticket(k, customer_email=email, status=status),
              st.sampled_from(["K1", "K2"]), st.sampled_from(["a@x.com", "b@x.com", ""]),
              st.sampled_from(["open", "closed"])),
    max_size=2,
)
# A delivery holds any subset of the sources: a source left out is missing that day.
_delivery = st.fixed_dictionaries({}, optional={
    "customers": _customers, "loyalty_members": _members, "online_orders": _orders,
    "store_sales": _sales, "support_tickets": _tickets,
}).filter(bool)
# (day, delivery, how it arrives): run at once, or only loaded and processed by a later run. Most events
# fall on the first two days, so that days share keys and re-deliveries withdraw what the other day holds.
_event = st.tuples(st.sampled_from([0, 0, 1, 1, 2]), _delivery, st.sampled_from(["run", "run", "load"]))


def _replay(root: Path, warehouse: Path, events, *, final_run: bool = True) -> dict[tuple[int, str], list]:
    """Runs the events; returns the current delivery of every (day, source)."""
    current: dict[tuple[int, str], list] = {}
    for number, (day, delivery, mode) in enumerate(events):
        folder = write_delivery(root / f"{warehouse.stem}-{number}", delivery)
        if mode == "load":
            engine.load_only(folder, DAYS[day], warehouse)
        else:
            engine.run_delivery(folder, DAYS[day], warehouse)
        for source, rows in delivery.items():
            current[(day, source)] = rows
    if final_run and warehouse.exists():
        engine.run(warehouse, DAYS[-1])  # processes whatever was only loaded
    return current


@pytest.mark.long
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(events=st.lists(_event, min_size=2, max_size=5))
# A day that held a key's winner is delivered again without it while another day still holds the key.
@example(events=[(0, {"customers": [customer("C1", first_name="A", updated_at="2026-01-02 00:00:00")],
                      "online_orders": [order_line("O1", customer_id="C1")]}, "run"),
                 (1, {"customers": [customer("C1", first_name="B", updated_at="2026-01-01 00:00:00")],
                      "online_orders": [order_line("O1", customer_id="C1", order_status="returned")]}, "run"),
                 (0, {"customers": [], "online_orders": []}, "run")])
def test_silver_and_gold_equal_the_current_deliveries_whatever_the_arrival(tmp_path_factory, events):
    root = tmp_path_factory.mktemp("sequence")
    warehouse = root / "sequence.duckdb"
    current = _replay(root, warehouse, events)
    assert_matches_the_current_deliveries(warehouse, f"after {len(events)} deliveries")
    final = tables(warehouse)

    # The same current deliveries, each arriving once, latest day first: the same warehouse.
    in_other_order = root / "other_order.duckdb"
    arrivals = sorted(current.items(), key=lambda item: (-item[0][0], item[0][1]))
    by_day: dict[int, dict] = {}
    for (day, source), rows in arrivals:
        by_day.setdefault(day, {})[source] = rows
    _replay(root, in_other_order, [(day, delivery, "run") for day, delivery in by_day.items()], final_run=False)
    assert tables(in_other_order) == final, "the order of arrival changed silver or gold"

    # A full refresh from raw gives byte-identical silver and gold.
    refreshed = root / "refreshed.duckdb"
    shutil.copy(warehouse, refreshed)
    engine.run(refreshed, DAYS[-1], full_refresh=True)
    assert tables(refreshed) == final, "a full refresh differs from the incremental runs"


# ---------------------------------------------------------------------------
# The scenarios of the issue, one by one
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from customer360.generate import generate

    root = tmp_path_factory.mktemp("generated")
    report = generate(root / "data", days=4, scale=0.3, seed=11)
    return report.day_dirs


def test_late_loads_processed_by_a_later_run_equal_running_every_day_in_order(generated, tmp_path):
    in_order = tmp_path / "in_order.duckdb"
    for day_dir in generated:
        engine.run_delivery(day_dir, dt.date.fromisoformat(day_dir.name), in_order)
    late = tmp_path / "late.duckdb"
    first, second, third, fourth = generated
    engine.run_delivery(first, dt.date.fromisoformat(first.name), late)
    engine.load_only(second, dt.date.fromisoformat(second.name), late)
    engine.load_only(third, dt.date.fromisoformat(third.name), late)
    result = engine.run_delivery(fourth, dt.date.fromisoformat(fourth.name), late)
    assert {d for _, d, _ in result.partitions} == {dt.date.fromisoformat(p.name) for p in (second, third, fourth)}, (
        "the run must process the days loaded before it and its own"
    )
    assert tables(late) == tables(in_order)


def _store_revenue(warehouse: Path) -> object:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        return connection.execute(
            "SELECT sum(revenue) FROM gold.average_order_value WHERE dimension = 'store'").fetchone()[0]
    finally:
        connection.close()


def test_a_redelivery_without_a_line_and_a_customer_removes_both_and_its_revenue(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    day1 = {
        "customers": [customer("C1"), customer("C2")],
        "online_orders": [order_line("O1", customer_id="C1", unit_price="10"),
                          order_line("O2", customer_id="C2", unit_price="999000")],
    }
    withdrawn = {"customers": [customer("C1")], "online_orders": [order_line("O1", customer_id="C1", unit_price="10")]}
    engine.run_delivery(write_delivery(tmp_path / "a", day1), DAYS[0], warehouse)
    before = _store_revenue(warehouse)
    engine.run_delivery(write_delivery(tmp_path / "b", withdrawn), DAYS[0], warehouse)
    after = tables(warehouse)
    assert [r[0] for r in after["silver.customers"]] == ["C1"], "the withdrawn customer stayed in silver"
    assert [r[0] for r in after["silver.online_order_lines"]] == ["O1"], "the withdrawn line stayed in silver"
    assert [r[0] for r in after["gold.customer_360"]] == ["C1"], "the withdrawn customer stayed in gold"
    assert before - _store_revenue(warehouse) == 999000, "gold revenue must drop by exactly the withdrawn line's"
    engine.run_delivery(write_delivery(tmp_path / "c", day1), DAYS[0], warehouse)
    assert _store_revenue(warehouse) == before, "re-delivering the original must restore it"
    assert_matches_the_current_deliveries(warehouse, "after the original came back")


def _days_holding(warehouse: Path, source: contract.Source, keys: list[str]) -> list[dt.date]:
    """The delivery days the silver steps read for KEYS: the ledger days whose key ranges span them."""
    values = " union all ".join(f"select '{k}' as k" for k in keys)
    sql, names = dialect.transpile_for_binding(silver_sql.overlapping_days(source, values, "k"))
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        return connection.execute(sql, {n: None for n in names}).fetchone()[0] or []
    finally:
        connection.close()


def test_a_redelivered_old_key_is_read_from_the_one_day_whose_range_holds_it(tmp_path):
    """Silver fact tables are read only on the days whose ledger key ranges span the run's keys: a key of
    day 1 re-delivered on day 3 is found on day 1 (and replaced, not doubled) without reading day 2."""
    warehouse = tmp_path / "w.duckdb"
    orders = contract.SOURCES_BY_NAME["online_orders"]
    assert orders.silver.partition_by == contract.DELIVERY_DATE_COLUMN
    engine.run_delivery(write_delivery(tmp_path / "a", {"online_orders": [order_line("O-1-1"), order_line("O-1-2")]}),
                        DAYS[0], warehouse)
    engine.run_delivery(write_delivery(tmp_path / "b", {"online_orders": [order_line("O-2-1")]}), DAYS[1], warehouse)
    assert _days_holding(warehouse, orders, ["O-1-2"]) == [DAYS[0]], "day 2's range does not span O-1-2"
    engine.run_delivery(write_delivery(tmp_path / "c", {"online_orders": [order_line("O-1-2", quantity="7")]}),
                        DAYS[2], warehouse)
    rows = tables(warehouse)["silver.online_order_lines"]
    keys = sorted(r[0] for r in rows)
    assert keys == ["O-1-1", "O-1-2", "O-2-1"], f"silver.online_order_lines keys (one row each): {keys}"
    lines = {r[0]: r for r in rows}
    quantity = orders.silver.column_names.index("quantity")
    assert lines["O-1-2"][quantity] == 7, f"O-1-2 kept {lines['O-1-2']}: day 3's version must replace day 1's"
    assert_matches_the_current_deliveries(warehouse, "after day 3 re-delivered a day-1 key")


def test_a_key_withdrawn_from_one_day_falls_back_to_the_version_another_day_holds(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    newer = {"customers": [customer("C1", first_name="Newer", updated_at="2026-01-03 00:00:00")]}
    older = {"customers": [customer("C1", first_name="Older", updated_at="2026-01-01 00:00:00")]}
    engine.run_delivery(write_delivery(tmp_path / "a", newer), DAYS[0], warehouse)
    engine.run_delivery(write_delivery(tmp_path / "b", older), DAYS[1], warehouse)
    assert tables(warehouse)["silver.customers"][0][1] == "Newer", "the later updated_at must win"
    engine.run_delivery(write_delivery(tmp_path / "c", {"customers": []}), DAYS[0], warehouse)
    assert tables(warehouse)["silver.customers"][0][1] == "Older", "the day still holding C1 must take over"


def test_a_missing_source_warns_without_blocking_and_freshness_shows_it(generated, tmp_path):
    from typer.testing import CliRunner

    from customer360.cli import app

    warehouse = tmp_path / "w.duckdb"
    first, second = generated[0], generated[1]
    engine.run_delivery(first, dt.date.fromisoformat(first.name), warehouse)
    without_orders = tmp_path / second.name
    shutil.copytree(second, without_orders)
    (without_orders / "online_orders.csv").unlink()
    result = CliRunner().invoke(app, ["run", "--data", str(without_orders), "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = connection.execute(
            "SELECT subject, status, violating_rows, detail FROM ops.data_quality_results "
            "WHERE check_name = 'deliveries_arrived' AND run_date = ? ORDER BY subject",
            [dt.date.fromisoformat(second.name)],
        ).fetchall()
    finally:
        connection.close()
    by_source = {subject: (status, missing, detail) for subject, status, missing, detail in rows}
    assert by_source["online_orders"][:2] == ("warn", 1), by_source["online_orders"]
    assert second.name in by_source["online_orders"][2], by_source["online_orders"]
    assert all(status == "pass" for source, (status, _, _) in by_source.items() if source != "online_orders"), by_source
    shown = CliRunner().invoke(app, ["freshness", "--warehouse", str(warehouse)])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if line.startswith("online_orders"))
    assert "WARN" in line and second.name in line, line
