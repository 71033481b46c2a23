"""The sample-data generator: layout, headers, RFC 4180, determinism, clean and dirty content, identity cases."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customer360.cli import app
from customer360.contract import ACCEPTED_VALUES, SOURCES, SOURCES_BY_NAME
from customer360.generate import DIRTY_KINDS, generate

START = date(2026, 1, 5)
DAYS = 3
DIRTY_SCALE = 0.75

# ---------------------------------------------------------------------------
# A small, independent reading of the silver cleaning rules, used to judge the generated values.
# ---------------------------------------------------------------------------

TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:([ T])(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?)?$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MONEY = re.compile(r"^\$?\d+(\.\d+)?$")
# Accepted enumeration values, as the contract declares them, per (source file, column); case-insensitive.
ENUMS = {
    (next(s.name for s in SOURCES if s.silver.ref == rule.table), rule.column): {v.lower() for v in rule.values}
    for rule in ACCEPTED_VALUES
}
DATE_COLUMNS = {
    "customers": ("birth_date", "signup_date"),
    "stores": ("opened_date",),
    "loyalty_members": ("enrolled_date",),
    "support_agents": ("hire_date",),
}


def clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_timestamp(value: str | None) -> datetime | None:
    value = clean(value)
    if value is None or not (m := TIMESTAMP.match(value)):
        return None
    year, month, day, _, hour, minute, second, fraction, offset = m.groups()
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((fraction or ".0")[1:].ljust(6, "0")), tzinfo=UTC)
    except ValueError:
        return None
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        parsed -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return parsed


def parse_date(value: str | None) -> date | None:
    value = clean(value)
    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
        if re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
            return date(int(value[6:]), int(value[:2]), int(value[3:5]))
    except ValueError:
        return None
    return None


def parse_money(value: str | None) -> Decimal | None:
    value = clean(value)
    if value is None or not MONEY.match(value):
        return None
    try:
        return Decimal(value.lstrip("$"))
    except InvalidOperation:
        return None


def parse_quantity(value: str | None) -> int | None:
    value = clean(value)
    if value is None or not re.fullmatch(r"\d+", value) or int(value) <= 0:
        return None
    return int(value)


def normal_email(value: str | None) -> str | None:
    value = clean(value)
    return value.lower() if value and EMAIL.match(value.lower()) else None


def normal_phone(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def hard_failures(source: str, row: dict[str, str]) -> list[str]:
    """Every hard rule of section 3 the row breaks (the pipeline reports the first)."""
    failures = []
    if any(clean(row[k]) is None for k in SOURCES_BY_NAME[source].primary_key):
        failures.append("missing_key")
    if source in ("online_orders", "store_sales"):
        ts_column = "order_ts" if source == "online_orders" else "transaction_ts"
        if parse_timestamp(row[ts_column]) is None:
            failures.append("invalid_timestamp")
        quantity, price = parse_quantity(row["quantity"]), parse_money(row["unit_price"])
        if quantity is None:
            failures.append("invalid_quantity")
        if price is None:
            failures.append("invalid_price")
        discount = Decimal(0) if clean(row["discount_amount"]) is None else parse_money(row["discount_amount"])
        if discount is None or (quantity is not None and price is not None and discount > quantity * price):
            failures.append("invalid_discount")
        if source == "online_orders":
            if (clean(row["channel"]) or "").lower() not in ENUMS[(source, "channel")]:
                failures.append("invalid_channel")
            if (clean(row["order_status"]) or "").lower() not in ENUMS[(source, "order_status")]:
                failures.append("invalid_status")
    if source == "support_tickets":
        created = parse_timestamp(row["created_at"])
        if created is None:
            failures.append("invalid_timestamp")
        if (clean(row["channel"]) or "").lower() not in ENUMS[(source, "channel")]:
            failures.append("invalid_channel")
        if (clean(row["status"]) or "").lower() not in ENUMS[(source, "status")]:
            failures.append("invalid_status")
        resolved = parse_timestamp(row["resolved_at"])
        if created and resolved and resolved < created:
            failures.append("invalid_resolution_time")
    return failures


def soft_failures(source: str, row: dict[str, str]) -> list[str]:
    """Every non-empty value a soft rule of section 3 turns into NULL (or Uncategorized)."""
    failures = []
    for column in ("email", "customer_email"):
        if column in row and clean(row[column]) is not None and normal_email(row[column]) is None:
            failures.append("bad_email")
    if "phone" in row and clean(row["phone"]) is not None and normal_phone(row["phone"]) is None:
        failures.append("bad_phone")
    for column in DATE_COLUMNS.get(source, ()):
        if clean(row[column]) is not None and parse_date(row[column]) is None:
            failures.append(f"bad_{column}")
    if source == "products":
        if parse_money(row["unit_price"]) is None:
            failures.append("bad_price")
        if clean(row["category"]) is None:
            failures.append("empty_category")
    if source == "loyalty_members":
        if clean(row["tier"]) is not None and clean(row["tier"]).lower() not in ENUMS[(source, "tier")]:
            failures.append("bad_tier")
        if not re.fullmatch(r"\d+", clean(row["points_balance"]) or ""):
            failures.append("bad_points")
    if source == "support_tickets":
        if clean(row["csat_score"]) is not None and clean(row["csat_score"]) not in {"1", "2", "3", "4", "5"}:
            failures.append("bad_csat")
        if clean(row["resolved_at"]) is not None and parse_timestamp(row["resolved_at"]) is None:
            failures.append("bad_resolved_at")
    if "updated_at" in row and clean(row["updated_at"]) is not None and parse_timestamp(row["updated_at"]) is None:
        failures.append("bad_updated_at")
    return failures


# ---------------------------------------------------------------------------
# Reading a generated run
# ---------------------------------------------------------------------------


class Delivery:
    """Every row of a generated run, read with Python's csv module."""

    def __init__(self, root: Path, days: int = DAYS) -> None:
        self.root = root
        self.days = [START + timedelta(days=k) for k in range(days)]
        # rows[source] = [(day, line_number, row dict, raw line text)]
        self.rows: dict[str, list[tuple[date, int, dict[str, str]]]] = defaultdict(list)
        self.text: dict[tuple[date, str], str] = {}
        for day in self.days:
            for source in SOURCES:
                path = self.path(day, source.name)
                self.text[(day, source.name)] = path.read_text(encoding="utf-8")
                with path.open(newline="", encoding="utf-8") as handle:
                    reader = csv.reader(handle, strict=True)
                    header = next(reader)
                    for record in reader:
                        self.rows[source.name].append((day, reader.line_num, dict(zip(header, record))))

    def path(self, day: date, source: str) -> Path:
        return self.root / day.isoformat() / f"{source}.csv"

    def where(self, day: date, source: str, line: int) -> str:
        return f"{self.path(day, source).relative_to(self.root)} line {line}"

    def values(self, source: str, column: str) -> list[str]:
        return [row[column] for _, _, row in self.rows[source]]

    def known(self, source: str, column: str) -> set[str]:
        return {clean(row[column]) for _, _, row in self.rows[source] if clean(row[column])}


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Delivery:
    root = tmp_path_factory.mktemp("dirty")
    # The smallest scale whose first-day store and agent files are big enough to carry every dirty kind.
    generate(root, days=DAYS, scale=DIRTY_SCALE, seed=7)
    return Delivery(root)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Delivery:
    root = tmp_path_factory.mktemp("clean")
    generate(root, days=DAYS, scale=0.2, seed=7, dirty_rate=0.0)
    return Delivery(root)


