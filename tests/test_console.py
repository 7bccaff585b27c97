"""Library functions print to sys.stderr as it is when they run, not as it was at import."""

from __future__ import annotations

import ast
import contextlib
import io
import sys
from pathlib import Path

from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig
from sedflow_dask.console import STDERR, STDOUT, resolve_stream


def test_the_defaults_are_looked_up_at_call_time():
    err, out, mine = io.StringIO(), io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        assert resolve_stream(STDERR) is err and resolve_stream(STDOUT) is out
    assert resolve_stream(STDERR) is sys.stderr and resolve_stream(STDOUT) is sys.stdout
    assert resolve_stream(mine) is mine and resolve_stream(None) is None


def test_redirect_stderr_captures_a_library_functions_messages(client):
    address = client.scheduler.address
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured), dask_client(ClusterConfig(scheduler=address)) as connected:
        assert connected.scheduler.address == address
    assert f"dask: existing cluster at {address} with 2 workers" in captured.getvalue()


def _defaults_bound_to_std_streams(source: str, name: str) -> list[str]:
    """``name:line function(arg)`` of each parameter whose default is ``sys.stderr`` or ``sys.stdout``."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        positional = node.args.posonlyargs + node.args.args
        pairs = [*zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults),
                 *zip(node.args.kwonlyargs, node.args.kw_defaults)]
        for arg, default in pairs:
            if (isinstance(default, ast.Attribute) and isinstance(default.value, ast.Name)
                    and default.value.id == "sys" and default.attr in ("stderr", "stdout")):
                found.append(f"{name}:{node.lineno} {node.name}({arg.arg})")
    return found


def test_no_function_binds_sys_stderr_at_import():
    planted = "import sys\ndef f(x, stream=sys.stderr):\n    pass\ndef g(*, out=sys.stdout, ok=None):\n    pass\n"
    assert _defaults_bound_to_std_streams(planted, "planted.py") == ["planted.py:2 f(stream)", "planted.py:4 g(out)"]
    package = Path(__file__).resolve().parents[1] / "sedflow_dask"
    found = [hit for path in sorted(package.rglob("*.py"))
             for hit in _defaults_bound_to_std_streams(path.read_text(), str(path.relative_to(package.parent)))]
    assert not found, "use console.STDERR / STDOUT: " + ", ".join(found)
