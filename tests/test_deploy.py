"""Deployment: the SLURM preset, the Kubernetes manifest, the Dockerfile, and sedflow on external clusters.

What cannot run here (sbatch, a Kubernetes API) is checked as far as the machine allows: the
job script dask-jobqueue generates from the preset (and a worker started from it joining the
scheduler with its lifetime), the manifest's structure and image tag.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dask.utils import parse_bytes
from distributed import Client

import sedflow_dask
from sedflow_dask.cli import build_parser, main
from sedflow_dask.deploy import (
    K8S_MANIFEST,
    K8S_TLS_SECRET,
    SLURM_PRESET,
    SlurmPreset,
    customize_k8s_manifest,
    image_reference,
    k8s_manifest,
    k8s_uses_tls,
    load_slurm_preset,
    parse_walltime,
    slurm_cluster,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _private_tls_dir(tmp_path, monkeypatch):
    """The SLURM cluster's certificates go to a test directory, not to ~/.sedflow/tls."""
    monkeypatch.setenv("SEDFLOW_TLS_DIR", str(tmp_path / "tls"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], log) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is left."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


# ------------------------------------------------------------------------------------ SLURM

def test_pins_are_the_installed_versions():
    """The job-script checks below run the pinned dask-jobqueue against the pinned distributed."""
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for name in ("dask-jobqueue", "distributed", "dask"):
        assert importlib.metadata.version(name) == pins[name], name


def test_slurm_job_script_has_resources_lifetime_and_stagger(tmp_path):
    from dask_jobqueue.slurm import slurm_format_bytes_ceil

    preset = load_slurm_preset()
    assert preset.lifetime_s + preset.lifetime_stagger_s < preset.walltime_s
    cluster = slurm_cluster(preset, dashboard_address=":0")   # builds a scheduler here, submits nothing
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    words = script.split()
    assert words[words.index("--lifetime") + 1] == preset.lifetime
    assert words[words.index("--lifetime-stagger") + 1] == preset.lifetime_stagger
    assert "--lifetime-restart" not in words
    # TLS by default: the workers reach the scheduler over tls:// with the certificate directory's files
    tls = tmp_path / "tls"
    assert cluster.scheduler_address.startswith("tls://")
    assert words[words.index("--protocol") + 1] == "tls://"
    for flag, name in (("--tls-ca-file", "ca.pem"), ("--tls-cert", "cert.pem"), ("--tls-key", "key.pem")):
        assert words[words.index(flag) + 1] == str(tls / name)
    assert f"export DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__KEY={tls / 'key.pem'}\n" in script
    assert f"#SBATCH --cpus-per-task={preset.cores}\n" in script
    assert f"#SBATCH --mem={slurm_format_bytes_ceil(parse_bytes(preset.memory))}\n" in script
    assert f"#SBATCH -t {preset.walltime}\n" in script
    assert words[words.index("--nworkers") + 1] == str(preset.processes)
    assert words[words.index("--nthreads") + 1] == str(preset.cores // preset.processes)
    assert words[words.index("--local-directory") + 1] == preset.local_directory
    for directive in preset.job_extra_directives:
        assert f"#SBATCH {directive}\n" in script


def test_a_worker_from_the_job_script_joins_with_its_lifetime(tmp_path):
    """Run the generated job script (its #SBATCH lines are comments to bash) against the TLS scheduler."""
    preset = SlurmPreset(cores=1, processes=1, memory="1GB", walltime="00:30:00", lifetime="20m",
                         lifetime_stagger="1m", local_directory=str(tmp_path / "scratch"))
    cluster = slurm_cluster(preset, dashboard_address=":0")
    worker = None
    try:
        script = tmp_path / "job.sh"
        script.write_text(cluster.job_script())
        with open(tmp_path / "worker.log", "w") as log:
            worker = _start(["bash", str(script)], log)
        with Client(cluster, timeout="30s") as client:
            client.wait_for_workers(1, timeout=90)
            lifetimes = client.run(lambda dask_worker: dask_worker.lifetime)
        assert len(lifetimes) == 1
        assert all(19 * 60 <= t <= 21 * 60 for t in lifetimes.values()), lifetimes
        assert all(address.startswith("tls://") for address in lifetimes)
    finally:
        if worker is not None:
            _stop([worker])
        cluster.close()


@pytest.mark.parametrize(("change", "message"), [
    ({"lifetime": "230m", "lifetime_stagger": "10m"}, "shorter than the walltime"),
    ({"lifetime": "3h30m"}, "no compound"),
    ({"lifetime_stagger": "4h"}, "lifetime_stagger < lifetime"),
    ({"cores": 30}, "multiple of processes"),
    ({"memory": "lots"}, "memory"),
    ({"walltime": "four hours"}, "SLURM time limit"),
    ({"worker_extra_args": ["--lifetime-restart"]}, "lifetime"),
    ({"nodes": 2}, "unknown keys"),
])
def test_slurm_preset_is_checked(tmp_path, change, message):
    data = {**yaml.safe_load(SLURM_PRESET.read_text()), **change}
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message):
        load_slurm_preset(path)


