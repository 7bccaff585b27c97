"""The package type-checks (mypy, configured in pyproject.toml) and the repository passes ruff
(pyflakes, bugbear, pyupgrade, import order)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_finds_no_errors_in_the_package():
    res = _run("mypy")  # files, plugins and per-dependency settings: [tool.mypy]
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]


def test_ruff_finds_nothing():
    res = _run("ruff", "check", "--output-format", "concise", ".")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
