"""``sedflow cluster slurm`` on a real one-node SLURM cluster: sbatch jobs of TLS workers, ``sedflow infer`` through them.

The cluster (munged, slurmctld, slurmd from Debian's packages) runs on localhost under a temporary
directory (``tests/slurm_harness.py``). The project's SLURM command submits two one-core worker
jobs; ``sedflow infer`` runs on a small ingested catalog through their TLS scheduler, and one
worker job is cancelled (``scancel``) while it holds tasks of that run: every galaxy must still
come out exactly once, with a status, and the adaptive cluster must submit a replacement job.
Needs root and the packages ``.ci/run`` installs; skipped, saying so, where they are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from distributed import Client
from slurm_harness import INSTALL_HINT, LocalSlurm, missing_programs

from sedflow_dask.deploy.tls import tls_security
from sedflow_dask.query import query_catalog

_MISSING = missing_programs()
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"SLURM TEST SKIPPED: {', '.join(_MISSING)} not installed "
                                              f"(as root: {INSTALL_HINT}; .ci/run does this)"),
    pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0,
                       reason="SLURM TEST SKIPPED: the one-node cluster runs its daemons as root (SlurmUser=root)"),
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _preset(tmp_path: Path) -> Path:
    """Two jobs of one one-threaded worker each: the whole 2-core node."""
    path = tmp_path / "slurm.yaml"
    path.write_text(yaml.safe_dump({
        "cores": 1, "processes": 1, "memory": "3GB", "walltime": "00:30:00", "lifetime": "20m",
        "lifetime_stagger": "1m", "jobs": 2, "job_name": "sedflow-test",
        "local_directory": str(tmp_path / "scratch"), "log_directory": str(tmp_path / "logs"),
        "dashboard_address": "127.0.0.1:0",
    }))
    return path


def _wait_for(predicate, timeout: float, what: str, detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout:g} s\n{detail()}")


def _check_catalog(cat: Path, nsaids) -> None:
    """Every input galaxy exactly once, with a status."""
    rows = query_catalog(cat, "SELECT nsaid, status FROM catalog")
    assert rows["nsaid"].is_unique, rows["nsaid"][rows["nsaid"].duplicated()].tolist()[:10]
    assert set(rows["nsaid"]) == set(nsaids), (len(rows), len(nsaids))
    assert rows["status"].notna().all()


def test_infer_through_sbatch_workers_survives_a_cancelled_job(slurm, mock_ingested, tmp_path):
    catalog, truth = mock_ingested
    tls_dir = tmp_path / "tls"
    address_file = tmp_path / "scheduler"
    logs = tmp_path / "logs"
    with open(tmp_path / "cluster.out", "w") as out, open(tmp_path / "cluster.err", "w") as err:
        cluster = subprocess.Popen(
            [sys.executable, "-m", "sedflow_dask", "cluster", "slurm", "--preset", str(_preset(tmp_path)),
             "--address-file", str(address_file), "--tls-dir", str(tls_dir), "--for", "600"],
            stdout=out, stderr=err, env=slurm.env)

    def detail() -> str:
        job_logs = "".join(f"--- {p.name}\n{p.read_text()[-1500:]}\n" for p in sorted(logs.glob("*")))
        return (f"squeue: {slurm.jobs()}\n--- cluster.err\n{(tmp_path / 'cluster.err').read_text()[-3000:]}\n"
                f"{job_logs}--- slurmctld\n{slurm.log('slurmctld')[-2000:]}")

    try:
        address = _wait_for(lambda: address_file.is_file() and address_file.read_text().strip(), 60,
                            "scheduler address", detail)
        assert address.startswith("tls://"), address
        with Client(address, security=tls_security(tls_dir), timeout="30s") as client:
            _wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) >= 2, 120,
                      "two workers from SLURM jobs", detail)
            job_of = client.run(lambda: os.environ["SLURM_JOB_ID"])   # worker address -> its SLURM job
            first_jobs = set(job_of.values())
            assert len(first_jobs) == 2 and set(slurm.jobs()) == first_jobs, (job_of, slurm.jobs())
            assert all(w.startswith("tls://") for w in job_of)

            # sedflow infer through the TLS address; one worker job cancelled while it runs tasks
            infer = [sys.executable, "-m", "sedflow_dask", "infer", str(catalog), "--out", str(tmp_path / "catalog"),
                     "--samples", "500", "--no-fallback", "--no-progress", "--scheduler", address,
                     "--tls-dir", str(tls_dir)]
            with open(tmp_path / "infer.err", "w") as infer_err:
                proc = subprocess.Popen(infer, stdout=subprocess.PIPE, stderr=infer_err, text=True, env=slurm.env)
            try:
                busy = _wait_for(lambda: [w for w, keys in client.processing().items() if keys]
                                 if proc.poll() is None else ["finished"], 120, "a worker with tasks", detail)
                assert busy != ["finished"], "inference finished before a job could be cancelled"
                victim = job_of[busy[0]]
                slurm.run("scancel", victim)
                stdout, _ = proc.communicate(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            log = (tmp_path / "infer.err").read_text()
            assert proc.returncode == 0, log[-3000:]
            assert f"existing cluster at {address} with 2 workers" in log
            summary = json.loads(stdout)
            assert summary["n_rows"] == len(truth) == sum(summary["status_counts"].values())
            _check_catalog(tmp_path / "catalog", truth.index)
            assert victim not in slurm.jobs()
            # the adaptive cluster keeps two jobs: a replacement is submitted for the cancelled one
            _wait_for(lambda: len(set(slurm.jobs()) - first_jobs) >= 1, 60, "a replacement job", detail)
    finally:
        cluster.terminate()                      # the command closes its cluster: scancel of its jobs
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
    assert cluster.returncode == 0, detail()
    _wait_for(lambda: not slurm.jobs(), 60, "the jobs' end after the cluster stopped", detail)
