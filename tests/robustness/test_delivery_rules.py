"""What a delivery is, in both engines, and the one read of each file: the names the cloud transfer loads are the
names the local run loads, and the rows loaded are the rows of the file that was checked.

The cloud side is the reviewed transfer inventory (tests/infra/fixtures): its data_path_template ends in the
wildcard the transfer applies inside <source>/<day>/, where `*` matches any run of characters but `/`
(https://cloud.google.com/bigquery/docs/cloud-storage-transfer-overview#wildcard-support).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
from pathlib import Path

import pytest

from customer360 import contract, csvload, delivery, engine
from pipeline_harness import DAY1, DAY2, Pipeline, csv_bytes, customer, order_line, snapshot

INVENTORIES = sorted((Path(__file__).resolve().parents[1] / "infra" / "fixtures").glob("inventory_*.json"))

# Names an export tool, a person or an attacker may leave in a source folder.
NAMES = [
    "part-1.csv", "part-00000-3f2a.csv.gz", ".part-0.csv", "part[1].csv", "*.csv", "a?.csv", "[!a]*.csv",
    "x..csv", "csv.csv", ".csv", "x.csv.gz", "x.csv.bak", "x.csv.gz.bak", "x.csv.tmp", "x.csv~", "x.csvx",
    "x.csv.gz.gz", "X.CSV", "x.Csv", "x.csv.GZ", "x.CSV.gz", "x.gz", "x.tsv", "x.txt", "x.json", "x",
    "csv", "part 1.csv", "x.csv ", " x.csv", "_SUCCESS", ".DS_Store", "_success", "_SUCCESS.csv",
    "résumé.csv", "😀.csv",
]


def deployed_patterns() -> set[str]:
    """The wildcard part of every reviewed load transfer's data_path_template."""
    patterns = set()
    for inventory in INVENTORIES:
        for resource in json.loads(inventory.read_text(encoding="utf-8"))["resources"].values():
            template = resource.get("params.data_path_template")
            if template:
                patterns.add(template.rsplit("/", 1)[1])
    return patterns


def storage_wildcard_matches(pattern: str, name: str) -> bool:
    """Cloud Storage wildcard semantics, written out independently of contract.cloud_pattern_matches."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", "[^/]*"), name, re.DOTALL) is not None


def local_outcome(root: Path, name: str) -> tuple[str, str]:
    """(loaded | ignored | refused, message) when customers/NAME is all a delivery holds beside one good file."""
    folder = root / f"delivery-{len(list(root.iterdir()))}"
    (folder / "customers").mkdir(parents=True)
    (folder / "stores.csv").write_bytes(csv_bytes("stores", [{"store_id": "S1"}]))
    data = csv_bytes("customers", [customer("C1")])
    (folder / "customers" / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    try:
        found = delivery.discover(folder)
    except delivery.DeliveryError as error:
        return "refused", str(error)
    if any(f.path.name == name for f in found.files):
        return "loaded", ""
    if any(p.name == name for p in found.ignored):
        return "ignored", ""
    return "left out", ""


def test_the_transfer_pattern_is_the_contracts_and_the_wildcard_rule_is_cloud_storages():
    assert INVENTORIES, "no reviewed transfer inventories found"
    assert deployed_patterns() == {contract.CLOUD_FILE_PATTERN}, (
        f"the deployed transfers load {deployed_patterns()}, the contract says {contract.CLOUD_FILE_PATTERN!r}"
    )
    for name in NAMES:
        assert contract.cloud_pattern_matches(name) == storage_wildcard_matches(contract.CLOUD_FILE_PATTERN, name), (
            f"{name!r}: contract.cloud_pattern_matches disagrees with Cloud Storage's wildcard rule"
        )


@pytest.mark.parametrize("name", NAMES)
def test_a_name_loads_locally_exactly_when_it_is_data_and_the_cloud_would_load_it(tmp_path, name):
    outcome, message = local_outcome(tmp_path, name)
    cloud_loads = storage_wildcard_matches(contract.CLOUD_FILE_PATTERN, name)
    assert outcome != "left out", f"{name!r}: neither loaded, nor ignored, nor refused: left out without a word"
    if name in contract.DELIVERY_MARKERS:
        assert outcome == "ignored", f"{name!r} is a declared marker but was {outcome}: {message}"
    elif contract.is_data_file_name(name):
        assert cloud_loads, f"{name!r} is a data file the cloud transfer would skip"
        assert outcome == "loaded", f"{name!r} is a data file but was {outcome}: {message}"
    else:
        assert outcome == "refused", f"{name!r} is no data file but was {outcome}"
        assert "\n" not in message and name in message, f"{name!r}: the refusal does not name it in one line: {message!r}"
        if cloud_loads:
            assert "the cloud transfer would load this file" in message, f"{name!r}: {message}"


# ---------------------------------------------------------------------------
# One read: the bytes checked are the bytes loaded
# ---------------------------------------------------------------------------

ROWS = 6000


def orders_file(folder: Path, quantity: str = "2") -> Path:
    """A delivery whose online_orders.csv spans many read blocks of 64 KiB."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [order_line(f"O{i:05d}", quantity=quantity, unit_price="10.00", product_id=f"P{i % 7}",
                       order_status="completed") | {"discount_amount": "0.5"} for i in range(ROWS)]
    path = folder / "online_orders.csv"
    path.write_bytes(csv_bytes("online_orders", rows))
    assert path.stat().st_size > 4 * 64 * 1024
    return folder


