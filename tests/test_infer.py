"""``sedflow infer`` end to end on a real process cluster: catalog, statuses, models per worker,
resume, resample, lsdb, DuckDB. Fault tests are in test_infer_faults.py."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig, Config, FallbackConfig, SamplingConfig
from sedflow_dask.infer import STATUSES, catalog_schema, infer_catalog, input_pixels, load_count, summary_columns
from sedflow_dask.infer.catalog import partition_is_complete, partition_path
from sedflow_dask.infer.resample import resample_galaxy
from sedflow_dask.ingest import IngestReason, read_ingested
from sedflow_dask.ingest.reasons import BAND_BITS, CUT_BITS, DATA_VALIDITY_BITS

N_MOCK = 900  # conftest.mock_ingested
#: Small and fast, but the real pipeline: 300 draws per galaxy, a fallback capped at 3 galaxies
#: and 300 ensemble steps. Only the step bound may stop a chain (the time bound is out of reach),
#: so resample reruns the same chain however loaded the machine.
NO_TIME_BOUND_S = 1e9
#: The efficiency thresholds are raised so that every status of the flow occurs on the mock.
CONFIG = Config(sample=SamplingConfig(n_samples=300, n_stored=20, batch_galaxies=16, task_rows=40),
                fallback=FallbackConfig(max_galaxies=3, max_seconds_per_galaxy=NO_TIME_BOUND_S, max_steps=300,
                                        batch_galaxies=2, min_efficiency=0.15, ok_efficiency=0.3))
WEIGHT_COLUMNS = ("is_efficiency", "is_khat", "log_evidence", "log_evidence_se")


def data_glob(catalog) -> str:
    return f"{catalog}/dataset/Norder=*/Dir=*/Npix=*.parquet"


@pytest.fixture(scope="module")
def client():
    with dask_client(ClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"), stream=None) as c:
        yield c


@pytest.fixture(scope="module")
def ingested(mock_ingested):
    return mock_ingested


@pytest.fixture(scope="module")
def run(ingested, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("catalogs") / "mock"
    summary = infer_catalog(CONFIG, ingested[0], out, client=client, progress=False, stream=None)
    return out, summary


def test_every_input_row_once_with_a_status(run, ingested):
    out, summary = run
    inp = read_ingested(ingested[0]).set_index("nsaid").sort_index()
    con = duckdb.connect()
    n, distinct = con.sql(f"select count(*), count(distinct nsaid) from read_parquet('{data_glob(out)}')").fetchall()[0]
    assert n == distinct == len(inp) == summary.n_rows >= N_MOCK
    cat = con.sql(f"select * exclude (samples) from read_parquet('{data_glob(out)}')").df().set_index("nsaid")
    cat = cat.loc[inp.index]
    assert set(cat["status"]) <= set(STATUSES)
    reason = inp["ingest_reason"].to_numpy()
    bad = (reason & int(DATA_VALIDITY_BITS)) != 0
    cut = ((reason & int(CUT_BITS)) != 0) & ~bad
    assert bad.any() and cut.any(), "the mock has pathologies and flag cuts"
    np.testing.assert_array_equal(cat["status"].to_numpy() == "bad_input", bad)
    np.testing.assert_array_equal(cat["status"].to_numpy() == "cut", cut)
    usable = reason == 0
    assert cat["method"].isna().to_numpy()[~usable].all() and cat["method"].notna().to_numpy()[usable].all()
    assert cat.loc[~usable, "log_mstar_p50"].isna().all() and cat.loc[usable, "log_mstar_p50"].notna().all()
    # every usable galaxy is weighed; the weights alone route it, the ingest flags do not
    weights = cat[list(WEIGHT_COLUMNS)]
    assert weights[usable].notna().all().all() and weights[~usable].isna().all().all()
    eff, khat = cat["is_efficiency"].to_numpy(), cat["is_khat"].to_numpy()
    routed = cat["fallback_reason"].to_numpy() != 0
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(routed, usable & ((eff < CONFIG.fallback.min_efficiency)
                                                        | (khat > CONFIG.fallback.max_khat)))
    assert routed.any() and (usable & ~routed).any()
    assert summary.n_routed == routed.sum() and 1 <= summary.n_fallback <= CONFIG.fallback.max_galaxies
    # the fallback cap honestly marks the rest: skipped, with the flow's own draws
    assert set(cat.loc[routed, "status"]) <= {"mcmc", "unconverged", "skipped"}
    mc = cat["method"].to_numpy() == "mcmc"
    assert mc.sum() == summary.n_fallback and (cat.loc[mc, "mcmc_ess"] >= 0).all()
    assert set(cat.loc[mc, "status"]) <= {"mcmc", "unconverged"}
    assert (cat.loc[routed & ~mc, "method"] == "flow").all() and (cat.loc[routed & ~mc, "status"] == "skipped").all()
    kept = cat.loc[usable & ~routed]
    assert set(kept["method"]) <= {"importance", "mixture"}
    flow_kept = kept[kept["method"] == "importance"]
    np.testing.assert_array_equal(flow_kept["status"] == "ok",
                                  flow_kept["is_efficiency"] >= CONFIG.fallback.ok_efficiency)
    # the mixture's draws are not the flow's: never "ok"
    assert (kept.loc[kept["method"] == "mixture", "status"] == "reweighted").all()
    assert {"ok", "reweighted"} <= set(kept["status"])
    counts = cat["status"].value_counts().to_dict()
    assert {s: counts.get(s, 0) for s in STATUSES} == summary.status_counts


def test_summaries_are_sane_and_recover_the_truth(run, ingested):
    out, _ = run
    cat = duckdb.sql(f"select * from read_parquet('{data_glob(out)}') "
                     "where status in ('ok', 'reweighted')").df().set_index("nsaid")
    truth = ingested[1].loc[cat.index]
    for q in ("log_mstar", "log_mstar_surviving", "log_sfr_1gyr", "t_mw"):
        p = cat[[f"{q}_p02_5", f"{q}_p16", f"{q}_p50", f"{q}_p84", f"{q}_p97_5"]].to_numpy()
        assert np.all(np.diff(p, axis=1) >= 0), q
    assert (cat["log_mstar_surviving_p50"] < cat["log_mstar_formed_p50"]).all()
    assert np.allclose(cat["log_mstar_p50"], cat["log_mstar_formed_p50"])
    assert (cat["n_samples"] == CONFIG.sample.n_samples).all() and (cat["accept_frac"] > 0.05).all()
    # in-support mock galaxies: the posterior of log M* covers the truth about as often as it should
    # (rows whose θ does not give their fluxes have no truth to recover: the colour outliers, and
    # the golden rows, whose θ is NaN)
    cat, truth = cat[truth["theta_reproduces_flux"]], truth[truth["theta_reproduces_flux"]]
    assert truth["log_mstar"].notna().all() and len(cat) > 300
    lo, hi = cat["log_mstar_p02_5"].to_numpy(), cat["log_mstar_p97_5"].to_numpy()
    covered = (truth["log_mstar"].to_numpy() >= lo) & (truth["log_mstar"].to_numpy() <= hi)
    assert covered.mean() > 0.85
    assert np.median(np.abs(cat["log_mstar_p50"] - truth["log_mstar"])) < 0.3
    assert np.median(cat["chi2_median_model"]) < 5.0
    samples = np.stack(cat["samples"].map(np.asarray).to_numpy())
    assert samples.shape == (len(cat), CONFIG.sample.n_stored * 11)


def test_schema_layout_and_provenance(run, ingested):
    out, summary = run
    from sedflow_dask.posterior import load_posterior_model

    files = sorted(out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))
    assert len(files) == len(input_pixels(ingested[0])) >= 4
    assert all(pq.read_schema(f).names == catalog_schema().names for f in files)
    orders = [int(f.parent.parent.name.split("=")[1]) for f in files]
    assert sum(o >= 1 for o in orders) >= 4
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert not (out / "dataset" / "_metadata").exists() and (out / "dataset" / "_common_metadata").exists()
    assert summary_columns()[0] == "log_mstar_mean" and "t_mw_p97_5" in catalog_schema().names
    props = dict(line.split("=", 1) for line in (out / "hats.properties").read_text().splitlines()
                 if "=" in line and not line.startswith("#"))
    model = load_posterior_model()
    assert props["sedflow_model_sha256"] == model.sha256
    assert json.loads(props["sedflow_model"])["ssp_sha256"] == model.meta["ssp_sha256"]
    assert json.loads(props["sedflow_model"])["noise_sha256"] == model.meta["noise_sha256"]
    assert json.loads(props["sedflow_config"])["sample"]["n_samples"] == CONFIG.sample.n_samples
    assert props["sedflow_version"] and props["hats_nrows"] == str(summary.n_rows)
    assert props["hats_col_healpix"] == "_healpix_29"
    # the fallback cap is recorded, but outside the fingerprinted settings (a resume may change it)
    from sedflow_dask.infer.catalog import read_catalog_provenance

    prov = read_catalog_provenance(out)
    assert prov["fallback_cap_this_run"] == {"enabled": True, "max_galaxies": CONFIG.fallback.max_galaxies}
    assert "max_galaxies" not in prov["config"]["fallback"] and "min_efficiency" in prov["config"]["fallback"]
    # the importance-weight columns read back with DuckDB, and the data contracts describe them
    from pathlib import Path

    stats = duckdb.sql(f"select min(is_efficiency), max(is_efficiency), max(log_evidence_se), "
                       f"count(is_khat) from read_parquet('{data_glob(out)}') where method is not null").fetchall()[0]
    assert 0 < stats[0] <= stats[1] <= 1 and stats[2] > 0 and stats[3] > 0
    root = Path(__file__).resolve().parent.parent
    for doc in ("docs/data-contracts.md", "catalogs/README.md"):
        text = (root / doc).read_text()
        assert all(f"`{c}`" in text for c in WEIGHT_COLUMNS), doc
        assert all(f"`{s}`" in text for s in STATUSES), doc


def test_model_loaded_once_per_worker_process(run, client):
    _, summary = run
    loads = client.run(load_count)
    assert len(loads) == 2
    pids = {pid for pid, _ in loads.values()}
    assert all(n == 1 for _, n in loads.values()), loads
    task_pids = [p["pid"] for p in summary.partitions]
    assert len(task_pids) >= 4 and set(task_pids) <= pids
    assert len(task_pids) > len(set(task_pids)), "several pixel tasks reused a worker's model"


def test_lsdb_cone_search(run):
    import lsdb

    out, summary = run
    full = duckdb.sql(f"select nsaid, ra, dec from read_parquet('{data_glob(out)}')").df()
    ra0, dec0 = float(full["ra"].iloc[0]), float(full["dec"].iloc[0])
    radius = 3600.0 * 8.0
    ra, dec, r0, d0 = map(np.radians, (full["ra"], full["dec"], ra0, dec0))
    sep = np.degrees(np.arccos(np.clip(np.sin(d0) * np.sin(dec) + np.cos(d0) * np.cos(dec) * np.cos(ra - r0), -1, 1)))
    expected = set(full.loc[sep * 3600 < radius, "nsaid"])
    assert 0 < len(expected) < len(full)
    cat = lsdb.open_catalog(out, columns=["nsaid", "ra", "dec", "status"])
    assert cat.hc_structure.catalog_info.total_rows == summary.n_rows
    found = set(cat.cone_search(ra0, dec0, radius).compute()["nsaid"])
    assert found == expected


def test_rerun_skips_complete_partitions_and_is_identical(run, ingested, client):
    out, first = run
    before = {f: f.stat().st_mtime_ns for f in out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet")}
    again = infer_catalog(CONFIG, ingested[0], out, client=client, progress=False, stream=None)
    assert again.n_skipped == again.n_partitions == len(before) and again.partitions == []
    assert {f: f.stat().st_mtime_ns for f in before} == before
    assert again.status_counts == first.status_counts
    # another configuration makes every partition stale
    fp_other = dataclasses.replace(CONFIG, seed=CONFIG.seed + 1)
    from sedflow_dask.infer.catalog import run_fingerprint
    from sedflow_dask.infer.run import run_settings
    from sedflow_dask.posterior import load_posterior_model

    model = load_posterior_model()
    pix = input_pixels(ingested[0])[0]
    path = partition_path(out, pix.order, pix.pixel)
    assert partition_is_complete(path, run_fingerprint(model.sha256, run_settings(CONFIG, model.meta)), pix)
    assert not partition_is_complete(path, run_fingerprint(model.sha256, run_settings(fp_other, model.meta)), pix)
    assert not partition_is_complete(path, run_fingerprint("0" * 64, run_settings(CONFIG, model.meta)), pix)


def test_a_resumed_run_finishes_the_skipped_galaxies_only(run, ingested, client, tmp_path):
    """The cap leaves routed galaxies "skipped"; a resumed run with a larger cap (or none) gives
    them the fallback and keeps every other row and the untouched partitions as they were."""
    import shutil

    out, _ = run
    copy = tmp_path / "mock"
    shutil.copytree(out, copy)

    def rows(catalog):
        return duckdb.sql(f"select * from read_parquet('{data_glob(catalog)}')").df().set_index("nsaid").sort_index()

    before = rows(copy)
    mtimes = {f: f.stat().st_mtime_ns for f in copy.glob("dataset/Norder=*/Dir=*/Npix=*.parquet")}
    assert (before["status"] == "skipped").sum() > 5 and "timeout" not in set(before["status"])
    more = dataclasses.replace(CONFIG, fallback=dataclasses.replace(CONFIG.fallback, max_galaxies=8))
    again = infer_catalog(more, ingested[0], copy, client=client, progress=False, stream=None)
    after = rows(copy)
    newly = (before["status"] == "skipped").to_numpy() & (after["method"] == "mcmc").to_numpy()
    assert again.n_fallback == newly.sum() and 1 <= again.n_fallback <= 5
    assert (after["method"] == "mcmc").sum() <= 8
    assert set(after.loc[newly, "status"]) <= {"mcmc", "unconverged"}
    # every other row is as it was (the flow re-ran on finished pixels: same seeds, same batches)
    same = ~newly
    values = [c for c in before.columns if c != "samples"]
    pd.testing.assert_frame_equal(after.loc[same, values], before.loc[same, values])
    drawn = same & before["method"].notna().to_numpy()
    assert all(np.array_equal(a, b) for a, b in zip(after.loc[drawn, "samples"], before.loc[drawn, "samples"]))
    # partitions with nothing new were not rewritten
    changed = {f for f, t in mtimes.items() if f.stat().st_mtime_ns != t}
    assert 0 < len(changed) < len(mtimes) and again.n_partitions - again.n_skipped == len(changed)
    # the same cap again has nothing left to do
    third = infer_catalog(more, ingested[0], copy, client=client, progress=False, stream=None)
    assert third.n_skipped == third.n_partitions and third.n_fallback == 0


def test_resample_reproduces_the_catalog(run):
    out, _ = run
    # galaxies of later flow tasks of their pixel (task_rows = 40)
    cat = duckdb.sql(f"select nsaid, status, log_mstar_p50 from read_parquet('{data_glob(out)}', "
                     "file_row_number = true) where method = 'importance' and file_row_number >= 40 "
                     "order by file_row_number desc, nsaid limit 3").df()
    for nsaid in cat["nsaid"]:
        res = resample_galaxy(out, int(nsaid))
        assert res.max_rel_diff is not None and res.max_rel_diff <= 1e-6
        assert res.samples.shape == (CONFIG.sample.n_samples, 11)
    # a routed galaxy the fallback cap skipped keeps the flow's own draws, reproduced too
    skipped = duckdb.sql(f"select nsaid from read_parquet('{data_glob(out)}') where status = 'skipped' "
                         "order by nsaid limit 1").fetchall()[0][0]
    again = resample_galaxy(out, int(skipped))
    assert again.row["method"] == "flow" and again.max_rel_diff is not None and again.max_rel_diff <= 1e-6
    more = resample_galaxy(out, int(cat["nsaid"].iloc[0]), n=1000)
    assert more.samples.shape == (1000, 11) and more.max_rel_diff is None
    assert abs(more.summaries["log_mstar_p50"] - cat["log_mstar_p50"].iloc[0]) < 0.1
    cut = duckdb.sql(f"select nsaid from read_parquet('{data_glob(out)}') where status = 'cut' limit 1").fetchall()[0][0]
    with pytest.raises(ValueError, match="no posterior"):
        resample_galaxy(out, int(cut))
    with pytest.raises(ValueError, match="not in the catalog"):
        resample_galaxy(out, 10**12)


def test_resample_reruns_the_fallback_chain(run):
    out, _ = run
    row = duckdb.sql(f"select nsaid, status from read_parquet('{data_glob(out)}') "
                     "where method = 'mcmc' order by nsaid limit 1").fetchall()[0]
    res = resample_galaxy(out, int(row[0]))
    assert res.max_rel_diff is not None and res.max_rel_diff <= 1e-6


def test_ingest_reason_bits_are_partitioned():
    groups = [int(DATA_VALIDITY_BITS), int(CUT_BITS), int(BAND_BITS)]
    assert all(a & b == 0 for i, a in enumerate(groups) for b in groups[i + 1:])
    assert groups[0] | groups[1] | groups[2] == sum(int(r) for r in IngestReason)


def test_resample_cli_writes_draws(run, tmp_path, capsys):
    from sedflow_dask.cli import main

    out, _ = run
    nsaid = duckdb.sql(f"select nsaid from read_parquet('{data_glob(out)}') where method = 'importance' "
                       "order by nsaid limit 1").fetchall()[0][0]
    draws = tmp_path / "draws.parquet"
    assert main(["resample", str(out), str(nsaid), "--out", str(draws), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["nsaid"] == nsaid and doc["max_rel_diff"] <= 1e-6 and doc["n"] == CONFIG.sample.n_samples
    frame = pd.read_parquet(draws)
    assert len(frame) == CONFIG.sample.n_samples and {"box_log_mstar", "log_mstar_surviving", "t_mw"} <= set(frame)
    assert main(["resample", str(out), "999999999"]) == 2
    assert "not in the catalog" in capsys.readouterr().err
