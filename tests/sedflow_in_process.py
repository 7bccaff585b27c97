"""``sedflow`` commands run in the test's own process.

The ``sedflow`` script calls :func:`sedflow_dask.cli.main`; ``tests/test_cli.py`` runs it as a real
subprocess. Tests that run many commands end to end (the README's examples, the demo) call
``main`` here instead: the commands then share one interpreter's imports (torch, Dask, hats,
sbi), a few seconds each.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Completed:
    """What a finished command left: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_sedflow(args: list[str], cwd: str | Path) -> Completed:
    """Run ``sedflow ARGS`` in directory ``cwd``, capturing stdout and stderr.

    torch's thread count, which ``sedflow train`` sets for its process, is put back afterwards.
    """
    import torch

    from sedflow_dask.cli import main

    threads = torch.get_num_threads()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(args)
    except SystemExit as exc:  # argparse's --version and usage errors; sys.exit(None) is success
        status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    finally:
        torch.set_num_threads(threads)
    return Completed(int(status), stdout.getvalue(), stderr.getvalue())
