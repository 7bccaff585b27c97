"""``sedflow demo`` (what ``make demo`` runs), end to end on small sizes, in the test's process.

The real run (the first 500 of the 10,000 real SDSS galaxies) must write a report whose numbers a
recomputation from the catalog, with DuckDB and with kcorrect called directly, reproduces. The
mock run (``--mock``) is checked against the recorded full-size run of ``docs/results/`` with
tolerances that follow from the two sample sizes, and the README's demo numbers against those
recorded files.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sedflow_in_process import Completed, run_sedflow

from sedflow_dask.cli import main
from sedflow_dask.ingest.reasons import IngestReason
from sedflow_dask.layout import DATA_GLOB
from sedflow_dask.query.duck import data_files

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
N_REAL = 500
N_MOCK = 600
COMMON = ["--samples", "200", "--max-fallback", "2", "--fallback-seconds", "1", "--workers", "1", "--no-progress"]
REAL_ARGS = ["demo", "--n", str(N_REAL), *COMMON]
MOCK_ARGS = ["demo", "--mock", "--n", str(N_MOCK), *COMMON]
#: 99.9th percentile of χ²(5), as scipy.stats.chi2.ppf(0.999, 5) gives it.
CHI2_LIMIT = 20.515005652432873


def _demo(cwd, args) -> Completed:
    return run_sedflow(args, cwd)


def _first_run(tmp_path_factory, name: str, args: list[str]) -> tuple[Path, Completed]:
    d = tmp_path_factory.mktemp(name)
    res = _demo(d, args)
    assert res.returncode == 0, res.stderr[-3000:]
    return d, res


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    return _first_run(tmp_path_factory, "demo_real", REAL_ARGS)


@pytest.fixture(scope="module")
def mock_run(tmp_path_factory):
    return _first_run(tmp_path_factory, "demo_mock", MOCK_ARGS)


def _sql(catalog: Path, sql: str) -> pd.DataFrame:
    """``sql`` over the catalog's data files read directly by DuckDB (table ``t``), not through sedflow's view."""
    files = ", ".join(f"'{f}'" for f in data_files(catalog))
    return duckdb.sql(sql.replace("FROM t", f"FROM read_parquet([{files}])")).df()


# --- the real galaxies -----------------------------------------------------------------------------

def test_real_run_writes_the_catalog_report_and_figure(real_run):
    d, res = real_run
    for path in ("demo/sdss_subset.fits", "demo/sdss_ingested/hats.properties", "demo/real_report.json",
                 "demo/real_report.png", "demo/blue_massive.csv", "catalogs/demo/hats.properties",
                 "catalogs/demo/provenance.json"):
        assert (d / path).is_file(), path
    assert (d / "demo" / "real_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    n = _sql(d / "catalogs" / "demo", "SELECT count(*) AS n, count(DISTINCT nsaid) AS d, min(nsaid) AS lo, "
                                      "max(nsaid) AS hi FROM t").iloc[0]
    assert n["n"] == n["d"] == N_REAL and (n["lo"], n["hi"]) == (1, N_REAL)  # the first 500 rows, ids = row numbers
    report = json.loads((d / "demo" / "real_report.json").read_text())
    assert report["run"]["reused_input_and_ingest"] is False and report["run"]["wall_s"] > 0
    assert "kcorrect" in report["data_set"] and "BSD-3-Clause" in report["data_set"]


def test_real_report_counts_equal_a_duckdb_recomputation(real_run):
    d, _ = real_run
    cat = d / "catalogs" / "demo"
    counts = json.loads((d / "demo" / "real_report.json").read_text())["counts"]
    bits = ", ".join(f"count(*) FILTER (WHERE (ingest_reason & {int(r)}) <> 0) AS {r.name}" for r in IngestReason)
    got = _sql(cat, f"""
        SELECT count(*) AS rows, count(*) FILTER (WHERE ingest_reason = 0) AS usable,
               count(*) FILTER (WHERE ingest_reason = 0 AND oos_noise) AS noise,
               count(*) FILTER (WHERE ingest_reason = 0 AND oos_color) AS color,
               count(*) FILTER (WHERE ingest_reason = 0 AND oos_color AND NOT oos_noise) AS color_not_noise,
               count(*) FILTER (WHERE ingest_reason = 0 AND (oos_noise OR oos_color)) AS oos,
               count(*) FILTER (WHERE ingest_reason = 0 AND fallback_reason <> 0) AS routed, {bits}
        FROM t""").iloc[0]
    assert counts["rows"] == got["rows"] == N_REAL
    assert counts["usable"] == got["usable"] and 0 < got["usable"] < N_REAL  # some rows are unusable
    assert counts["out_of_support"] == {"noise": got["noise"], "color": got["color"],
                                        "color_not_noise": got["color_not_noise"], "any": got["oos"]}
    assert counts["oos_frac"] == pytest.approx(got["oos"] / got["usable"], rel=1e-12)
    assert counts["routed"] == got["routed"] and counts["routed_frac"] == pytest.approx(got["routed"] / got["usable"])
    assert counts["reason_bits"] == {r.name: int(got[r.name]) for r in IngestReason}
    status = _sql(cat, "SELECT status, count(*) AS n FROM t GROUP BY status")
    assert counts["status_counts"] == dict(zip(status["status"], status["n"].astype(int)))
    # the provenance of the ingest agrees on the usable rows
    ingest = json.loads((d / "demo" / "sdss_ingested" / "provenance.json").read_text())
    assert ingest["usable"] == got["usable"]


def test_real_report_predictive_check_equals_a_duckdb_recomputation(real_run):
    d, _ = real_run
    pred = json.loads((d / "demo" / "real_report.json").read_text())["predictive"]
    got = _sql(d / "catalogs" / "demo", f"""
        SELECT count(*) AS n, quantile_cont(chi2_median_model, 0.5) AS p50,
               quantile_cont(chi2_median_model, 0.99) AS p99,
               avg(CASE WHEN chi2_median_model > {CHI2_LIMIT} THEN 1.0 ELSE 0.0 END) AS over
        FROM t WHERE method IS NOT NULL AND isfinite(chi2_median_model)""").iloc[0]
    assert pred["n"] == got["n"] > 0
    assert pred["p50"] == pytest.approx(got["p50"], rel=1e-9)
    assert pred["p99"] == pytest.approx(got["p99"], rel=1e-9)
    assert pred["frac_over_limit"] == pytest.approx(got["over"], abs=1e-12)
    assert pred["limit"] == pytest.approx(CHI2_LIMIT, rel=1e-12)


def test_real_report_mass_offset_equals_kcorrect_called_directly(real_run):
    """The catalog's magnitudes and errors to AB maggies and inverse variances by hand, then kcorrect."""
    import kcorrect.kcorrect
    from astropy.cosmology import Planck13

    d, _ = real_run
    mass = json.loads((d / "demo" / "real_report.json").read_text())["log_mstar_vs_kcorrect"]
    rows = _sql(d / "catalogs" / "demo", "SELECT * EXCLUDE (samples) FROM t WHERE method IS NOT NULL ORDER BY nsaid")
    mag = rows[[f"mag_{b}" for b in "ugriz"]].to_numpy(np.float64)
    sigma_mag = rows[[f"sigma_{b}" for b in "ugriz"]].to_numpy(np.float64)
    maggies = 10 ** (-0.4 * mag)
    ivar = (2.5 / np.log(10) / (maggies * sigma_mag)) ** 2  # σ_f = f σ_m ln(10) / 2.5
    kc = kcorrect.kcorrect.Kcorrect(responses=[f"sdss_{b}0" for b in "ugriz"], redshift_range=[0.0, 0.25],
                                    nredshift=251, cosmo=Planck13)
    z = rows["z"].to_numpy(np.float64)
    formed = kc.derived(redshift=z, coeffs=kc.fit_coeffs(redshift=z, maggies=maggies, ivar=ivar))["intsfh"]
    delta = rows["log_mstar_p50"].to_numpy() - np.log10(formed)
    assert mass["n"] == len(rows) > 0.8 * N_REAL
    assert mass["median"] == pytest.approx(np.median(delta), abs=1e-5)
    nmad = 1.4826 * np.median(np.abs(delta - np.median(delta)))
    assert mass["nmad"] == pytest.approx(nmad, rel=1e-4)