def read_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


# ---------------------------------------------------------------------------
# Layout, headers, CSV dialect, report
# ---------------------------------------------------------------------------


def test_layout_is_one_folder_per_day_with_every_source(tmp_path: Path) -> None:
    report = generate(tmp_path, days=2, scale=0.05, start=date(2026, 3, 1))
    expected = {f"2026-03-0{d}/{s.name}.csv" for d in (1, 2) for s in SOURCES}
    found = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert found == expected, f"unexpected files: {sorted(found ^ expected)}"
    assert [d.name for d in report.day_dirs] == ["2026-03-01", "2026-03-02"]


def test_report_counts_match_the_files(tmp_path: Path) -> None:
    report = generate(tmp_path, days=2, scale=0.05)
    assert len(report.files) == 2 * len(SOURCES)
    for f in report.files:
        with f.path.open(newline="", encoding="utf-8") as handle:
            data_rows = sum(1 for _ in csv.reader(handle)) - 1
        assert data_rows == f.rows, f"{f.path}: report says {f.rows} rows, file has {data_rows}"
        assert report.row_counts[f.delivery_date][f.source] == f.rows
    assert report.total_rows == sum(f.rows for f in report.files) > 0
    assert report.elapsed_seconds > 0 and report.rows_per_second > 0


