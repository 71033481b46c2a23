"""The cloud pipeline's guarantees, checked offline: the daily script's transaction, the blocking checks it
runs, the reviewed load transfers, and the header-row design run end to end on DuckDB with the same SQL.

README.md, "Guarantees: nothing lost, nothing half-written", explains each one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from customer360 import bigquery_script, contract, engine, sqlgen
from pipeline_harness import DAY1, DAY2, account, csv_bytes, customer, order_line, sale_line, snapshot, ticket, write_delivery

SCRIPT_LINES = [line.strip() for line in bigquery_script.daily_script().splitlines()]
INVENTORIES = sorted((Path(__file__).resolve().parents[1] / "infra" / "fixtures").glob("inventory_*.json"))
BLOCKING = [check for check in contract.QUALITY_CHECKS if check.severity == "error"]


def line_of(text: str) -> int:
    assert text in SCRIPT_LINES, f"the daily script has no line {text!r}"
    return SCRIPT_LINES.index(text)


def call_line(step: contract.Step) -> int:
    found = [i for i, line in enumerate(SCRIPT_LINES) if re.match(rf"call \S*\b{step.procedure_name}\(", line)]
    assert len(found) == 1, f"the daily script calls {step.procedure_name} {len(found)} times"
    return found[0]


def test_the_daily_script_runs_every_step_in_one_transaction_and_rolls_back_on_any_error():
    begin, commit = line_of("begin transaction;"), line_of("commit transaction;")
    handler = line_of("exception when error then")
    calls = [call_line(step) for step in contract.PIPELINE]
    assert calls == sorted(calls), "steps are called out of contract order"
    assert begin < calls[0] and calls[-1] < commit < handler, "a step runs outside the transaction"
    declarations = " ".join(SCRIPT_LINES[:begin])
    assert "insert " not in declarations and "update " not in declarations and "delete " not in declarations, (
        "the script writes before the transaction starts"
    )
    # Nothing pending: the transaction is rolled back and the script ends, having written nothing.
    nothing = next(i for i, line in enumerate(SCRIPT_LINES) if line.startswith("if pending_partition_count = 0"))
    assert SCRIPT_LINES[nothing + 1:nothing + 4] == ["-- Nothing new or changed: nothing is written.",
                                                     "rollback transaction;", "return;"], SCRIPT_LINES[nothing:nothing + 4]
    assert begin < nothing < calls[0], "the nothing-to-do exit is not inside the transaction before the steps"
    after_handler = [line for line in SCRIPT_LINES[handler + 1:] if line and not line.startswith("--")]
    # The handler keeps the error first (an error of the ROLLBACK below would replace @@error), then rolls
    # back in a block of its own: a transaction already ended still gets its failure recorded.
    assert after_handler[:5] == ["set failure_message = @@error.message;", "begin", "rollback transaction;",
                                 "exception when error then", "select 'the transaction had already ended' as note;"], (
        after_handler[:5]
    )
    failure_record = next(i for i, line in enumerate(after_handler) if line.startswith("insert into ops.pipeline_runs"))
    reraise = next(i for i, line in enumerate(after_handler) if line.startswith("raise using message"))
    assert 4 < failure_record < reraise, "the failure is recorded after the rollback (so it is kept), then re-raised"
    assert "'failed'" in " ".join(after_handler[failure_record:reraise]), "the recorded run row is not marked failed"


@pytest.mark.parametrize("check", BLOCKING, ids=[c.name for c in BLOCKING])
def test_every_blocking_check_asserts_inside_the_transaction_before_gold_is_committed(check):
    step = contract.STEPS_BY_NAME[check.name]
    body = sqlgen.procedure_body(step).lower()
    assert re.search(rf"assert \(.*\) as 'data-quality check {check.name} failed", body, re.DOTALL), (
        f"{step.procedure_name} records {check.name} but does not ASSERT it"
    )
    assert body.index("insert into ops.data_quality_results") < body.index("assert ("), (
        f"{step.procedure_name} asserts before recording its result"
    )
    position = call_line(step)
    assert line_of("begin transaction;") < position < line_of("commit transaction;"), (
        f"{check.name} runs outside the transaction: its failure would not undo the run"
    )


def test_the_conservation_check_covers_every_source_and_blocks_the_run():
    """Conservation compares what raw holds with what each silver step recorded; every silver step records it."""
    (check,) = [c for c in contract.QUALITY_CHECKS if c.name == "conservation"]
    assert check.severity == "error", "conservation must block the run"
    query = " ".join(sqlgen.step_query(contract.STEPS_BY_NAME["conservation"]).split())
    for needed in ("raw_partitions.row_count != ledger.scanned_rows",
                   "ledger.scanned_rows != ledger.header_rows + ledger.accepted_rows + ledger.rejected_rows",
                   "ledger.rejected_rows != coalesce(rejected.rows_written, 0)",
                   "ledger.accepted_keys_missing != 0"):
        assert needed in query, f"the conservation check no longer tests {needed!r}"
    for source in contract.SOURCES:
        statements = [s.sql for s in sqlgen.step_statements(contract.STEPS_BY_NAME[source.silver.name])]
        ledger = [sql for sql in statements if sql.startswith("insert into ops.processed_partitions")]
        assert len(ledger) == 1 and f"'{source.name}'" in ledger[0], (
            f"the {source.name} step does not record its counts in the ledger the conservation check reads"
        )


def test_silver_drops_exactly_the_header_rows_the_conservation_check_ignores():
    """The header row the cloud load keeps is the one row that is neither kept nor rejected; silver and the
    conservation check must agree on which row that is, or a data row could vanish unnoticed. One
    classification, made once while staging, decides both."""
    for source in contract.SOURCES:
        statements = [s.sql for s in sqlgen.step_statements(contract.STEPS_BY_NAME[source.silver.name])]
        staged = " ".join(statements[0].split()).lower()
        exact = " and ".join(f"coalesce({c}, '') = '{c}'" for c in source.column_names)
        assert exact in staged, f"the {source.name} step does not classify exactly the contract header as the header"
        kept = [sql for sql in statements if "rejection_reason is null and _row_kind != 'header'" in sql]
        assert kept, f"the {source.name} step keeps rows without excluding the header row"
        (ledger,) = [sql for sql in statements if sql.startswith("insert into ops.processed_partitions")]
        assert "countif(_row_kind = 'header') as header_rows" in ledger, (
            f"the {source.name} ledger counts header rows otherwise than silver drops them")
        text = (contract.SQL_DIR / f"silver/{source.silver.name}.sql").read_text(encoding="utf-8")
        assert "'header'" not in text and source.column_names[0] + "'" not in text.replace(" ", ""), (
            f"sql/silver/{source.silver.name}.sql filters header rows itself; the generated staging does it once"
        )
    (check,) = [c for c in contract.QUALITY_CHECKS if c.name == "raw_header_matches_contract"]
    assert check.severity == "error", "any other header-like row must fail the run"


@pytest.mark.parametrize("inventory", INVENTORIES, ids=[p.stem for p in INVENTORIES])
def test_every_reviewed_load_transfer_replaces_its_day_keeps_the_header_and_refuses_bad_rows(inventory):
    resources = json.loads(inventory.read_text(encoding="utf-8"))["resources"]
    transfers = {key: r for key, r in resources.items() if r.get("dataSourceId") == "google_cloud_storage"}
    # The day's own transfer per source; the late-delivery ones (infra/load.py) re-load older days.
    targets = sorted(r["params.destination_table_name_template"] for r in transfers.values())
    todays = [target for target in targets if target.endswith("${run_date}")]
    assert todays == sorted(f"{s.raw.name}${{run_date}}" for s in contract.SOURCES), f"{inventory.name}: {targets}"
    expected = {
        "params.write_disposition": "MIRROR",  # a re-delivered day replaces that day's partition only
        "params.skip_leading_rows": "0",  # the header row reaches SQL, where it is checked
        "params.max_bad_records": "0",  # one unparsable row fails the whole load
        "params.allow_jagged_rows": "false",  # a short row is a bad row, not NULL-padded
        "params.ignore_unknown_values": "false",  # an extra value is a bad row, not dropped
        "params.encoding": "UTF8",
    }
    for key, transfer in transfers.items():
        wrong = {k: transfer.get(k) for k, v in expected.items() if transfer.get(k) != v}
        assert not wrong, f"{inventory.name}: {key} has {wrong}"
    # The daily pipeline and the missing-deliveries check (infra/transform.py).
    scheduled = [r for r in resources.values() if r.get("dataSourceId") == "scheduled_query"]
    assert len(scheduled) == 2, f"{inventory.name}: {len(scheduled)} scheduled queries"
    alerts = [key for key in resources if key.startswith("gcp:monitoring/alertPolicy:AlertPolicy ")]
    assert len(alerts) == 1, f"{inventory.name}: the failed-run alert is missing"


# ---------------------------------------------------------------------------
# The header design, end to end on DuckDB: a file loaded the way the transfer loads it
# (skip_leading_rows = 0) has its header row as the first data row.
# ---------------------------------------------------------------------------

DELIVERY = {
    "customers": [customer("C1"), customer("C2")],
    "online_orders": [order_line("O1", customer_id="C1"), order_line("O2", quantity="0")],
    "store_sales": [sale_line("T1")],
    "support_tickets": [ticket("K1"), ticket("K2", status="lost")],
}


def loaded_like_the_transfer(folder: Path, header_row: dict[str, list[str]] | None = None) -> Path:
    """Each file's header twice: the engine skips the first, so the second reaches raw as the transfer's would."""
    folder.mkdir(parents=True)
    for name, rows in DELIVERY.items():
        kept_header = (header_row or {}).get(name, list(contract.SOURCES_BY_NAME[name].column_names))
        (folder / f"{name}.csv").write_bytes(csv_bytes(name, [kept_header, *rows]))
    return folder


def test_a_delivery_with_its_header_row_kept_loads_every_row_and_only_the_header_is_dropped(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    engine.run_delivery(loaded_like_the_transfer(tmp_path / "delivery"), DAY1, warehouse)
    for name, accounted in account(warehouse, DAY1).items():
        assert accounted.header_lines == 1, f"{name}: the kept header row is not in raw"
        assert accounted.raw == len(DELIVERY[name]) and accounted.unaccounted == 0, f"{name}: {accounted}"


@pytest.mark.parametrize(
    "case",
    ["reordered", "renamed", "byte-order-mark", "another source of the same width"],
)
def test_a_wrong_header_row_kept_in_raw_fails_the_run_and_writes_nothing(tmp_path, case):
    """What the transfer would load from a file whose header is wrong: the blocking check stops the run.
    A byte-order mark kept in the first header value is treated the same way: loudly, never as data."""
    warehouse = tmp_path / "w.duckdb"
    engine.run_delivery(write_delivery(tmp_path / "earlier", {"customers": [customer("C0")]}), DAY1, warehouse)
    before = snapshot(warehouse)
    columns = list(contract.SOURCES_BY_NAME["customers"].column_names)
    wrong = {
        "reordered": [columns[1], columns[0], *columns[2:]],
        "renamed": ["id", *columns[1:]],
        "byte-order-mark": ["\ufeff" + columns[0], *columns[1:]],
        # A loyalty export dropped into the tickets folder: both have ten columns.
        "another source of the same width": list(contract.SOURCES_BY_NAME["loyalty_members"].column_names),
    }[case]
    source = "support_tickets" if case == "another source of the same width" else "customers"
    with pytest.raises(engine.PipelineError, match="raw_header_matches_contract failed"):
        engine.run_delivery(loaded_like_the_transfer(tmp_path / "delivery", {source: wrong}), DAY2, warehouse)
    assert snapshot(warehouse) == before, f"{case}: the failed run changed the warehouse"
    shutil.rmtree(tmp_path / "delivery")