def test_real_report_cap_and_constraints_are_stated(real_run):
    d, _ = real_run
    report = json.loads((d / "demo" / "real_report.json").read_text())
    fb = report["fallback"]
    routed = _sql(d / "catalogs" / "demo", "SELECT count(*) FILTER (WHERE method = 'mcmc') AS mcmc, count(*) AS n "
                                          "FROM t WHERE fallback_reason <> 0").iloc[0]
    assert fb["cap"] == 2 and fb["routed"] == routed["n"] and fb["ran_mcmc"] == routed["mcmc"] <= 2
    assert fb["left_by_cap"] == routed["n"] - routed["mcmc"]
    ratio = report["constraint"]["width_ratio"]
    # log M* is measured (a tenth of the prior's width or less); every ratio is a finite positive number
    assert ratio["log_mstar"]["ratio_median"] < 0.2
    assert all(0 < r["ratio_median"] < 1.5 for r in ratio.values())
    with_posterior = _sql(d / "catalogs" / "demo", "SELECT count(*) AS n FROM t WHERE method IS NOT NULL").iloc[0]["n"]
    assert report["constraint"]["n_ssfr_galaxies"] == with_posterior  # fewer than 2,000: all of them


def test_real_run_prints_where_everything_is_and_the_next_commands_work(real_run, monkeypatch, capsys):
    d, res = real_run
    out = res.stdout
    for text in ("catalogs/demo/", "demo/real_report.png", "demo/real_report.json", "demo/blue_massive.csv",
                 "next:", "sedflow query catalogs/demo", "sedflow cone catalogs/demo",
                 "sedflow resample catalogs/demo"):
        assert text in out, text
    counts = json.loads((d / "demo" / "real_report.json").read_text())["counts"]["status_counts"]
    line = next(x for x in out.splitlines() if "galaxies -> " in x and "catalogs/demo" in x)
    for s, k in counts.items():
        assert f"{s} {k:,}" in line
    top = pd.read_csv(d / "demo" / "blue_massive.csv")
    assert 0 < len(top) <= 100
    assert (top["z"] < 0.05).all() and (top["u_r"] < 2.22).all() and top["log_mstar_p50"].is_monotonic_decreasing
    after_next = out.split("\nnext:\n", 1)[1].splitlines()
    commands = [shlex.split(x.strip())[1:] for x in after_next if x.strip().startswith("sedflow ")
                and "demo" not in x.split()[1]]
    assert len(commands) >= 4
    monkeypatch.chdir(d)
    for args in commands:
        assert main(args) == 0, args
        capsys.readouterr()
    assert len(pd.read_parquet(d / "draws.parquet")) == 10_000


