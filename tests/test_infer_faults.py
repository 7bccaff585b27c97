"""Faults and bad input for ``sedflow infer``, with real processes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sedflow_in_process import run_sedflow

from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig, Config, FallbackConfig, SamplingConfig
from sedflow_dask.infer import infer_catalog, input_pixels
from sedflow_dask.infer.catalog import partition_is_complete, run_fingerprint
from sedflow_dask.infer.run import run_settings
from sedflow_dask.posterior import DEFAULT_MODEL_DIR, load_posterior_model

#: What `sedflow infer --samples 300 --no-fallback` runs.
CONFIG = Config(sample=SamplingConfig(n_samples=300), fallback=FallbackConfig(enabled=False))


def rows(catalog) -> tuple[int, int]:
    return duckdb.sql(f"select count(*), count(distinct nsaid) from "
                      f"read_parquet('{catalog}/dataset/Norder=*/Dir=*/Npix=*.parquet')").fetchall()[0]


def table(catalog) -> pa.Table:
    files = sorted(Path(catalog).glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("nsaid")


def assert_same_catalog(a: pa.Table, b: pa.Table) -> None:
    """The same rows, statuses and integers; floats equal to round-off, NaN = NaN.

    The catalogs come from different worker set-ups (a one-worker subprocess cluster and this
    module's two-worker cluster), whose float arithmetic may round differently, so floats are
    compared with a tolerance; everything decided from them (status, method, routing) exactly.
    """
    import pandas as pd

    assert a.schema.equals(b.schema)
    pd.testing.assert_frame_equal(a.drop_columns(["samples"]).to_pandas(), b.drop_columns(["samples"]).to_pandas(),
                                  check_exact=False, rtol=1e-5, atol=1e-6)
    for name in a.schema.names:
        if not pa.types.is_floating(a.schema.field(name).type) and name != "samples":
            assert a[name].equals(b[name]), name
    for x, y in zip(a["samples"].to_pylist(), b["samples"].to_pylist(), strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_allclose(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                       rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def client():
    with dask_client(ClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"), stream=None) as c:
        yield c


@pytest.fixture(scope="module")
def reference(mock_ingested, client, tmp_path_factory):
    """The uninterrupted catalog."""
    out = tmp_path_factory.mktemp("reference") / "catalog"
    infer_catalog(CONFIG, mock_ingested[0], out, client=client, progress=False, stream=None)
    return out


def test_worker_killed_mid_task_loses_nothing(mock_ingested, client, tmp_path):
    out = tmp_path / "killed"
    config = dataclasses.replace(CONFIG, sample=SamplingConfig(n_samples=1500))  # tasks of ~1 s
    pids_before = {pid for pid in client.run(os.getpid).values()}
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if any("infer-flow" in str(k) for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                time.sleep(0.3)  # inside the task
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    summary = infer_catalog(config, mock_ingested[0], out, client=client, progress=False, stream=None)
    killer.join()
    assert killed and killed[0] in pids_before
    n, distinct = rows(out)
    assert n == distinct == summary.n_rows == sum(p.n_rows for p in input_pixels(mock_ingested[0]))
    assert killed[0] not in set(client.run(os.getpid).values())  # the nanny restarted it


def test_interrupted_run_resumes_to_the_same_catalog(mock_ingested, reference, client, tmp_path):
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "sedflow_dask", "infer", str(mock_ingested[0]), "--out", str(out), "--samples", "300",
           "--no-fallback", "--workers", "1", "--no-progress", "--set", "cluster.dashboard_address=':0'"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.stderr.read().decode()}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    done = sorted(out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))
    pixels = input_pixels(mock_ingested[0])
    assert 2 <= len(done) < len(pixels), "interrupted part-way"
    assert not (out / "hats.properties").exists()
    model = load_posterior_model()
    fp = run_fingerprint(model.sha256, run_settings(CONFIG, model.meta))
    by_path = {str(p.path).split("dataset/")[1]: p for p in pixels}
    assert all(partition_is_complete(f, fp, by_path[str(f).split("dataset/")[1]]) for f in done)
    stamps = {f: f.stat().st_mtime_ns for f in done}
    summary = infer_catalog(CONFIG, mock_ingested[0], out, client=client, progress=False, stream=None)
    assert summary.n_skipped == len(done)
    assert {f: f.stat().st_mtime_ns for f in done} == stamps, "completed partitions were skipped, not rewritten"
    assert_same_catalog(table(out), table(reference))


def _broken_model(tmp_path, how: str) -> Path:
    d = tmp_path / f"model_{how}"
    shutil.copytree(DEFAULT_MODEL_DIR, d)
    if how == "corrupt":
        data = bytearray((d / "weights.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (d / "weights.pt").write_bytes(bytes(data))
    else:
        (d / "model.json").write_text((d / "model.json").read_text().replace(
            '"format": "sedflow_dask.posterior_model"', '"format": "someone_else.flow"'))
    return d


@pytest.mark.parametrize("how,message", [("corrupt", "sha256"), ("foreign", "not a sedflow_dask posterior model")])
def test_bad_model_fails_before_any_work(mock_ingested, tmp_path, how, message):
    model = _broken_model(tmp_path, how)
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        infer_catalog(CONFIG, mock_ingested[0], out, model_dir=model, progress=False, stream=None)
    assert not out.exists()
    res = run_sedflow(["infer", str(mock_ingested[0]), "--out", str(out), "--model", str(model)], tmp_path)
    assert res.returncode == 2 and message in res.stderr and "dask:" not in res.stderr
    assert not out.exists()


def _edited_copy(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    first = sorted(dst.glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))[0]
    t = pq.read_table(first).to_pandas()
    edit(t)
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), first)
    return first


def test_bad_rows_get_statuses_and_nothing_hangs(mock_ingested, client, tmp_path):
    usable: list[int] = []

    def edit(t):
        idx = np.flatnonzero(t["ingest_reason"].to_numpy() == 0)[:7]
        usable.extend(t["nsaid"].to_numpy()[idx].tolist())
        # inference reads fluxes and inverse variances: a band is measured where both are finite
        # and ivar > 0, and fewer than three measured bands is no usable photometry
        t.loc[idx[0], ["flux_g", "flux_r", "flux_i"]] = np.nan   # two bands left, none flagged by ingestion
        t.loc[idx[1], ["flux_u", "flux_r", "ivar_i"]] = [np.nan, np.inf, -1.0]  # three unusable bands, each absent
        t.loc[idx[2], ["flux_u", "flux_g"]] = [10 ** (14.5 / 2.5), 0.1]  # u = 8, g = 25 mag: no galaxy of the prior
        t.loc[idx[3], [f"ivar_{b}" for b in "ugriz"]] = 1e12      # σ = 10^-6 nmgy, far below the training errors
        t.loc[idx[4], "z"] = 0.35                                 # beyond the prior's redshift range
        t.loc[idx[5], [f"ivar_{b}" for b in "ugriz"]] = 0.0       # no band measured
        t.loc[idx[6], "ivar_u"] = 0.0                             # u unmeasured, four bands left

    ing = tmp_path / "ingested"
    _edited_copy(mock_ingested[0], ing, edit)
    out = tmp_path / "catalog"
    config = dataclasses.replace(CONFIG, fallback=FallbackConfig(max_galaxies=1, max_steps=200))
    summary = infer_catalog(config, ing, out, client=client, progress=False, stream=None)
    n, distinct = rows(out)
    assert n == distinct == summary.n_rows
    got = {row[0]: row[1:] for row in duckdb.sql(
        f"select nsaid, status, method, fallback_reason from read_parquet('{out}/dataset/Norder=*/Dir=*/Npix=*.parquet') "
        f"where nsaid in ({','.join(map(str, usable))})").fetchall()}
    for i in (0, 1, 4, 5):  # no usable photometry or redshift: no posterior, not routed
        assert got[usable[i]] == ("bad_input", None, 0), i
    # photometry no galaxy of the prior makes, and errors so small that no draw fits within them:
    # the importance weights reject the flow for both; 200 MCMC steps cannot converge, so each
    # either ran the capped fallback or was skipped by the cap, never kept as "ok"/"reweighted"
    for i in (2, 3):
        status, method, reason = got[usable[i]]
        assert reason != 0 and (status, method) in {("unconverged", "mcmc"), ("skipped", "flow")}, (i, got[usable[i]])
    # an absent band is not bad input: the galaxy is inferred from the other four
    assert got[usable[6]][0] not in ("bad_input", "cut") and got[usable[6]][1] is not None, got[usable[6]]


def test_input_that_is_not_an_ingested_catalog(mock_ingested, tmp_path):
    ing = tmp_path / "ingested"
    first = _edited_copy(mock_ingested[0], ing, lambda t: t.pop("sigma_z"))
    with pytest.raises(ValueError, match=r"Npix=.*missing column\(s\) \['sigma_z'\]"):
        infer_catalog(CONFIG, ing, tmp_path / "out", progress=False, stream=None)
    assert first.exists()
    with pytest.raises(ValueError, match="not a HATS catalog"):
        infer_catalog(CONFIG, tmp_path, tmp_path / "out2", progress=False, stream=None)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a catalog"):
        infer_catalog(CONFIG, mock_ingested[0], tmp_path / "occupied", progress=False, stream=None)