def test_every_file_has_the_contract_header(dirty: Delivery) -> None:
    for day in dirty.days:
        for source in SOURCES:
            first_line = dirty.text[(day, source.name)].split("\n", 1)[0]
            assert first_line == ",".join(source.column_names), (
                f"{dirty.where(day, source.name, 1)}: header {first_line!r} is not the contract's"
            )


def test_every_row_is_rfc4180_with_the_contract_column_count(dirty: Delivery) -> None:
    for day in dirty.days:
        for source in SOURCES:
            path = dirty.path(day, source.name)
            raw = path.read_bytes()
            raw.decode("utf-8")  # UTF-8 throughout
            assert b"\r" not in raw, f"{path}: stray carriage return"
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle, strict=True)
                for record in reader:
                    assert len(record) == len(source.column_names), (
                        f"{dirty.where(day, source.name, reader.line_num)}: {len(record)} fields, "
                        f"expected {len(source.column_names)}: {record}"
                    )


def test_values_needing_quotes_are_quoted_and_read_back(dirty: Delivery) -> None:
    names = dirty.values("products", "product_name")
    assert any("," in n for n in names), "no product name with a comma: RFC 4180 quoting is not exercised"
    assert any('"' in n for n in names), "no product name with a double quote: quote escaping is not exercised"
    text = dirty.text[(START, "products")]
    assert '""Pro"" Edition' in text, "double quotes inside a field must be doubled"


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def test_same_seed_and_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", days=2, scale=0.1, seed=11)
    generate(tmp_path / "b", days=2, scale=0.1, seed=11)
    a, b = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "b")
    assert a.keys() == b.keys()
    different = [name for name in a if a[name] != b[name]]
    assert not different, f"same seed, different bytes in: {different}"


def test_a_different_seed_gives_different_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", days=1, scale=0.1, seed=11)
    generate(tmp_path / "b", days=1, scale=0.1, seed=12)
    a, b = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "b")
    same = [name for name in a if a[name] == b[name]]
    assert not same, f"seeds 11 and 12 produced identical files: {same}"


def test_a_longer_run_starts_with_the_same_days(tmp_path: Path) -> None:
    generate(tmp_path / "short", days=1, scale=0.1, seed=3)
    generate(tmp_path / "long", days=3, scale=0.1, seed=3)
    short, long = read_bytes(tmp_path / "short"), read_bytes(tmp_path / "long")
    changed = [name for name in short if short[name] != long[name]]
    assert not changed, f"day 1 differs between a 1-day and a 3-day run: {changed}"


# ---------------------------------------------------------------------------
# dirty_rate=0: every value satisfies every rule
# ---------------------------------------------------------------------------


def test_clean_run_breaks_no_hard_or_soft_rule(clean_run: Delivery) -> None:
    problems = []
    for source in SOURCES:
        for day, line, row in clean_run.rows[source.name]:
            for failure in hard_failures(source.name, row) + soft_failures(source.name, row):
                problems.append(f"{clean_run.where(day, source.name, line)}: {failure}: {row}")
    assert not problems, f"{len(problems)} rule violations at dirty_rate=0, first: {problems[:5]}"


def test_clean_run_has_whole_positive_quantities_and_valid_enumerations(clean_run: Delivery) -> None:
    for source in ("online_orders", "store_sales"):
        for day, line, row in clean_run.rows[source]:
            assert re.fullmatch(r"[1-9]\d*", row["quantity"]), (
                f"{clean_run.where(day, source, line)}: quantity {row['quantity']!r}"
            )
    for (source, column), accepted in ENUMS.items():
        for day, line, row in clean_run.rows[source]:
            assert row[column].strip().lower() in accepted, (
                f"{clean_run.where(day, source, line)}: {column} {row[column]!r}"
            )
            assert row[column] == row[column].strip(), f"{clean_run.where(day, source, line)}: padded {column}"


