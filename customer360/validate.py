"""Proves offline that every SQL file, generated procedure and scheduled script is valid BigQuery SQL."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from customer360 import contract, zeta

# Arguments of every step's stored procedure (the script passes @run_date and the run id).
PROCEDURE_ARGUMENTS = tuple((contract.procedure_argument(n), t) for n, t in contract.QUERY_PARAMETERS.items())
# Parameters a BigQuery scheduled query supplies to its script.
SCHEDULED_QUERY_PARAMETERS = {"run_date": "DATE", "run_time": "TIMESTAMP"}


@dataclass
class Target:
    """One unit of SQL to validate."""

    label: str  # what problems are reported against: a repo-relative path or a generated object's name
    text: str | None = None
    load: Callable[[], str] | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] | None = None  # None: the contract's query parameters
    transpile: bool = False  # must also carry to DuckDB through customer360.dialect

    def sql(self) -> str:
        if self.text is None:
            self.text = self.load() if self.load else ""
        return self.text


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(contract.REPO_ROOT))
    except ValueError:
        return str(path)


def procedures() -> tuple[zeta.Procedure, ...]:
    """The stored procedures of the pipeline, as CALL statements see them."""
    return tuple(
        zeta.Procedure(step.procedure_dataset, step.procedure_name, PROCEDURE_ARGUMENTS) for step in contract.PIPELINE
    )


def file_targets(paths: Iterable[Path] | None = None) -> list[Target]:
    """Every .sql file under sql/ and scheduled_queries/ (or the given ones)."""
    if paths is None:
        paths = sorted(contract.SQL_DIR.rglob("*.sql")) + sorted(contract.SCHEDULED_QUERIES_DIR.glob("*.sql"))
    targets = []
    for path in paths:
        path = Path(path)
        label = _relative(path)
        scheduled = path.resolve().parent == contract.SCHEDULED_QUERIES_DIR.resolve()
        targets.append(
            Target(
                label,
                load=lambda path=path: path.read_text(encoding="utf-8"),
                parameters=SCHEDULED_QUERY_PARAMETERS if scheduled else None,
                transpile=not scheduled and "functions" not in path.parts,
            )
        )
    return targets


def generated_targets() -> list[Target]:
    """Queries generated from the contract and the body of every step's stored procedure."""
    from customer360 import sqlgen

    targets = []
    for step in contract.PIPELINE:
        if step.sql_file is None:
            targets.append(
                Target(
                    f"<generated query {step.kind}/{step.name}.sql>",
                    load=lambda step=step: sqlgen.step_query(step),
                    transpile=True,
                )
            )
        targets.append(
            Target(
                f"<procedure {step.procedure_dataset}.{step.procedure_name}>",
                load=lambda step=step: sqlgen.procedure_body(step),
                variables=dict(PROCEDURE_ARGUMENTS),
                parameters={},  # query parameters are not visible inside a procedure body
            )
        )
    return targets


def all_targets() -> list[Target]:
    return file_targets() + generated_targets()


# ---------------------------------------------------------------------------
# Result cache: an unchanged file against an unchanged catalog is not analysed again.
# ---------------------------------------------------------------------------


def _cache_path() -> Path:
    return zeta.cache_dir() / "validate-results.json"


def _load_cache() -> dict[str, list[list]]:
    if os.environ.get("C360_VALIDATE_NO_CACHE"):
        return {}
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict[str, list[list]]) -> None:
    if os.environ.get("C360_VALIDATE_NO_CACHE"):
        return
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(list(cache.items())[-2000:])))
        os.replace(tmp, path)
    except OSError:
        pass


def _fingerprint(catalog: zeta.Catalog, target: Target, dialect_source: str) -> str:
    digest = hashlib.sha256()
    for part in (
        zeta.ZETASQL_VERSION,
        *(path.read_text(encoding="utf-8") for path in sorted(Path(zeta.__file__).parent.glob("*.py"))),
        dialect_source if target.transpile else "",
        json.dumps([target.label, sorted(target.variables.items()), sorted((target.parameters or {}).items()) if target.parameters is not None else None]),
        target.sql(),
    ):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    digest.update(catalog.proto().SerializeToString(deterministic=True))
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def transpile_problems(target: Target) -> list[zeta.Problem]:
    """A construct customer360.dialect rejects (no faithful DuckDB translation) is a problem too."""
    from customer360 import dialect

    text = target.sql()
    try:
        dialect.transpile(text, {name: None for name in contract.QUERY_PARAMETERS})
    except Exception as error:  # sqlglot ParseError or dialect.TranspileError
        message = " ".join(str(error).split())
        line, column = getattr(error, "line", None), getattr(error, "col", None)
        errors = getattr(error, "errors", None)
        if errors and isinstance(errors, list) and isinstance(errors[0], dict):
            line, column = errors[0].get("line"), errors[0].get("col")
        return [zeta.Problem(target.label, line or 1, column or 1, f"cannot run locally on DuckDB: {message}")]
    return []


def validate(targets: list[Target] | None = None, *, use_cache: bool = True) -> list[zeta.Problem]:
    """Every problem found, in target order."""
    targets = all_targets() if targets is None else targets
    catalog = zeta.Catalog.from_contract(procedures=procedures())
    dialect_path = Path(__file__).with_name("dialect.py")
    dialect_source = dialect_path.read_text(encoding="utf-8") if dialect_path.exists() else ""
    cache = _load_cache() if use_cache else {}
    analyzer = zeta.Analyzer(catalog)
    problems: list[zeta.Problem] = []
    for target in targets:
        try:
            text = target.sql()
        except Exception as error:  # a generator that fails is a problem of its own
            problems.append(zeta.Problem(target.label, 1, 1, f"could not render: {error}"))
            continue
        key = _fingerprint(catalog, target, dialect_source)
        if key in cache:
            found = [zeta.Problem(*p) for p in cache[key]]
        else:
            found = analyzer.check(text, target.label, variables=target.variables, parameters=target.parameters)
            if target.transpile and not found:
                found = transpile_problems(target)
            cache[key] = [[p.path, p.line, p.column, p.message] for p in found]
        problems.extend(found)
    if use_cache:
        _save_cache(cache)
    return problems


def main(paths: list[Path] | None = None, *, use_cache: bool = True) -> int:
    """Print one line per problem; return the exit status (0 when there is none)."""
    started = time.perf_counter()
    targets = file_targets(paths) if paths else all_targets()
    problems = validate(targets, use_cache=use_cache)
    for problem in problems:
        print(problem)
    elapsed = time.perf_counter() - started
    summary = f"validated {len(targets)} SQL units in {elapsed:.1f}s: "
    summary += f"{len(problems)} problem(s)" if problems else "no problems"
    print(summary, file=sys.stderr)
    return 1 if problems else 0
