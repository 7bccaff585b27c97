"""The README's examples run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README.read_text(), flags=re.S)


def test_python_examples_run():
    blocks = [code for lang, code in BLOCKS if lang == "python"]
    assert len(blocks) >= 2
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["mags"].shape == (10_000, 5)
    assert namespace["maggies"].shape == (1, 5)


SHELL = [line.split("#")[0].strip() for lang, code in BLOCKS if lang == "sh" for line in code.splitlines()]
COMMANDS = [line for line in SHELL if line.startswith("sedflow ")]


@pytest.mark.parametrize("command", COMMANDS)
def test_shell_examples_run(command, tmp_path):
    args = shlex.split(command)[1:]
    res = subprocess.run([sys.executable, "-m", "sedflow_dask", *args], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