def test_clean_run_has_no_padding_no_duplicate_keys_and_no_unknown_references(clean_run: Delivery) -> None:
    for source in SOURCES:
        for day in clean_run.days:
            keys = Counter()
            for d, line, row in clean_run.rows[source.name]:
                if d != day:
                    continue
                for column, value in row.items():
                    assert value == value.strip(), f"{clean_run.where(d, source.name, line)}: padded {column} {value!r}"
                keys[tuple(row[k] for k in source.primary_key)] += 1
            repeated = [k for k, n in keys.items() if n > 1]
            assert not repeated, f"{clean_run.path(day, source.name)}: keys delivered twice: {repeated[:5]}"
    references = [
        ("online_orders", "product_id", "products", "product_id"),
        ("online_orders", "customer_id", "customers", "customer_id"),
        ("store_sales", "product_id", "products", "product_id"),
        ("store_sales", "store_id", "stores", "store_id"),
        ("store_sales", "loyalty_card_id", "loyalty_members", "loyalty_card_id"),
        ("support_tickets", "customer_id", "customers", "customer_id"),
        ("support_tickets", "agent_id", "support_agents", "agent_id"),
        ("loyalty_members", "customer_id", "customers", "customer_id"),
    ]
    for fact, column, dimension, key in references:
        known = clean_run.known(dimension, key)
        for day, line, row in clean_run.rows[fact]:
            value = clean(row[column])
            assert value is None or value in known, (
                f"{clean_run.where(day, fact, line)}: {column} {value} is not in {dimension}"
            )


# ---------------------------------------------------------------------------
# Default dirty rate: every rule of sections 3 and 4 is exercised
# ---------------------------------------------------------------------------


def test_every_hard_rule_is_broken_somewhere_in_each_source(dirty: Delivery) -> None:
    for source in SOURCES:
        seen = Counter(f for _, _, row in dirty.rows[source.name] for f in hard_failures(source.name, row))
        missing = [reason for reason in source.rejection_reasons if not seen[reason]]
        assert not missing, f"{source.name}: no row breaks {missing} (seen: {dict(seen)})"


def test_every_soft_rule_is_exercised(dirty: Delivery) -> None:
    expected = {
        "customers": {"bad_email", "bad_phone", "bad_birth_date", "bad_signup_date", "bad_updated_at"},
        "products": {"bad_price", "empty_category", "bad_updated_at"},
        "stores": {"bad_opened_date"},
        "loyalty_members": {"bad_email", "bad_phone", "bad_tier", "bad_points", "bad_enrolled_date", "bad_updated_at"},
        "support_agents": {"bad_hire_date"},
        "support_tickets": {"bad_email", "bad_csat", "bad_resolved_at"},
    }
    for source, wanted in expected.items():
        seen = {f for _, _, row in dirty.rows[source] for f in soft_failures(source, row)}
        assert wanted <= seen, f"{source}: soft rules never exercised: {sorted(wanted - seen)}"


def test_bad_csat_values_cover_out_of_range_fraction_and_text(dirty: Delivery) -> None:
    values = {clean(v) for v in dirty.values("support_tickets", "csat_score")}
    for bad in ("0", "6", "4.5", "x"):
        assert bad in values, f"support_tickets: no csat_score {bad!r}"


def test_every_accepted_timestamp_form_appears(dirty: Delivery) -> None:
    forms = Counter()
    for source, column in (("online_orders", "order_ts"), ("store_sales", "transaction_ts"),
                           ("support_tickets", "created_at")):
        for value in dirty.values(source, column):
            m = TIMESTAMP.match(value.strip())
            if not m or parse_timestamp(value) is None:
                continue
            sep, fraction, offset = m.group(4), m.group(8), m.group(9)
            forms["bare date" if sep is None else f"separator {sep!r}"] += 1
            forms["fractional seconds"] += bool(fraction)
            forms["Z"] += offset == "Z"
            forms["+HH:MM"] += bool(offset and offset.startswith("+"))
            forms["-HH:MM"] += bool(offset and offset.startswith("-"))
            forms["no offset"] += sep is not None and offset is None
    for form in ("bare date", "separator ' '", "separator 'T'", "fractional seconds", "Z", "+HH:MM", "-HH:MM", "no offset"):
        assert forms[form], f"no fact timestamp in the form {form}: {dict(forms)}"


def test_invalid_timestamps_include_the_usual_mistakes(dirty: Delivery) -> None:
    values = dirty.values("online_orders", "order_ts") + dirty.values("store_sales", "transaction_ts")
    assert any(re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", v) for v in values), "no 2026/01/05 10:00 style value"
    assert "not a date" in values, "no free-text timestamp"
    assert any(re.match(r"\d{4}-02-30 ", v) for v in values), "no impossible calendar day"


def test_dates_come_in_both_accepted_forms(dirty: Delivery) -> None:
    for source, columns in DATE_COLUMNS.items():
        values = [v for c in columns for v in dirty.values(source, c)]
        assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values), f"{source}: no YYYY-MM-DD date"
        assert any(re.fullmatch(r"\d{2}/\d{2}/\d{4}", v) and parse_date(v) for v in values), (
            f"{source}: no valid MM/DD/YYYY date"
        )


