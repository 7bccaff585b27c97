"""Library functions print to sys.stderr as it is when they run, not as it was at import."""

from __future__ import annotations

import contextlib
import io
import sys

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
