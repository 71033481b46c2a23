"""Runs the malformed-delivery corpus and prints, per kind of bad input, its outcome and where every row went.

    .venv/bin/python tests/robustness/corpus_report.py

Exits non-zero if any case does not end as it declares or any row is lost.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_harness import Pipeline  # noqa: E402
from test_malformed_deliveries import CASES, baseline_warehouse, evaluate, verify  # noqa: E402


def main() -> int:
    totals = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="c360-corpus-") as scratch:
        root = Path(scratch)
        baseline = baseline_warehouse(root / "baseline")
        print(f"{'kind of bad input':44} {'outcome':9} {'written':>7} {'kept':>5} {'rejected':>8} {'lost':>4}")
        for number, case in enumerate(CASES):
            folder = root / f"case-{number}"
            folder.mkdir()
            result = evaluate(case, folder, baseline)
            try:
                verify(case, result, Pipeline(folder) if case.outcome == "accepted" else None)
                status = ""
            except AssertionError as error:
                status = "  << " + str(error).splitlines()[0]
                failures.append(case.id)
            kept = sum(result.kept.values())
            rejected = sum(sum(c.values()) for c in result.rejected.values())
            totals["kinds"] += 1
            totals[result.outcome] += 1
            totals["written"] += result.rows_written
            totals["kept"] += kept
            totals["rejected"] += rejected
            totals["lost"] += result.rows_lost
            print(f"{case.id:44} {result.outcome:9} {result.rows_written:7} {kept:5} {rejected:8} "
                  f"{result.rows_lost:4}{status}")
    print()
    print(f"kinds of bad input tried: {totals['kinds']} "
          f"({totals['fatal']} fatal one-line errors, {totals['accepted']} accepted runs, {totals['blocked']} blocked)")
    print(f"rows written in accepted runs: {totals['written']}; kept: {totals['kept']}; "
          f"rejected with a reason: {totals['rejected']}; lost: {totals['lost']}")
    if failures:
        print(f"cases not ending as declared: {', '.join(failures)}")
    return 1 if failures or totals["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