@pytest.fixture
def slow_reader(monkeypatch):
    """Reads delivery files in 64 KiB blocks and calls `after_first_block(path)` between the first and second."""
    hooks: dict = {}
    original = csvload.DeliveryFileReader._raw_blocks

    def blocks(self):
        for number, block in enumerate(original(self)):
            yield block
            if number == 0 and "after_first_block" in hooks:
                hooks.pop("after_first_block")(self.path)

    monkeypatch.setattr(csvload, "BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(csvload.DeliveryFileReader, "_raw_blocks", blocks)
    return hooks


def test_a_file_written_to_while_it_is_loaded_fails_as_changed_while_being_read(tmp_path, slow_reader):
    pipeline = Pipeline(tmp_path)
    pipeline.run({"customers": [customer("C1")]}, DAY1)
    before = snapshot(pipeline.warehouse)
    folder = orders_file(tmp_path / "day2")

    def overwrite_in_place(path: Path) -> None:
        with path.open("r+b") as handle:  # same size, other bytes, further down the file
            handle.seek(path.stat().st_size - 200)
            handle.write(b"9")

    slow_reader["after_first_block"] = overwrite_in_place
    with pytest.raises(engine.InputError) as failure:
        engine.run_delivery(folder, DAY2, pipeline.warehouse)
    assert "online_orders.csv: changed while being read" in str(failure.value), failure.value
    assert "\n" not in str(failure.value)
    assert snapshot(pipeline.warehouse) == before, "the failed run changed the warehouse"


def test_a_file_replaced_while_it_is_loaded_loads_the_file_that_was_opened_and_is_loaded_again_next_time(
        tmp_path, slow_reader):
    pipeline = Pipeline(tmp_path)
    folder = orders_file(tmp_path / "day1")
    original = (folder / "online_orders.csv").read_bytes()
    # The replacement swaps quantity and unit_price in its header and rows: loaded by position, every
    # unit would be priced as its quantity.
    columns = list(contract.SOURCES_BY_NAME["online_orders"].column_names)
    swapped = columns.copy()
    swapped[6], swapped[7] = swapped[7], swapped[6]
    replacement = csv_bytes("online_orders", [order_line("R1", quantity="10.00", unit_price="2")], header=swapped)

    def rename_over(path: Path) -> None:
        staged = path.with_name("staged.tmp")
        staged.write_bytes(replacement)
        os.replace(staged, path)

    slow_reader["after_first_block"] = rename_over
    result = engine.run_delivery(folder, DAY1, pipeline.warehouse)
    assert result.raw_rows == {"online_orders": ROWS}
    loaded = pipeline.query("SELECT DISTINCT quantity, unit_price, discount_amount FROM raw.online_orders")
    assert loaded == [("2", "10.00", "0.5")], f"the rows loaded are not those of the file opened: {loaded}"
    assert pipeline.query("SELECT count(*) FROM raw.online_orders WHERE order_id = 'R1'") == [(0,)]
    assert (folder / "online_orders.csv").read_bytes() != original
    # The file now at the path is another delivery: the next run reads it (and refuses its header),
    # rather than taking it for the one already held.
    with pytest.raises(engine.InputError, match=r"online_orders.csv: header does not match .*columns out of order"):
        engine.run_delivery(folder, DAY1, pipeline.warehouse)


def test_a_file_replaced_by_a_fifo_after_the_folder_was_listed_fails_at_once(tmp_path, monkeypatch):
    folder = tmp_path / "day1"
    folder.mkdir()
    (folder / "products.csv").write_bytes(csv_bytes("products", [{"product_id": "P1"}]))
    listed = delivery.discover(folder)

    def discover_then_swap(path):
        (folder / "products.csv").unlink()
        os.mkfifo(folder / "products.csv")
        return listed

    monkeypatch.setattr(engine, "discover", discover_then_swap)

    def hung(signal_number, frame):
        raise AssertionError("opening the FIFO waited for a writer")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        with pytest.raises(engine.InputError, match=r"products.csv: not a regular file any more"):
            engine.run_delivery(folder, DAY1, tmp_path / "warehouse.duckdb")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not (tmp_path / "warehouse.duckdb").exists()
