"""``sedflow demo`` (what ``make demo`` runs), end to end on small sizes, as a subprocess."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sedflow_dask.cli import main
from sedflow_dask.infer import STATUSES
from sedflow_dask.ingest.io import DATA_GLOB
from sedflow_dask.query import query_catalog

N = 300
ARGS = ["demo", "--n", str(N), "--samples", "200", "--max-fallback", "2", "--workers", "1", "--no-progress",
        "--set", "fallback.max_seconds_per_galaxy=1"]


def _demo(cwd, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedflow_dask", *ARGS, *extra], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    res = _demo(d)
    assert res.returncode == 0, res.stderr[-3000:]
    return d, res


def test_outputs_exist_and_counts_add_up(demo_run):
    d, res = demo_run
    for path in ("demo/nsa_mock.fits", "demo/nsa_mock_truth.parquet", "demo/nsa_ingested/hats.properties",
                 "demo/validation.png", "demo/validation.json", "demo/massive_star_forming.csv",
                 "catalogs/demo/hats.properties", "catalogs/demo/provenance.json"):
        assert (d / path).is_file(), path
    assert (d / "demo" / "validation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    n_in = sum(pq.ParquetFile(f).metadata.num_rows for f in (d / "demo" / "nsa_ingested").glob(DATA_GLOB))
    assert n_in == N + 2
    cat = d / "catalogs" / "demo"
    got = query_catalog(cat, "SELECT count(*) AS n, count(DISTINCT nsaid) AS d, "
                             "count(*) FILTER (WHERE method = 'mcmc') AS n_mcmc FROM catalog").iloc[0]
    assert got["n"] == got["d"] == n_in
    assert got["n_mcmc"] <= 2  # the fallback cap
    status = query_catalog(cat, "SELECT status, count(*) AS n FROM catalog GROUP BY status")
    counts = dict(zip(status["status"], status["n"]))
    assert set(counts) <= set(STATUSES) and sum(counts.values()) == n_in
    # every count the demo printed is the catalog's
    line = next(x for x in res.stdout.splitlines() if "galaxies -> " in x and "catalogs/demo" in x)
    for s, k in counts.items():
        assert f"{s} {k:,}" in line

    metrics = json.loads((d / "demo" / "validation.json").read_text())
    assert metrics["n_galaxies"] > 0.5 * counts["ok"] and metrics["n_stored_draws"] == 100
    assert 0.0 < metrics["log_mstar_median_abs_error"] < 0.5
    assert all(0.4 < c <= 1.0 for c in metrics["coverage_box"]["68"].values())

    top = pd.read_csv(d / "demo" / "massive_star_forming.csv")
    assert 0 < len(top) <= 100
    assert (top["z"] < 0.05).all() and (top["log_ssfr"] > -11).all()
    assert top["log_mstar_p50"].is_monotonic_decreasing
    assert np.allclose(top["log_ssfr"], top["log_sfr_1gyr_p50"] - top["log_mstar_p50"])


def test_prints_where_everything_is_and_the_next_commands_work(demo_run, monkeypatch, capsys):
    d, res = demo_run
    out = res.stdout
    for text in ("catalogs/demo/", "demo/validation.png", "demo/massive_star_forming.csv", "next:",
                 "sedflow query catalogs/demo", "sedflow cone catalogs/demo", "sedflow resample catalogs/demo"):
        assert text in out, text
    after_next = out.split("\nnext:\n", 1)[1].splitlines()
    commands = [shlex.split(x.strip())[1:] for x in after_next if x.strip().startswith("sedflow ")]
    assert len(commands) >= 4
    monkeypatch.chdir(d)
    for args in commands:
        assert main(args) == 0, args
        capsys.readouterr()
    assert len(pd.read_parquet(d / "draws.parquet")) == 10_000


def test_rerun_reuses_finished_work(demo_run):
    d, _ = demo_run
    before = {f: f.stat().st_mtime_ns for f in (d / "catalogs" / "demo").glob(DATA_GLOB)}
    res = _demo(d)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reusing demo/nsa_mock.fits" in res.stdout
    n = len(before)
    assert f"{n} of {n} pixels already complete" in res.stdout
    assert {f: f.stat().st_mtime_ns for f in (d / "catalogs" / "demo").glob(DATA_GLOB)} == before


def test_fresh_refuses_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    assert main([*ARGS, "--fresh", "--workdir", str(tmp_path / "elsewhere"), "--out", str(tmp_path / "mine")]) == 2
    assert "not a catalog written by sedflow infer; not deleting it" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").exists()
