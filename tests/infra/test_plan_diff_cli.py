"""`c360 plan --diff HEAD` run as a user would, in a throwaway copy of the repository: exit codes and what it names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from customer360.contract import REPO_ROOT

pytestmark = pytest.mark.long

STORES_REGION = '                ("region", "STRING", "Sales region of the store."),\n'


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repository holding this checkout's files (committed or not), with one commit."""
    root = tmp_path_factory.mktemp("clone") / "repo"
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    git(root, "init", "--quiet")
    git(root, "-c", "user.name=test", "-c", "user.email=test@example.com", "add", "-A")
    git(root, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "--quiet", "-m", "baseline")
    return root


@pytest.fixture
def clone(repo: Path):
    yield repo
    git(repo, "checkout", "--quiet", "--", ".")


def c360(repo: Path, *args: str) -> subprocess.CompletedProcess:
    # The kept captures of the throwaway repository's commits stay beside it, not in the user's cache.
    env = {**os.environ, "PYTHONPATH": str(repo), "C360_CACHE_DIR": str(repo.parent / "cache")}
    return subprocess.run(
        [sys.executable, "-c", "from customer360.cli import main; main()", *args],
        cwd=repo, env=env, capture_output=True, text=True,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_ref_that_does_not_exist_is_exit_2(clone):
    result = c360(clone, "plan", "--stack", "dev", "--diff", "no-such-branch")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'no-such-branch' names no commit" in result.stderr, result.stderr


def test_a_required_column_on_a_silver_table_is_a_data_losing_replacement(clone):
    status = git(clone, "status", "--porcelain")
    edit(clone / "customer360/contract.py", STORES_REGION,
         STORES_REGION + '                ("region_code", "STRING", "Code of the sales region.", True),\n')
    result = c360(clone, "plan", "--stack", "dev", "--diff", "HEAD")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "+- gcp:bigquery/table:Table warehouse-silver-stores  DATA LOSS\n" in result.stdout, result.stdout
    assert "new column region_code is REQUIRED" in result.stdout, result.stdout
    assert git(clone, "status", "--porcelain") == status + " M customer360/contract.py\n", "the checkout was touched"
    assert len(git(clone, "worktree", "list").splitlines()) == 1, "the temporary worktree was left behind"


def test_a_nullable_column_is_an_update_in_place(clone):
    edit(clone / "customer360/contract.py", STORES_REGION,
         STORES_REGION + '                ("region_code", "STRING", "Code of the sales region."),\n')
    result = c360(clone, "plan", "--stack", "dev", "--diff", "HEAD", "--format", "markdown")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| `~` | `gcp:bigquery/table:Table warehouse-silver-stores` | schema |  |" in result.stdout, result.stdout
    assert "DATA LOSS" not in result.stdout, result.stdout


def test_a_gold_sql_change_is_a_diff_of_that_procedure_alone(clone):
    edit(clone / "sql/gold/agent_performance_summary.sql", "coalesce(all_agents.agent_name, 'Unknown')",
         "coalesce(all_agents.agent_name, 'Unknown agent')")
    result = c360(clone, "plan", "--stack", "dev", "--diff", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    changed = [line for line in result.stdout.splitlines() if line[:2] in ("+ ", "~ ", "+-", "- ")]
    assert changed == ["~ gcp:bigquery/routine:Routine transform-procedure-step_gold_agent_performance_summary"], changed
    assert "    definitionBody:\n      --- HEAD (" in result.stdout, result.stdout
    assert any(line.strip().startswith("+") and "'Unknown agent'" in line for line in result.stdout.splitlines())
    assert any(line.strip().startswith("-") and "'Unknown')" in line for line in result.stdout.splitlines())


def test_the_capture_of_a_commit_is_kept_and_read_back_by_the_next_diff_against_it(clone, tmp_path, monkeypatch):
    """The second diff against the same commit reads the kept capture instead of capturing the commit again:
    a resource taken out of the kept copy shows as created."""
    from customer360 import plan_diff

    monkeypatch.setenv("C360_CACHE_DIR", str(tmp_path))
    first = plan_diff.diff_against("dev", "HEAD", clone)
    assert first.changes == [], [change.label for change in first.changes]
    kept = list((tmp_path / "plan-captures").glob("*.json"))
    assert len(kept) == 1, f"expected one kept capture, found {kept}"
    captured = json.loads(kept[0].read_text(encoding="utf-8"))
    taken = next(r for r in captured["resources"] if r["custom"] and r["type"] == "gcp:bigquery/table:Table")
    captured["resources"].remove(taken)
    kept[0].write_text(json.dumps(captured), encoding="utf-8")

    second = plan_diff.diff_against("dev", "HEAD", clone)
    assert [c.name for c in second.changes] == [taken["name"]], [c.label for c in second.changes]
    assert second.changes[0].op == plan_diff.CREATE, second.changes[0].label


@pytest.mark.parametrize("unreadable", ["{cut short", "{}", "[]", "null", '{"resources": {}}'])
def test_a_kept_capture_that_is_not_a_capture_is_not_used_nor_kept(tmp_path, monkeypatch, unreadable):
    from customer360 import plan_diff

    monkeypatch.setenv("C360_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "plan-captures"
    folder.mkdir()
    (folder / "0123.json").write_text(unreadable, encoding="utf-8")
    assert plan_diff._kept_capture("0123") is None, f"{unreadable!r} was taken for a capture"
    plan_diff._keep_capture("4567", unreadable)
    assert not (folder / "4567.json").exists(), f"{unreadable!r} was kept as a capture"
    plan_diff._keep_capture("4567", '{"resources": []}')
    assert plan_diff._kept_capture("4567") == ('{"resources": []}', "")
    assert sorted(p.name for p in folder.iterdir()) == ["0123.json", "4567.json"], "a temporary file was left"


def test_the_kept_capture_key_changes_with_every_input_of_the_capture(monkeypatch):
    """Commit, stack, a PULUMI_CONFIG_<KEY> override and the stack files' PULUMI_CONFIG each change the key."""
    from customer360 import plan_diff

    base = {"PULUMI_CONFIG": '{"customer360:project": "p"}', "HOME": "/root"}
    key = plan_diff._capture_key("a" * 40, "dev", base)
    assert plan_diff._capture_key("a" * 40, "dev", {**base, "HOME": "/elsewhere"}) == key, "HOME is not an input"
    for label, other in {
        "another commit": plan_diff._capture_key("b" * 40, "dev", base),
        "another stack": plan_diff._capture_key("a" * 40, "prod", base),
        "a PULUMI_CONFIG_<KEY> override": plan_diff._capture_key(
            "a" * 40, "dev", {**base, "PULUMI_CONFIG_CUSTOMER360_LATEDELIVERYDAYS": "2"}),
        "other stack files": plan_diff._capture_key("a" * 40, "dev", {**base, "PULUMI_CONFIG": "{}"}),
    }.items():
        assert other != key, f"{label} gives the same kept capture"