def test_unquoted_walltime_is_refused(tmp_path):
    path = tmp_path / "preset.yaml"
    path.write_text(SLURM_PRESET.read_text().replace('walltime: "04:00:00"', "walltime: 12:00:00"))
    with pytest.raises(ValueError, match="quote it"):
        load_slurm_preset(path)


def test_parse_walltime():
    assert parse_walltime("30") == 1800
    assert parse_walltime("30:15") == 1815
    assert parse_walltime("04:00:00") == 4 * 3600
    assert parse_walltime("1-12") == 36 * 3600
    assert parse_walltime("2-00:30:00") == 48 * 3600 + 1800


def test_cluster_slurm_dry_run_prints_the_job_script(capsys):
    assert main(["cluster", "slurm", "--dry-run", "--jobs", "2"]) == 0
    out, err = capsys.readouterr()
    assert "#SBATCH -t 04:00:00" in out and "--lifetime-stagger 10m" in out
    assert "--protocol tls://" in out and "--tls-key" in out
    assert "would submit 2 jobs" in err


def test_cluster_slurm_insecure_is_loudly_warned(tmp_path, capsys):
    assert main(["cluster", "slurm", "--dry-run", "--insecure"]) == 0
    out, err = capsys.readouterr()
    assert "--tls" not in out and "--protocol" not in out
    assert "INSECURE: the SLURM cluster's scheduler listens WITHOUT TLS" in err
    assert not (tmp_path / "tls").exists()


def test_cluster_slurm_without_sbatch_says_it_is_a_dry_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # no sbatch there, also where SLURM is installed
    assert main(["cluster", "slurm"]) == 0
    out, err = capsys.readouterr()
    assert "sbatch is not on PATH" in err and "DRY RUN" in err
    assert "#SBATCH" in out


# ------------------------------------------------------------------------------- Kubernetes

def test_k8s_manifest_image_is_this_release():
    raw = yaml.safe_load(K8S_MANIFEST.read_text())
    containers = [c for role in ("scheduler", "worker") for c in raw["spec"][role]["spec"]["containers"]]
    assert containers
    for c in containers:
        assert c["image"].rsplit(":", 1)[1] == sedflow_dask.__version__
        assert c["image"] == image_reference()
    assert raw["metadata"]["labels"]["app.kubernetes.io/version"] == sedflow_dask.__version__


