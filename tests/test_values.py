"""How warehouse values are written as text: money keeps its digits and its cents, times are ISO 8601 UTC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from customer360 import values


@pytest.mark.parametrize("stored, written", [
    ("904.310000000", "904.31"), ("900.000000000", "900.00"), ("141.291250000", "141.29125"),
    ("0E-9", "0.00"), ("-0.500000000", "-0.50"), ("12345678901234567890.123456789", "12345678901234567890.123456789"),
    ("1E+2", "100.00"),
])
def test_money_is_a_plain_decimal_with_its_own_digits_and_at_least_the_cents(stored, written):
    assert values.text(Decimal(stored)) == written


@pytest.mark.parametrize("stored, written", [
    (dt.datetime(2026, 1, 5, 17, 11, 40, tzinfo=dt.timezone.utc), "2026-01-05T17:11:40Z"),
    (dt.datetime(2026, 1, 5, 17, 11, 40, 617063, tzinfo=dt.timezone.utc), "2026-01-05T17:11:40.617063Z"),
    (dt.datetime(2026, 1, 5, 17, 11, 40, 120000, tzinfo=dt.timezone.utc), "2026-01-05T17:11:40.12Z"),
    (dt.datetime(2026, 1, 5, 12, 0, tzinfo=ZoneInfo("America/New_York")), "2026-01-05T17:00:00Z"),
    (dt.datetime(2026, 1, 5, 12, 0), "2026-01-05T12:00:00"),  # a DATETIME has no zone to state
])
def test_timestamps_are_iso_8601_in_utc_with_z(stored, written):
    assert values.text(stored) == written


def test_other_values_as_text_and_as_json():
    assert [values.text(v) for v in (None, True, False, 7, 0.1, dt.date(2026, 1, 5), [1, "a"])] == [
        "", "true", "false", "7", "0.1", "2026-01-05", '[1, "a"]']
    assert values.json_value({"revenue": Decimal("904.310000000"), "n": 3, "rate": 0.5, "at": None}) == {
        "revenue": "904.31", "n": 3, "rate": 0.5, "at": None}