def test_amounts_cover_dollar_signs_empty_discounts_and_bad_values(dirty: Delivery) -> None:
    for source in ("online_orders", "store_sales"):
        rows = [(d, line, r) for d, line, r in dirty.rows[source]]
        prices = [r["unit_price"] for _, _, r in rows]
        discounts = [r["discount_amount"] for _, _, r in rows]
        quantities = {clean(r["quantity"]) for _, _, r in rows}
        assert any(p.startswith("$") and parse_money(p) is not None for p in prices), f"{source}: no $ price"
        assert "" in discounts, f"{source}: no empty discount"
        assert any(p.strip().startswith("-") for p in prices), f"{source}: no negative price"
        assert any(clean(p) and parse_money(p) is None and not p.strip().startswith("-") for p in prices), (
            f"{source}: no garbage price"
        )
        assert any(d.strip().startswith("-") for d in discounts), f"{source}: no negative discount"
        for bad in ("0", "1.5"):
            assert bad in quantities, f"{source}: no quantity {bad!r}"
        assert any(q and q.startswith("-") for q in quantities), f"{source}: no negative quantity"
        assert any(q and not re.fullmatch(r"-?[\d.]+", q) for q in quantities), f"{source}: no non-numeric quantity"
        over = [
            (d, line) for d, line, r in rows
            if parse_quantity(r["quantity"]) and parse_money(r["unit_price"]) is not None
            and parse_money(r["discount_amount"]) is not None
            and parse_money(r["discount_amount"]) > parse_quantity(r["quantity"]) * parse_money(r["unit_price"])
        ]
        assert over, f"{source}: no discount greater than quantity x unit_price"


def test_enumerations_include_odd_case_and_padded_valid_values(dirty: Delivery) -> None:
    for (source, column), accepted in ENUMS.items():
        values = dirty.values(source, column)
        odd_case = [v for v in values if v.strip().lower() in accepted and v != v.lower()]
        assert odd_case, f"{source}.{column}: no valid value in upper or mixed case"
    channels = dirty.values("online_orders", "channel") + dirty.values("support_tickets", "channel")
    assert any(v != v.strip() for v in channels), "no whitespace-padded channel"
    statuses = dirty.values("online_orders", "order_status")
    assert any(v.strip().isupper() and v.strip().lower() in ENUMS[("online_orders", "order_status")] for v in statuses), (
        "no upper-case order status such as COMPLETED"
    )


def test_phones_come_in_ten_eleven_and_other_lengths(dirty: Delivery) -> None:
    phones = dirty.values("customers", "phone") + dirty.values("loyalty_members", "phone")
    lengths = Counter(len(re.sub(r"\D", "", p)) for p in phones if p.strip())
    assert lengths[10], "no 10-digit phone"
    assert any(len(re.sub(r"\D", "", p)) == 11 and re.sub(r"\D", "", p).startswith("1") for p in phones), (
        "no 11-digit phone starting with 1"
    )
    assert set(lengths) - {10, 11}, f"no phone of another length: {dict(lengths)}"


def test_padded_and_empty_string_values_are_present(dirty: Delivery) -> None:
    for source in SOURCES:
        padded = [row for _, _, row in dirty.rows[source.name] if any(v and v != v.strip() for v in row.values())]
        assert padded, f"{source.name}: no whitespace-padded value"
    quoted_empty = [s for (day, s), text in dirty.text.items() if ',"",' in text or ',""\n' in text]
    assert quoted_empty, "no explicitly quoted empty string in any file"


def test_empty_category_and_missing_keys_in_dimensions(dirty: Delivery) -> None:
    assert any(clean(v) is None for v in dirty.values("products", "category")), "no empty product category"
    for source in ("customers", "products", "stores", "loyalty_members", "support_agents"):
        key = SOURCES_BY_NAME[source].primary_key[0]
        assert any(clean(v) is None for v in dirty.values(source, key)), f"{source}: no row without its key"


