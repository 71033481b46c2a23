"""Every document the code, SQL and docs cite exists in the repository, down to the section a link names."""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

from customer360.contract import REPO_ROOT

SCANNED_SUFFIXES = (".py", ".sql", ".md")
SKIPPED_DIRECTORIES = {".git", ".venv", "venv", "build", "node_modules", "__pycache__", ".pytest_cache"}
# Documents that live outside the repository and so must never be cited (spelled in pieces so that this
# file does not cite them itself).
OUTSIDE_DOCUMENTS = re.compile(r"\b" + "FACTS" + r"\.md\b|\b" + "SPEC" + r"\b")
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# A path to a Markdown document, optionally with an anchor: README.md, docs/x.md#section.
DOCUMENT = re.compile(r"(?<![\w/.*-])((?:[\w.-]+/)*[\w-][\w.-]*\.md)(?:#([\w-]+))?(?![\w/])")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
THIS_FILE = Path(__file__).resolve()  # its examples are fixtures, not citations


def repository_files() -> list[Path]:
    found = []
    for path in sorted(REPO_ROOT.rglob("*")):
        relative = path.relative_to(REPO_ROOT)
        if any(part in SKIPPED_DIRECTORIES or part.startswith(".") for part in relative.parts[:-1]):
            continue
        if path.is_file() and path.suffix in SCANNED_SUFFIXES and path.resolve() != THIS_FILE:
            found.append(path)
    return found


@cache
def documents_by_name() -> dict[str, list[Path]]:
    names: dict[str, list[Path]] = {}
    for path in repository_files():
        if path.suffix == ".md":
            names.setdefault(path.name, []).append(path)
    return names


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


@cache
def anchors(document: Path) -> frozenset[str]:
    in_code = False
    found = set()
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := HEADING.match(line)):
            found.add(slug(match.group(1)))
    return frozenset(found)


def resolve(cited: str, citing_file: Path) -> Path | None:
    """The repository document a citation names: relative to the citing file or the root, or (a bare
    file name) any document of that name."""
    if "/" not in cited:
        candidates = [citing_file.parent / cited, *documents_by_name().get(cited, [])]
    else:
        candidates = [citing_file.parent / cited, REPO_ROOT / cited]
    return next((c.resolve() for c in candidates if c.is_file()), None)


def broken_citations() -> list[str]:
    problems = []
    for path in repository_files():
        relative = path.relative_to(REPO_ROOT)
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for match in OUTSIDE_DOCUMENTS.finditer(line):
                problems.append(f"{relative}:{number}: cites {match.group(0)!r}, a document outside the repository")
            for match in DOCUMENT.finditer(OUTSIDE_DOCUMENTS.sub(" ", URL.sub(" ", line))):
                cited, anchor = match.group(1), match.group(2)
                document = resolve(cited, path)
                if document is None:
                    problems.append(f"{relative}:{number}: cites {cited}, which is not in the repository")
                elif anchor and anchor not in anchors(document):
                    problems.append(f"{relative}:{number}: cites {cited}#{anchor}, but {cited} has no such section")
    return problems


def test_every_cited_document_and_section_exists_in_the_repository():
    problems = broken_citations()
    assert not problems, "citations of documents that are not in the repository:\n  " + "\n  ".join(problems)


def test_a_missing_document_an_unknown_section_and_an_outside_document_are_each_reported(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Load transfers\n", encoding="utf-8")
    (tmp_path / "module.py").write_text(
        '"""See docs/guide.md#load-transfers and README.md."""\n'
        "# docs/guide.md#no-such-section\n"
        "# docs/missing.md\n"
        "# as " + "FACTS" + ".md says; https://example.com/page.md is a URL\n",
        encoding="utf-8",
    )
    (tmp_path / "README.md").write_text("[guide](docs/guide.md)\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    documents_by_name.cache_clear()
    try:
        problems = broken_citations()
    finally:
        documents_by_name.cache_clear()
    assert problems == [
        "module.py:2: cites docs/guide.md#no-such-section, but docs/guide.md has no such section",
        "module.py:3: cites docs/missing.md, which is not in the repository",
        "module.py:4: cites '" + "FACTS" + ".md', a document outside the repository",
    ], problems


def test_anchors_follow_github_headings():
    assert slug("Scheduled query scripts") == "scheduled-query-scripts"
    assert slug("`customers` (CRM)") == "customers-crm"
    assert slug("CSV columns by position") == "csv-columns-by-position"