def test_real_rerun_reuses_finished_work(real_run):
    d, _ = real_run
    before = {f: f.stat().st_mtime_ns for f in (d / "catalogs" / "demo").glob(DATA_GLOB)}
    res = _demo(d, REAL_ARGS)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reusing demo/sdss_subset.fits" in res.stdout
    n = len(before)
    assert f"{n} of {n} pixels already complete" in res.stdout
    assert {f: f.stat().st_mtime_ns for f in (d / "catalogs" / "demo").glob(DATA_GLOB)} == before
    assert json.loads((d / "demo" / "real_report.json").read_text())["run"]["reused_input_and_ingest"] is True


def test_fresh_refuses_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    assert main([*REAL_ARGS, "--fresh", "--workdir", str(tmp_path / "elsewhere"), "--out", str(tmp_path / "mine")]) == 2
    assert "not a catalog written by sedflow infer; not deleting it" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").exists()


def test_more_galaxies_than_the_real_set_is_refused(capsys):
    assert main(["demo", "--n", "10001"]) == 2
    assert "the real data set has 10,000 galaxies" in capsys.readouterr().err


# --- the mock with truths --------------------------------------------------------------------------

def test_mock_run_writes_its_own_files_beside_the_real_ones(mock_run):
    d, _ = mock_run
    for path in ("demo/mock/nsa_mock.fits", "demo/mock/nsa_mock_truth.parquet", "demo/mock/validation.json",
                 "demo/mock/validation.png", "catalogs/demo_mock/hats.properties"):
        assert (d / path).is_file(), path
    assert not (d / "catalogs" / "demo").exists()
    n = _sql(d / "catalogs" / "demo_mock", "SELECT count(*) AS n, count(DISTINCT nsaid) AS d FROM t").iloc[0]
    assert n["n"] == n["d"] == N_MOCK + 2  # two golden rows