def test_resolved_before_created_exists(dirty: Delivery) -> None:
    rows = [
        (d, line) for d, line, r in dirty.rows["support_tickets"]
        if parse_timestamp(r["created_at"]) and parse_timestamp(r["resolved_at"])
        and parse_timestamp(r["resolved_at"]) < parse_timestamp(r["created_at"])
    ]
    assert rows, "no ticket resolved before it was created"


def test_exact_duplicate_rows_within_a_file(dirty: Delivery) -> None:
    for source in SOURCES:
        if source.name in ("stores", "support_agents"):
            continue  # small files: duplicates are forced there only on the first day
        per_file = Counter((d, tuple(r.values())) for d, _, r in dirty.rows[source.name])
        assert any(n > 1 for n in per_file.values()), f"{source.name}: no exact duplicate row within a file"


def test_keys_are_redelivered_later_with_newer_and_with_stale_updated_at(dirty: Delivery) -> None:
    for source in ("customers", "products", "loyalty_members"):
        key = SOURCES_BY_NAME[source].primary_key[0]
        first: dict[str, datetime] = {}
        newer = stale = 0
        for day, _, row in dirty.rows[source]:
            k, ts = clean(row[key]), parse_timestamp(row["updated_at"])
            if k is None or ts is None:
                continue
            if day == START:
                first[k] = max(ts, first.get(k, ts))
            elif k in first:
                newer += ts > first[k]
                stale += ts < first[k]
        assert newer, f"{source}: no key re-delivered on a later day with a newer updated_at"
        assert stale, f"{source}: no key re-delivered on a later day with an older (stale) updated_at"


def test_facts_are_redelivered_on_later_days(dirty: Delivery) -> None:
    for source in ("online_orders", "support_tickets"):
        spec = SOURCES_BY_NAME[source]
        days_of_key = defaultdict(set)
        for day, _, row in dirty.rows[source]:
            days_of_key[tuple(clean(row[k]) for k in spec.primary_key)].add(day)
        assert any(len(d) > 1 for d in days_of_key.values()), f"{source}: no key delivered on two days"


def test_facts_reference_unknown_products_stores_customers_cards_and_agents(dirty: Delivery) -> None:
    cases = [
        ("online_orders", "product_id", "products", "product_id"),
        ("online_orders", "customer_id", "customers", "customer_id"),
        ("store_sales", "product_id", "products", "product_id"),
        ("store_sales", "store_id", "stores", "store_id"),
        ("store_sales", "loyalty_card_id", "loyalty_members", "loyalty_card_id"),
        ("support_tickets", "agent_id", "support_agents", "agent_id"),
    ]
    for fact, column, dimension, key in cases:
        known = dirty.known(dimension, key)
        unknown = {clean(v) for v in dirty.values(fact, column)} - known - {None}
        assert unknown, f"{fact}.{column}: every value is a known {dimension}.{key}"


def test_dirty_rows_are_about_the_dirty_rate(tmp_path: Path) -> None:
    generate(tmp_path, days=2, scale=0.5, seed=5, dirty_rate=0.03)
    run = Delivery(tmp_path, days=2)
    for source in ("online_orders", "store_sales", "support_tickets"):
        rows = run.rows[source]
        rejected = sum(bool(hard_failures(source, r)) for _, _, r in rows)
        share = rejected / len(rows)
        # About half the dirty kinds of a fact file are hard rejections.
        assert 0.003 < share < 0.03, f"{source}: {share:.2%} of {len(rows)} rows break a hard rule"


# ---------------------------------------------------------------------------
# Section 4: identity cases
# ---------------------------------------------------------------------------


def latest(run: Delivery, source: str) -> dict[str, dict[str, str]]:
    """One row per key: latest updated_at, then latest delivery day (a simplified silver)."""
    key = SOURCES_BY_NAME[source].primary_key[0]
    best: dict[str, tuple] = {}
    for day, line, row in run.rows[source]:
        k = clean(row[key])
        if k is None:
            continue
        version = (parse_timestamp(row.get("updated_at")) or datetime.min.replace(tzinfo=UTC), day, line)
        if k not in best or version > best[k][0]:
            best[k] = (version, row)
    return {k: v[1] for k, v in best.items()}


