"""TLS wherever a scheduler listens beyond loopback: certificates, refusals, and ``sedflow infer`` over ``tls://``.

A real ``sedflow cluster local --host 0.0.0.0`` (scheduler, nanny and worker processes) is started
once for the module; the checks connect to it as a plain ``tcp://`` client, as a TLS client with
another CA's certificate, over plain HTTP, and as ``sedflow infer`` with the cluster's certificates.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from distributed import Client
from distributed.security import Security
from sedflow_in_process import run_sedflow

from sedflow_dask.cli import main
from sedflow_dask.deploy.tls import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    TLS_DIR_ENV,
    client_security,
    ensure_tls_dir,
    is_loopback,
    tls_security,
)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()   # the command closes its cluster on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_cluster(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, dict[str, str]]:
    """``sedflow cluster local ARGS`` in a subprocess; returns it and its announced fields once it is up."""
    cmd = [sys.executable, "-m", "sedflow_dask", "cluster", "local", "--workers", "1", "--port", "0",
           "--set", "cluster.dashboard_address=:0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    fields: dict[str, str] = {}
    for line in proc.stdout:   # the announcement ends with the "use it:" line
        key, _, value = line.partition(" ")
        fields[key.rstrip(":")] = value.strip()
        if line.startswith("use it:"):
            return proc, fields
    _stop(proc)
    raise AssertionError(f"sedflow cluster local ended without an address:\n{proc.stderr.read()}")


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """``sedflow cluster local --host 0.0.0.0`` (TLS by default), its certificate directory and its stderr file."""
    tls_dir = tmp_path_factory.mktemp("tls") / "certs"
    proc, fields = _start_cluster(["--host", "0.0.0.0", "--tls-dir", str(tls_dir), "--for", "600"])
    try:
        yield fields, tls_dir
    finally:
        _stop(proc)


def test_beyond_loopback_the_cluster_listens_with_tls_only(tls_cluster):
    fields, tls_dir = tls_cluster
    address = fields["scheduler"]
    assert address.startswith("tls://"), fields
    assert fields["dashboard"].startswith("https://"), fields
    assert str(tls_dir) in fields["tls"]
    # a private directory: only its owner reads the key that admits a client
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for name in (CA_FILE, CERT_FILE, KEY_FILE):
        assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600, name
    port = address.rsplit(":", 1)[1]

    # a plain tcp:// client: the TLS listener drops the connection before any message is read
    with pytest.raises(OSError):
        Client(f"tcp://127.0.0.1:{port}", timeout="5s")
    # a TLS client whose certificate another CA signed: the handshake fails (mutual TLS)
    with pytest.raises(OSError):
        Client(address, timeout="5s", security=Security.temporary())
    # the dashboard answers HTTPS only
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{fields['dashboard'].rsplit(':', 1)[1]}", timeout=5)
    health = fields["dashboard"].replace("/status", "/health")
    insecure_ctx = ssl.create_default_context()
    insecure_ctx.check_hostname = False
    insecure_ctx.verify_mode = ssl.CERT_NONE    # a self-signed certificate: the check here is the scheme
    with urllib.request.urlopen(health, timeout=10, context=insecure_ctx) as r:
        assert r.read() == b"ok"
    # the cluster's own certificates admit a client
    with Client(address, timeout="20s", security=tls_security(tls_dir)) as client:
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        workers = client.scheduler_info()["workers"]
        assert workers and all(w.startswith("tls://") for w in workers)
        # the workers' HTTP servers (/health, profiles) answer HTTPS only too
        for info in workers.values():
            port = info["services"]["dashboard"]
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=10, context=insecure_ctx) as r:
                assert r.read() == b"ok"
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)


def test_infer_runs_through_the_tls_address(tls_cluster, mock_ingested, tmp_path):
    fields, tls_dir = tls_cluster
    address = fields["scheduler"]
    cat = tmp_path / "catalog"
    run = run_sedflow(["infer", str(mock_ingested[0]), "--out", str(cat), "--samples", "100", "--no-fallback",
                       "--no-progress", "--scheduler", address, "--tls-dir", str(tls_dir)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"existing cluster at {address} with 1 workers; dashboard https://" in run.stderr
    summary = json.loads(run.stdout)
    from sedflow_dask.query import query_catalog

    counts = query_catalog(cat, "SELECT count(*) AS n, count(DISTINCT nsaid) AS d FROM catalog")
    assert counts["n"][0] == counts["d"][0] == summary["n_rows"] == len(mock_ingested[1])


def test_a_client_without_the_certificates_is_a_clear_error(tls_cluster, tmp_path, capsys):
    address = tls_cluster[0]["scheduler"]
    empty = tmp_path / "no-certs"
    code = main(["simulate", "--n", "100", "--out", str(tmp_path / "training"), "--scheduler", address,
                 "--tls-dir", str(empty)])
    assert code == 2
    assert "lacks ca.pem, cert.pem, key.pem" in capsys.readouterr().err


def test_insecure_is_an_explicit_loud_opt_out(tmp_path):
    proc, fields = _start_cluster(["--host", "0.0.0.0", "--insecure", "--for", "1"],
                                  env={TLS_DIR_ENV: str(tmp_path / "unused")})
    try:
        assert fields["scheduler"].startswith("tcp://"), fields
        assert "tls" not in fields
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read()
    finally:
        _stop(proc)
    assert "INSECURE: sedflow cluster local --host 0.0.0.0 listens WITHOUT TLS" in err
    assert not (tmp_path / "unused").exists()     # no certificates made for a cluster that does not use them


def test_tls_on_loopback_when_asked(tmp_path):
    proc, fields = _start_cluster(["--tls", "--tls-dir", str(tmp_path / "certs"), "--for", "1"])
    try:
        assert re.fullmatch(r"tls://127\.0\.0\.1:\d+", fields["scheduler"]), fields
        assert proc.wait(timeout=60) == 0
    finally:
        _stop(proc)
    assert (tmp_path / "certs" / KEY_FILE).is_file()


def test_cluster_local_tls_and_insecure_contradict(capsys):
    assert main(["cluster", "local", "--tls", "--insecure", "--for", "0"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_certificates_are_reused_while_valid_and_private(tmp_path):
    d = ensure_tls_dir(tmp_path / "certs", quiet=True)
    key = (d / KEY_FILE).read_bytes()
    assert ensure_tls_dir(d, quiet=True) == d and (d / KEY_FILE).read_bytes() == key
    assert (d / CA_FILE).read_bytes() == (d / CERT_FILE).read_bytes()   # self-signed: the CA is the certificate
    sec = tls_security(d)
    assert sec.require_encryption
    assert sec.tls_client_key == sec.tls_worker_key == sec.tls_scheduler_key == str(d / KEY_FILE)
    d.chmod(0o750)
    with pytest.raises(ValueError, match="readable by other users"):
        ensure_tls_dir(d, quiet=True)
    with pytest.raises(ValueError, match="chmod 700"):
        tls_security(d)


def test_client_security_follows_the_address(tmp_path, monkeypatch):
    monkeypatch.setenv(TLS_DIR_ENV, str(tmp_path / "default"))
    assert client_security("tcp://10.0.0.1:8786") is None
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "default"))):
        client_security("tls://10.0.0.1:8786")          # no certificates anywhere: say where they were looked for
    d = ensure_tls_dir(quiet=True)
    assert d == tmp_path / "default"
    assert client_security("tls://10.0.0.1:8786").tls_ca_file == str(d / CA_FILE)


@pytest.mark.parametrize(("host", "loopback"), [
    (None, True), ("localhost", True), ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("login01", False), ("::", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_tls_dir_default_is_private_to_the_user(tmp_path, monkeypatch):
    monkeypatch.delenv(TLS_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    from sedflow_dask.deploy.tls import default_tls_dir

    assert default_tls_dir() == Path(tmp_path) / ".sedflow" / "tls"
