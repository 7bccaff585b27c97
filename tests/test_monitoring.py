"""Monitoring: the dashboard while a run goes on, progress and counts in the log, the performance report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig

REPORT_TITLE = "Dask Performance Report"   # distributed.Scheduler.performance_report's <title> and <h1>


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_dashboard_progress_counts_and_report_of_a_simulate_run(tmp_path):
    report = tmp_path / "reports" / "simulate.html"
    cmd = [sys.executable, "-m", "sedflow_dask", "simulate", "--n", "10000", "--out", str(tmp_path / "training"),
           "--workers", "2", "--set", "cluster.dashboard_address=127.0.0.1:0", "--set", "simulate.chunk_rows=1024",
           "--performance-report", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err_chunks: list[str] = []
    link: dict[str, str] = {}
    found = threading.Event()

    def read_stderr() -> None:   # keep draining stderr (progress bars) so the run never blocks on the pipe
        for line in proc.stderr:
            err_chunks.append(line)
            m = re.search(r"^dask: LocalCluster with 2 workers; dashboard (http://\S+)/status$", line, re.M)
            if m and not found.is_set():
                link["base"] = m[1]
                found.set()
        found.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert found.wait(timeout=120) and "base" in link, "".join(err_chunks)
        base = link["base"]
        with urllib.request.urlopen(f"{base}/health", timeout=30) as r:
            assert r.status == 200 and r.read().decode().strip() == "ok"
        with urllib.request.urlopen(f"{base}/status", timeout=60) as r:
            page = r.read().decode()
            assert r.status == 200 and "<html" in page.lower() and "bokeh" in page.lower()
        assert proc.poll() is None, "the run ended before the dashboard was fetched"
        out = proc.stdout.read()
        assert proc.wait(timeout=300) == 0, "".join(err_chunks)
    finally:
        _stop(proc)
    reader.join(timeout=10)
    err = "".join(err_chunks)
    # a progress bar, then counts in and out by status (rows drawn, kept, dropped per rule)
    assert re.search(r"simulate: 100%\|", err), err
    summary = json.loads(out)
    assert summary["n_kept"] == 10000
    assert (f"simulate: 10,000 rows kept of {summary['n_drawn']:,} drawn" in err
            and "dropped by rule: {'mag_out_of_range'" in err)
    assert summary["n_drawn"] == 10000 + sum(summary["drop_counts"].values())
    # Dask's performance report of the run
    assert f"dask: performance report written to {report}" in err
    html = report.read_text()
    assert REPORT_TITLE in html and "simulate_chunk_task" in html


def test_performance_report_is_written_when_the_run_fails(tmp_path):
    report = tmp_path / "failed.html"
    with pytest.raises(RuntimeError, match="stage failed"):
        with dask_client(ClusterConfig(n_workers=1, dashboard_address=":0"), stream=None,
                         performance_report=report) as client:
            assert client.submit(sum, [1, 2], pure=False).result() == 3
            raise RuntimeError("stage failed")
    assert REPORT_TITLE in report.read_text()


def test_performance_report_option_on_every_cluster_command():
    from sedflow_dask.cli import build_parser

    parser = build_parser()
    for argv in (["simulate", "--out", "x"], ["ingest", "nsa.fits", "--out", "x"]):
        args = parser.parse_args([*argv, "--scheduler", "tcp://h:8786", "--performance-report", "r.html"])
        assert args.performance_report == "r.html" and args.scheduler == "tcp://h:8786"