def test_loyalty_members_exercise_every_identity_rule(dirty: Delivery) -> None:
    customers = latest(dirty, "customers")
    by_email, by_phone = defaultdict(list), defaultdict(list)
    for cid, row in customers.items():
        if normal_email(row["email"]):
            by_email[normal_email(row["email"])].append(cid)
        if normal_phone(row["phone"]):
            by_phone[normal_phone(row["phone"])].append((cid, row["phone"]))
    rules = Counter()
    several = 0
    differently_punctuated = 0
    for card, member in latest(dirty, "loyalty_members").items():
        cid = clean(member["customer_id"])
        email, phone = normal_email(member["email"]), normal_phone(member["phone"])
        if cid in customers:
            rules["customer_id"] += 1
        elif email in by_email:
            rules["email"] += 1
            several += len(by_email[email]) > 1
            rules["email after unknown customer_id"] += cid is not None
        elif phone in by_phone:
            rules["phone"] += 1
            several += len(by_phone[phone]) > 1
            differently_punctuated += any(raw.strip() != member["phone"].strip() for _, raw in by_phone[phone])
        else:
            rules["loyalty_only"] += 1
    for rule in ("customer_id", "email", "phone", "loyalty_only", "email after unknown customer_id"):
        assert rules[rule], f"no loyalty member resolves by {rule}: {dict(rules)}"
    assert several, "no loyalty member matches several CRM customers (smallest customer_id rule)"
    assert differently_punctuated, "no phone-only match where the two phones are punctuated differently"


def test_tickets_and_sales_exercise_every_identity_rule(dirty: Delivery) -> None:
    customers = latest(dirty, "customers")
    members = latest(dirty, "loyalty_members")
    crm_emails = {normal_email(r["email"]) for r in customers.values()} - {None}
    loyalty_emails = {normal_email(r["email"]) for r in members.values()} - {None}
    rules = Counter()
    for _, _, ticket in dirty.rows["support_tickets"]:
        cid, email = clean(ticket["customer_id"]), normal_email(ticket["customer_email"])
        if cid in customers:
            rules["customer_id"] += 1
        elif email in crm_emails:
            rules["crm email"] += 1
        elif email in loyalty_emails:
            rules["loyalty email"] += 1
        else:
            rules["unresolved"] += 1
    for rule in ("customer_id", "crm email", "loyalty email", "unresolved"):
        assert rules[rule], f"no support ticket resolves by {rule}: {dict(rules)}"
    cards = Counter(
        "none" if clean(r["loyalty_card_id"]) is None else ("known" if clean(r["loyalty_card_id"]) in members else "unknown")
        for _, _, r in dirty.rows["store_sales"]
    )
    assert cards["none"] and cards["known"] and cards["unknown"], f"store sales cards: {dict(cards)}"
    share_with_card = cards["known"] / sum(cards.values())
    assert 0.35 < share_with_card < 0.65, f"{share_with_card:.0%} of store sales carry a known card, expected about half"
    orders = Counter(
        "guest" if clean(r["customer_id"]) is None else ("known" if clean(r["customer_id"]) in customers else "unknown")
        for _, _, r in dirty.rows["online_orders"]
    )
    assert orders["known"] and orders["unknown"] and orders["guest"], f"online order customers: {dict(orders)}"


def test_a_corrected_email_arrives_on_a_later_day(dirty: Delivery) -> None:
    bad_first: set[str] = set()
    for day, _, row in dirty.rows["customers"]:
        if day == START and clean(row["email"]) and normal_email(row["email"]) is None and clean(row["customer_id"]):
            bad_first.add(clean(row["customer_id"]))
    fixed = {
        clean(row["customer_id"]) for day, _, row in dirty.rows["customers"]
        if day > START and clean(row["customer_id"]) in bad_first and normal_email(row["email"])
    }
    assert fixed, f"none of the {len(bad_first)} customers delivered with a bad e-mail is corrected later"


# ---------------------------------------------------------------------------
# Content realism
# ---------------------------------------------------------------------------


def test_volumes_follow_the_scale(tmp_path: Path) -> None:
    report = generate(tmp_path, days=1, scale=0.5, dirty_rate=0.0)
    counts = report.row_counts[START]
    assert 900 <= counts["customers"] <= 1100, counts
    assert 90 <= counts["products"] <= 110, counts
    assert 10 <= counts["stores"] <= 15, counts
    assert 650 <= counts["loyalty_members"] <= 850, counts
    assert 15 <= counts["support_agents"] <= 25, counts
    for source in ("online_orders", "store_sales"):
        assert 1000 <= counts[source] <= 2200, (source, counts[source])
    assert 100 <= counts["support_tickets"] <= 250, counts


