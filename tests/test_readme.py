"""The README's examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from sedflow_in_process import run_sedflow

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README.read_text(), flags=re.S)
#: The catalog `make demo` writes; the README's query examples read it.
DEMO_CATALOG = "catalogs/demo"


def test_python_examples_run():
    blocks = [code for lang, code in BLOCKS if lang == "python" and DEMO_CATALOG not in code]
    assert len(blocks) >= 2
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["mags"].shape == (10_000, 5)
    assert namespace["maggies"].shape == (1, 5)


def _commands(code: str) -> list[str]:
    """The block's ``sedflow`` commands: comments cut, backslash continuations joined."""
    lines = [line.split(" #")[0].rstrip() for line in code.splitlines()]
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line.strip())
    return [line for line in joined if line.startswith("sedflow ")]


#: Each ``sh`` block with sedflow commands is a script. The scripts run in README order in one
#: directory, so a later command (or block) reads what an earlier one wrote.
SCRIPTS = [cmds for lang, code in BLOCKS if lang == "sh" for cmds in [_commands(code)] if cmds]


class _Runner:
    """Runs the scripts in order, once each, in one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.errors: dict[int, str | None] = {}

    def run_upto(self, index: int) -> str | None:
        for i in range(index + 1):
            if i not in self.errors:
                self.errors[i] = self._run(SCRIPTS[i])
        return self.errors[index]

    def _run(self, script: list[str]) -> str | None:
        if any(DEMO_CATALOG in c for c in script):
            self._stand_in_for_the_demo_catalog()
        for command in script:
            res = run_sedflow(shlex.split(command)[1:], self.root)
            if res.returncode != 0:
                return f"{command}\n{res.stderr[-3000:]}"
        return None

    def _stand_in_for_the_demo_catalog(self) -> None:
        """The query examples read ``catalogs/demo``; the pipeline block's ``sedflow infer`` output
        (the same kind of catalog, of a smaller mock) stands in for it, as a link."""
        link = self.root / DEMO_CATALOG
        if link.exists():
            return
        for i, script in enumerate(SCRIPTS):
            for command in script:
                args = shlex.split(command)
                if args[1] == "infer" and "--out" in args:
                    if i not in self.errors:
                        self.errors[i] = self._run(script)
                    assert self.errors[i] is None, f"the block making the catalog failed: {self.errors[i]}"
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to((self.root / args[args.index("--out") + 1]).resolve())
                    return
        raise AssertionError("no README block runs `sedflow infer --out ...`")


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> _Runner:
    return _Runner(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("index", range(len(SCRIPTS)), ids=[f"block{i}" for i in range(len(SCRIPTS))])
def test_shell_examples_run(index, runner):
    error = runner.run_upto(index)
    assert error is None, error


def test_catalog_python_examples_run(runner, monkeypatch):
    """The Python query examples, on the catalog the shell examples query."""
    blocks = [code for lang, code in BLOCKS if lang == "python" and DEMO_CATALOG in code]
    assert blocks
    for i, script in enumerate(SCRIPTS):
        if any(DEMO_CATALOG in c for c in script):
            assert runner.run_upto(i) is None, runner.errors[i]
    monkeypatch.chdir(runner.root)
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    assert len(namespace["sf"]) > 0 and (namespace["table"].column("z").to_numpy() < 0.05).all()
    assert namespace["near"]["sep_arcsec"].is_monotonic_increasing
