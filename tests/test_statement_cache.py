"""The local engine translates each step statement once and keeps the translation on disk; both must equal a fresh one."""

from __future__ import annotations

import duckdb
import pytest

from customer360 import contract, dialect, sqlgen
from customer360.cache import DiskCache


@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: s.name)
def test_kept_translation_equals_a_fresh_one_for_every_step_statement(step):
    for number, statement in enumerate(sqlgen.step_statements(step), start=1):
        kept, names = dialect.transpile_for_binding(statement.sql)
        fresh, fresh_names = dialect.translate_for_binding(statement.sql)
        assert (kept, names) == (fresh, fresh_names), f"step {step.name} statement {number}: kept translation differs"


def test_bound_parameters_reach_duckdb_as_values_not_sql():
    sql, names = dialect.transpile_for_binding("select @run_id as run_id, @run_date as run_date")
    assert names == {"run_id", "run_date"}
    tricky = "o'brien \\ run'); drop table x; --"
    row = duckdb.connect().execute(sql, {"run_id": tricky, "run_date": "2026-01-05"}).fetchone()
    assert row[0] == tricky


def test_the_disk_cache_reads_back_what_it_wrote_and_ignores_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("C360_CACHE_DIR", str(tmp_path))
    salt = tmp_path / "salt.txt"
    salt.write_text("v1", encoding="utf-8")
    first = DiskCache("translations-test", salt)
    key = first.key("select 1")
    first.put(key, ["SELECT 1", []])
    first.save()
    assert DiskCache("translations-test", salt).get(key) == ["SELECT 1", []]
    salt.write_text("v2", encoding="utf-8")
    assert DiskCache("translations-test", salt).get(DiskCache("translations-test", salt).key("select 1")) is None, (
        "a changed salt file must invalidate every entry"
    )
    (tmp_path / "translations-test.json").write_text("{not json", encoding="utf-8")
    assert DiskCache("translations-test", salt).get(key) is None
