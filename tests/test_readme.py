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


def _commands(code: str) -> list[str]:
    lines = [line.split(" #")[0].strip() for line in code.splitlines()]
    return [line for line in lines if line.startswith("sedflow ")]


#: Each ``sh`` block with sedflow commands is a script: its commands run in order in one
#: directory, so a later command reads what an earlier one wrote.
SCRIPTS = [cmds for lang, code in BLOCKS if lang == "sh" for cmds in [_commands(code)] if cmds]


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"block{i}" for i in range(len(SCRIPTS))])
def test_shell_examples_run(script, tmp_path):
    for command in script:
        args = shlex.split(command)[1:]
        res = subprocess.run([sys.executable, "-m", "sedflow_dask", *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