def test_mock_calibration_agrees_with_the_recorded_run_within_sampling_error(mock_run):
    """68 % and 95 % coverage per parameter, and the median |log M* error|, against the full-size run
    recorded in docs/results: the allowed difference is 4 σ of the two sample sizes together."""
    from sedflow_dask.diagnostics.truth import catalog_with_truth

    d, _ = mock_run
    small = json.loads((d / "demo" / "mock" / "validation.json").read_text())
    big = json.loads((RESULTS / "mock_validation.json").read_text())
    g, g_big = small["n_galaxies"], big["n_galaxies"]
    assert g > 0.4 * N_MOCK and small["statuses"] == big["statuses"]
    for level, p in (("68", 0.68), ("95", 0.95)):
        tol = 4 * np.sqrt(p * (1 - p) * (1 / g + 1 / g_big))
        for name, c in small["coverage_box"][level].items():
            assert abs(c - big["coverage_box"][level][name]) < tol, (level, name, c, big["coverage_box"][level][name])
    frame, _, _ = catalog_with_truth(d / "catalogs" / "demo_mock", d / "demo" / "mock" / "nsa_mock_truth.parquet",
                                     small["statuses"])
    err = np.abs(frame["log_mstar_p50"] - frame["theta_0"]).to_numpy()
    assert np.median(err) == pytest.approx(small["log_mstar_median_abs_error"], rel=1e-12)
    boot = np.random.default_rng(0).choice(err, size=(2000, len(err)))
    se = np.std(np.median(boot, axis=1)) * np.sqrt(1 + g / g_big)  # the recorded run's own error, scaled by size
    assert abs(small["log_mstar_median_abs_error"] - big["log_mstar_median_abs_error"]) < 4 * se


# --- the README's numbers come from the recorded files ---------------------------------------------

def _readme_demo_section() -> str:
    """The README's demo section as one line of words, markdown escapes removed (``M\\*`` reads ``M*``)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Start here: `make demo`", 1)[1].split("\n## ", 1)[0]
    return " ".join(section.replace("\\*", "*").split())


def test_readme_demo_numbers_are_the_recorded_reports():
    section = _readme_demo_section()
    real = json.loads((RESULTS / "real_report.json").read_text())
    mock = json.loads((RESULTS / "mock_validation.json").read_text())
    c, p, m = real["counts"], real["predictive"], real["log_mstar_vs_kcorrect"]
    ratio = real["constraint"]["width_ratio"]
    expected = [
        f"{c['rows']:,} real SDSS galaxies", f"{c['usable']:,} usable", f"{100 * c['oos_frac']:.1f} %",
        f"{c['routed']:,} routed", *(f"{k} {v:,}" for k, v in c["status_counts"].items()),
        f"median χ² {p['p50']:.1f}", f"{100 * p['frac_over_limit']:.1f} %", f"{m['median']:+.2f} dex",
        f"NMAD {m['nmad']:.2f} dex", f"log M* {ratio['log_mstar']['ratio_median']:.2f}",
        f"sSFR {ratio['log_ssfr_1gyr']['ratio_median']:.2f}",
        f"{real['constraint']['ssfr_vs_u_r']['pearson']:+.2f}", f"{real['run']['wall_s'] / 60:.1f} min",
        f"{real['fallback']['left_by_cap']:,}",
        f"{mock['log_mstar_median_abs_error']:.2f} dex",
        "{:.0f}–{:.0f} %".format(100 * min(mock["coverage_box"]["68"].values()),
                                 100 * max(mock["coverage_box"]["68"].values())),
    ]
    missing = [e for e in expected if e not in section]
    assert not missing, f"README demo section lacks {missing} (from docs/results/*.json)"
    # the recorded reports are those of the full-size run the README describes
    assert c["rows"] == 10_000 and real["samples_per_galaxy"] == 1000 and real["fallback"]["cap"] == 16
    assert re.search(r"sSFR[^.]*(prior)", section), "the README must say sSFR from ugriz is mostly the prior's"