def test_k8s_manifest_has_scheduler_and_worker_specs():
    m = k8s_manifest()
    assert (m["apiVersion"], m["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    sched = m["spec"]["scheduler"]
    assert sched["spec"]["containers"][0]["args"][:2] == ["dask", "scheduler"]
    assert sched["service"]["selector"]["dask.org/cluster-name"] == m["metadata"]["name"]
    assert {p["port"] for p in sched["service"]["ports"]} == {8786, 8787}
    worker = m["spec"]["worker"]
    assert worker["replicas"] >= 1
    args = worker["spec"]["containers"][0]["args"]
    assert args[:2] == ["dask", "worker"]
    for flag in ("--nthreads", "--memory-limit", "--lifetime", "--lifetime-stagger"):
        assert flag in args
    assert int(args[args.index("--nthreads") + 1]) == int(worker["spec"]["containers"][0]["resources"]["limits"]["cpu"])


def test_k8s_manifest_with_another_tag_is_refused(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(K8S_MANIFEST.read_text().replace(f"sedflow_dask:{sedflow_dask.__version__}", "sedflow_dask:latest"))
    with pytest.raises(ValueError, match="not this release's image"):
        k8s_manifest(path)
    assert k8s_manifest(K8S_MANIFEST, version=sedflow_dask.__version__)


def test_cluster_k8s_writes_the_checked_manifest(tmp_path, capsys):
    out = tmp_path / "cluster.yaml"
    assert main(["cluster", "k8s", "--name", "demo", "--workers", "3", "--out", str(out)]) == 0
    written = yaml.safe_load(out.read_text())
    assert written == customize_k8s_manifest(k8s_manifest(), name="demo", workers=3)
    assert written["metadata"]["name"] == "demo" and written["spec"]["worker"]["replicas"] == 3
    assert written["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == "demo"
    assert k8s_manifest(out)   # still valid
    assert written["spec"]["worker"]["spec"]["containers"][0]["args"][2] == "tls://demo-scheduler:8786"
    err = capsys.readouterr().err
    assert f"kubectl apply -f {out}" in err and "svc/demo-scheduler" in err
    tls = tmp_path / "tls"
    assert f"create secret generic {K8S_TLS_SECRET} --from-file=ca.pem={tls / 'ca.pem'}" in err
    assert "--scheduler tls://localhost:8786 " in err


@pytest.mark.skipif(importlib.util.find_spec("dask_kubernetes") is not None, reason="dask-kubernetes installed")
def test_cluster_k8s_apply_without_dask_kubernetes_is_a_clear_error(capsys):
    assert main(["cluster", "k8s", "--apply", "--insecure"]) == 2
    assert "needs dask-kubernetes" in capsys.readouterr().err


def test_cluster_k8s_apply_refuses_the_tls_manifest(capsys):
    assert main(["cluster", "k8s", "--apply"]) == 2
    assert "does not hold the cluster's certificates" in capsys.readouterr().err


def test_k8s_manifest_uses_tls_from_the_secret():
    m = k8s_manifest()
    assert k8s_uses_tls(m)
    for role in ("scheduler", "worker"):
        pod = m["spec"][role]["spec"]
        (volume,) = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == K8S_TLS_SECRET and volume["secret"]["defaultMode"] == 0o400
        container = pod["containers"][0]
        mount = next(v for v in container["volumeMounts"] if v["name"] == volume["name"])
        args = container["args"]
        for flag in ("--tls-ca-file", "--tls-cert", "--tls-key"):
            assert args[args.index(flag) + 1].startswith(mount["mountPath"] + "/")
        assert {e["name"] for e in container["env"]} >= {"DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__CERT",
                                                          "DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__TLS__KEY"}
    probes = [c[p] for c in m["spec"]["scheduler"]["spec"]["containers"] for p in ("readinessProbe", "livenessProbe")]
    assert all(p["httpGet"]["scheme"] == "HTTPS" for p in probes)
    worker_args = m["spec"]["worker"]["spec"]["containers"][0]["args"]
    assert worker_args[2] == f"tls://{m['metadata']['name']}-scheduler:8786"


def test_k8s_insecure_strips_tls_and_a_plain_manifest_needs_insecure(tmp_path, capsys):
    plain = customize_k8s_manifest(k8s_manifest(), name="open", insecure=True)
    assert not k8s_uses_tls(plain)
    text = yaml.safe_dump(plain)
    assert "tls" not in text.lower() and "https" not in text.lower()
    assert plain["spec"]["worker"]["spec"]["containers"][0]["args"][2] == "tcp://open-scheduler:8786"
    path = tmp_path / "plain.yaml"
    path.write_text(text)
    assert main(["cluster", "k8s", "--manifest", str(path), "--out", str(tmp_path / "out.yaml")]) == 2
    assert "without TLS" in capsys.readouterr().err
    assert main(["cluster", "k8s", "--manifest", str(path), "--insecure", "--out", str(tmp_path / "out.yaml")]) == 0
    err = capsys.readouterr().err
    assert "INSECURE" in err and "--scheduler tcp://localhost:8786" in err


def test_dockerfile_pins_python_torch_and_constraints():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[12]-slim$", text, re.M)
    makefile_pin = re.search(r"^TORCH_PIN \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    assert f"ARG TORCH_PIN={makefile_pin}" in text
    torch_at = text.index('"$TORCH_PIN"')
    package_at = text.index("pip install -c constraints.txt")
    assert torch_at < package_at


def test_readme_cluster_commands_parse():
    parser = build_parser()
    lines = [ln.strip() for ln in (ROOT / "deploy" / "README.md").read_text().splitlines()]
    commands = [ln.split("#")[0].rstrip(" &") for ln in lines if ln.startswith(("sedflow cluster", "sedflow simulate"))]
    assert len(commands) >= 5
    for cmd in commands:
        parser.parse_args(shlex.split(cmd)[1:])


# -------------------------------------------------------------------------- external clusters

def test_simulate_and_infer_on_an_external_scheduler_and_two_workers(tmp_path, mock_ingested):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    with open(tmp_path / "cluster.log", "w") as log:
        try:
            procs.append(_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                 "--port", str(port), "--dashboard-address", "127.0.0.1:0"], log))
            for name in ("w1", "w2"):
                procs.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                                     "--nthreads", "1", "--name", name, "--no-dashboard",
                                     "--local-directory", str(tmp_path / name)], log))
            with Client(address, timeout="60s") as client:
                client.wait_for_workers(2, timeout=90)
            out = tmp_path / "training"
            run = subprocess.run([sys.executable, "-m", "sedflow_dask", "simulate", "--n", "3000", "--out", str(out),
                                  "--scheduler", address, "--set", "simulate.chunk_rows=1024"],
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr
            assert f"existing cluster at {address} with 2 workers" in run.stderr
            summary = json.loads(run.stdout)
            assert summary["n_kept"] == 3000 and summary["n_drawn"] > 3000
            assert (out / "_common_metadata").is_file() and (out / "manifest.json").is_file()
            assert len(list(out.glob("*.parquet"))) == summary["n_chunks"]
            with Client(address, timeout="30s") as client:
                executed = client.run(lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count))
            names = sorted(name for name, _ in executed.values())
            assert names == ["w1", "w2"]
            assert all(count > 0 for _, count in executed.values()), executed   # both workers did work
            # the main job against the same scheduler: the model reaches each external worker once
            cat = tmp_path / "catalog"
            run = subprocess.run([sys.executable, "-m", "sedflow_dask", "infer", str(mock_ingested[0]), "--out", str(cat),
                                  "--samples", "100", "--no-fallback", "--no-progress", "--scheduler", address],
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr
            assert f"existing cluster at {address} with 2 workers" in run.stderr and "infer:" in run.stderr
            summary = json.loads(run.stdout)
            from sedflow_dask.infer import load_count
            from sedflow_dask.query import query_catalog

            counts = query_catalog(cat, "SELECT count(*) AS n, count(DISTINCT nsaid) AS d FROM catalog")
            assert counts["n"][0] == counts["d"][0] == summary["n_rows"] == sum(summary["status_counts"].values())
            with Client(address, timeout="30s") as client:
                assert sorted(n for _, n in client.run(load_count).values()) == [1, 1]
        finally:
            _stop(procs)


def test_cluster_local_prints_an_address_and_stops():
    cmd = [sys.executable, "-m", "sedflow_dask", "cluster", "local", "--workers", "1", "--port", "0",
           "--set", "cluster.dashboard_address=127.0.0.1:0", "--for", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        m = re.fullmatch(r"scheduler (tcp://127\.0\.0\.1:\d+)\n", first)
        assert m, first + proc.stderr.read()
        with Client(m[1], timeout="10s") as client:    # the address works while it runs
            assert len(client.scheduler_info()["workers"]) == 1
        out = first + proc.stdout.read()    # to EOF: the process ends after --for 3
        err = proc.stderr.read()            # (a few lines: no pipe can fill up meanwhile)
        assert proc.wait(timeout=60) == 0, err
        assert re.search(r"^dashboard http://127\.0\.0\.1:\d+/status$", out, re.M)
        assert "running for 3 s" in err
    finally:
        _stop([proc])
