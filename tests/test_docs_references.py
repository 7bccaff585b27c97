"""Every document the package, the benchmarks and the top-level docs point a reader to exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A Markdown file named in text: ``docs/x.md``, ``x.md`` or ``dir/README.md`` (not part of a longer path or URL).
MD_NAME = re.compile(r"(?<![\w/.:-])((?:[\w-]+/)*[\w-]+\.md)\b")
#: A relative Markdown link target.
MD_LINK = re.compile(r"\]\((?!https?:)([^)#\s]+\.md)(?:#[^)]*)?\)")


def _named_in_code() -> list[tuple[str, str]]:
    files = sorted((ROOT / "sedflow_dask").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    return [(str(p.relative_to(ROOT)), m) for p in files for m in MD_NAME.findall(p.read_text(encoding="utf-8"))]


def _named_in_docs() -> list[tuple[str, str]]:
    out = []
    for p in [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = p.read_text(encoding="utf-8")
        out += [(str(p.relative_to(ROOT)), m) for m in MD_NAME.findall(text) if m.startswith("docs/")]
        out += [(str(p.relative_to(ROOT)), str((p.parent / m).relative_to(ROOT)) if (p.parent / m).exists() else m)
                for m in MD_LINK.findall(text)]
    return out


def _resolves(name: str) -> bool:
    return (ROOT / name).is_file() or (not name.startswith("docs/") and (ROOT / "docs" / name).is_file())


def test_the_scan_finds_the_references_it_checks():
    names = {m for _, m in _named_in_code()}
    assert {"docs/data-contracts.md", "docs/nsa-ingest.md", "docs/mock-nsa.md"} <= names


@pytest.mark.parametrize("where, name", sorted(set(_named_in_code() + _named_in_docs())))
def test_referenced_document_exists(where, name):
    assert _resolves(name), f"{where} names {name}, which is not in the repository (docs/ or the root)"