def test_resolved_tickets_have_later_resolution_and_open_ones_none(clean_run: Delivery) -> None:
    for day, line, row in clean_run.rows["support_tickets"]:
        status = row["status"]
        if status in ("resolved", "closed"):
            created, resolved = parse_timestamp(row["created_at"]), parse_timestamp(row["resolved_at"])
            assert resolved and resolved >= created, f"{clean_run.where(day, 'support_tickets', line)}: {row}"
        else:
            assert row["resolved_at"] == "" and row["csat_score"] == "", f"{clean_run.where(day, 'support_tickets', line)}"


def test_store_sales_happen_in_opening_hours_and_online_peaks_in_the_evening(clean_run: Delivery) -> None:
    for day, line, row in clean_run.rows["store_sales"]:
        value = row["transaction_ts"]
        if re.search(r"[+-]\d{2}:\d{2}$", value):
            local_hour = int(value[11:13])
            assert 9 <= local_hour <= 20, f"{clean_run.where(day, 'store_sales', line)}: sale at {value}"
    hours = Counter(parse_timestamp(v).hour for v in clean_run.values("online_orders", "order_ts"))
    evening_utc = sum(hours[h] for h in (0, 1, 2))  # 19:00-21:59 US Eastern
    early_utc = sum(hours[h] for h in (8, 9, 10))  # 03:00-05:59 US Eastern
    assert evening_utc > 3 * early_utc, f"online orders by UTC hour show no evening peak: {sorted(hours.items())}"


def test_dirty_kinds_are_documented_for_every_source() -> None:
    assert set(DIRTY_KINDS) == {s.name for s in SOURCES}


# ---------------------------------------------------------------------------
# Arguments and the CLI
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [dict(days=0), dict(days=1, scale=0), dict(days=1, scale=-1.0), dict(days=1, seed=-1),
     dict(days=1, dirty_rate=-0.1), dict(days=1, dirty_rate=0.9)],
)
def test_unusable_arguments_raise_value_error(tmp_path: Path, arguments: dict) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **arguments)


def test_cli_generate_writes_the_files_and_prints_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--days", "2", "--scale", "0.05",
                                      "--seed", "9", "--start", "2026-02-01"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "2026-02-02" / "online_orders.csv").is_file()
    assert "online_orders" in result.output and "total" in result.output.lower()


@pytest.mark.parametrize(
    "arguments",
    [["--days", "0"], ["--scale", "0"], ["--start", "05/01/2026"], ["--dirty-rate", "2"], ["--seed", "-3"]],
)
def test_cli_generate_rejects_bad_arguments_in_one_line(tmp_path: Path, arguments: list[str]) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), *arguments])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "nothing may be written after a bad argument"


def test_narrow_keeps_every_value_in_the_smallest_signed_type_that_holds_it() -> None:
    import numpy as np

    from customer360.generate.draws import narrow

    columns = {"flag": np.array([0, 1]), "small": np.array([-128, 127]), "offset": np.array([-480, 330]),
               "number": np.array([1, 40_000]), "big": np.array([0, 1_767_657_599_933_606]), "empty": np.array([], dtype=np.int64)}
    narrowed = narrow(columns)
    assert {name: str(values.dtype) for name, values in narrowed.items()} == {
        "flag": "int8", "small": "int8", "offset": "int16", "number": "int32", "big": "int64", "empty": "int64"}
    for name, values in columns.items():
        assert narrowed[name].tolist() == values.tolist(), f"{name}: narrow changed the values"


def test_the_writer_sql_reads_narrowed_columns_as_bigint(tmp_path: Path) -> None:
    """A column held as int8 at its limit still adds as BIGINT in the file's SQL (no overflow, same text)."""
    import numpy as np

    from customer360.generate.stores import DIRTY
    from customer360.generate.writer import CsvWriter

    names = SOURCES_BY_NAME["stores"].column_names
    writer = CsvWriter(tmp_path)
    frame = {"n": np.array([127, -128]), "dirty_kind": np.zeros(2, dtype=np.int64), "variant": np.zeros(2, dtype=np.int64)}
    columns = {name: "(n + 1)::VARCHAR" if name == names[0] else "typeof(n)" for name in names}
    writer.write(date(2026, 1, 5), DIRTY, frame, columns, {})
    writer.finish()
    rows = list(csv.reader((tmp_path / "2026-01-05" / "stores.csv").open()))
    assert rows[1:] == [["128"] + ["BIGINT"] * (len(names) - 1), ["-127"] + ["BIGINT"] * (len(names) - 1)], rows
