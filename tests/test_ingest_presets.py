"""The ingest presets end to end on a real distributed LocalCluster (worker processes): the 10,000 real SDSS
galaxies of the kcorrect wheel, generic tables in FITS/Parquet/CSV, input refused before a cluster starts, and
`sedflow infer` refusing a catalog flagged with another noise model than its model was trained with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import table_fixtures as tf

from sedflow_dask.cli import main
from sedflow_dask.config import IngestConfig
from sedflow_dask.ingest import IngestReason as R
from sedflow_dask.ingest import ingest_catalog, read_ingested, read_provenance
from sedflow_dask.ingest.core import CATALOG_COLUMNS
from sedflow_dask.ingest.readers import parse_column_map
from sedflow_dask.photometry import FLUX_COLUMNS, IVAR_COLUMNS, MAG_COLUMNS, SIGMA_COLUMNS

N_TABLE = 300


def by_id(path) -> pd.DataFrame:
    return read_ingested(path).set_index("nsaid").sort_index()


# -- the real SDSS set -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kcorrect_run(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("kcorrect") / "sdss"
    rc = main(["ingest", "--dataset", "kcorrect-sdss", "--out", str(out), "--scheduler", client.scheduler.address,
               "--no-progress", "--set", "ingest.partition_rows=3000", "--set", "ingest.pixel_threshold=2500"])
    assert rc == 0
    return out


def test_the_real_sdss_set_ingests_every_galaxy(kcorrect_run, capsys):
    from sedflow_dask.datasets import read_kcorrect_sdss
    from sedflow_dask.noise.proposal import default_proposal

    got = by_id(kcorrect_run)
    assert len(got) == 10_000 and got.index.tolist() == list(range(1, 10_001))  # ids: 1-based row numbers
    assert list(read_ingested(kcorrect_run).columns) == ["_healpix_29", *CATALOG_COLUMNS]
    # the catalog holds the SDSS reader's fluxes, and its usable rows are those with valid data
    frame, _ = read_kcorrect_sdss("model")
    np.testing.assert_array_equal(got[list(FLUX_COLUMNS)].to_numpy(), frame[list(FLUX_COLUMNS)].to_numpy())
    np.testing.assert_array_equal(got[list(IVAR_COLUMNS)].to_numpy(), frame[list(IVAR_COLUMNS)].to_numpy())
    f, w, z = (frame[list(FLUX_COLUMNS)].to_numpy(), frame[list(IVAR_COLUMNS)].to_numpy(), frame["z"].to_numpy())
    measured = np.isfinite(f) & np.isfinite(w) & (w > 0)           # any sign of flux
    valid = (z > 0) & (z <= 0.2) & (measured.sum(axis=1) >= 3)
    reason = got["ingest_reason"].to_numpy()
    np.testing.assert_array_equal(reason == 0, valid)
    np.testing.assert_array_equal(got["bands_used"].to_numpy(), (measured * [1, 2, 4, 8, 16]).sum(axis=1))
    # 9,255 with positive ugriz fluxes and 9 more whose zero or negative fluxes are measurements
    assert valid.sum() == 9264 and (valid & np.any(f <= 0, axis=1)).sum() == 9
    assert ((reason & int(R.Z_OUT_OF_RANGE)) != 0).sum() == ((z <= 0) | (z > 0.2)).sum() > 0
    prov = read_provenance(kcorrect_run)
    assert prov["usable"] == 9264 and prov["rows"] == 10_000 and prov["preset"] == "sdss"
    assert prov["input"]["flux"] == "model" and prov["input"]["id"] == "row number (1-based)"
    assert prov["corrections"]["ab_offsets_mag"] == [-0.04, 0.0, 0.0, 0.0, 0.02]
    assert prov["corrections"]["error_floors_mag"] == [0.05, 0.02, 0.02, 0.02, 0.03]
    assert prov["flag_cuts"].startswith("none") and prov["noise_proposal"]["sha256"] == default_proposal().sha256()
    assert "preset sdss (given)" in prov["input"]["statement"]
    props = dict(line.split("=", 1) for line in (kcorrect_run / "hats.properties").read_text().splitlines()
                 if "=" in line and not line.startswith("#"))
    assert props["sedflow_preset"] == "sdss" and props["sedflow_proposal_sha256"] == default_proposal().sha256()


# -- generic tables --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def table():
    t = tf.make_table(N_TABLE, seed=4)
    t["sigma"][7, 1] = 0.0                       # g unmeasured in every form (ivar inf, flux error 0, mag error 0)
    t["ZSPEC"][8] = 0.35                         # Z_OUT_OF_RANGE
    return t


@pytest.mark.parametrize("forms", [(("nmgy", "fits"), ("mag", "parquet"), ("jy", "csv"))])
def test_generic_tables_give_identical_ingested_rows(client, table, tmp_path, forms):
    catalogs = []
    for form, fmt in forms:
        with np.errstate(divide="ignore"):
            frame = tf.table_frame(table, form)
        path = tf.write_table(frame, tmp_path / f"t_{form}.{fmt}", fmt)
        config = IngestConfig(columns=parse_column_map(tf.column_map(form)), partition_rows=70, pixel_threshold=80,
                              flux_unit="jy" if form == "jy" else "nanomaggies")
        res = ingest_catalog(path, tmp_path / f"out_{form}", client=client, config=config, progress=False,
                             stream=None)
        assert res.rows == N_TABLE and res.provenance["preset"] == "table"
        assert res.provenance["flag_cuts"] == "none (preset table has no SDSS flag cuts)"
        catalogs.append(by_id(res.path))
    first = catalogs[0]
    assert first.index.tolist() == sorted(table["ID"].tolist())
    assert first.loc[table["ID"][7], "ingest_reason"] == 0 and first.loc[table["ID"][7], "bands_used"] == 31 - 2
    assert first.loc[table["ID"][8], "ingest_reason"] == R.Z_OUT_OF_RANGE
    assert (first["ingest_reason"] == 0).sum() == N_TABLE - 1
    for other in catalogs[1:]:
        ok = first["ingest_reason"] == 0
        pd.testing.assert_series_equal(other["ingest_reason"], first["ingest_reason"])
        pd.testing.assert_series_equal(other["bands_used"], first["bands_used"])
        pd.testing.assert_frame_equal(other[["oos_noise", "oos_color", "ra", "dec", "z"]],
                                      first[["oos_noise", "oos_color", "ra", "dec", "z"]])
        cols = [*MAG_COLUMNS, *SIGMA_COLUMNS]
        np.testing.assert_allclose(other.loc[ok, cols].to_numpy(), first.loc[ok, cols].to_numpy(), rtol=0, atol=1e-9)


# -- input checked before a cluster starts -----------------------------------------------------------
def test_cli_refuses_bad_input_before_starting_a_cluster(table, tmp_path, capsys):
    csv_as_fits = tmp_path / "catalog.fits"
    tf.table_frame(table, "nmgy").to_csv(csv_as_fits, index=False)
    sdss = tf.write_sdss_fits(tmp_path / "export.fits", tf.make_sdss(20), petro=True)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(sdss.read_bytes()[:-2880])
    cases = [
        ([str(csv_as_fits)], "is named like a FITS file but is not one"),
        ([str(truncated)], "truncated.fits is truncated"),
        ([str(sdss)], "ambiguous: it has 2 kinds of SDSS fluxes"),
        ([str(sdss), "--flux", "model", "--flags", str(sdss)], "apply to the nsa preset"),
        ([str(tmp_path / "t.csv"), "--preset", "table", "--columns", "id=ID,z=ZSPEC"], "does not exist"),
        (["--dataset", "kcorrect-sdss", str(sdss)], "not both"),
    ]
    for argv, message in cases:
        # no --scheduler: a cluster would be a LocalCluster, announced with "dask:" on stderr
        rc = main(["ingest", *argv, "--out", str(tmp_path / "never"), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "dask:" not in err, (argv, err)
        assert not (tmp_path / "never").exists()
    tf.table_frame(table, "nmgy").to_csv(tmp_path / "t.csv", index=False)
    rc = main(["ingest", str(tmp_path / "t.csv"), "--columns", "id=ID,ra=RA,z=ZSPEC", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "--columns ra=COL,dec=COL" in err and "dask:" not in err


# -- the noise proposal a catalog was flagged with, against the model's -------------------------------
def test_infer_refuses_a_catalog_flagged_against_another_proposal(client, table, tmp_path, capsys):
    from sedflow_dask.config import Config
    from sedflow_dask.infer.run import plan_inference
    from sedflow_dask.noise.proposal import DEFAULT_PROPOSAL_PATH, resolve_proposal
    from sedflow_dask.posterior import load_posterior_model

    model_sha = load_posterior_model().meta["proposal_sha256"]
    other = resolve_proposal(None, "sdss_depths")  # the proposal built on the depth-derived noise model
    assert other.sha256() != model_sha
    path = tf.write_table(tf.table_frame(tf.make_table(40, seed=5), "nmgy"), tmp_path / "t.parquet", "parquet")
    ingested = tmp_path / "ingested"
    rc = main(["ingest", str(path), "--columns", tf.column_map("nmgy"), "--noise-model", "sdss_depths", "--out",
               str(ingested), "--scheduler", client.scheduler.address, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "t.parquet: preset table (detected from the column map): parquet read through the column map" in err
    recorded = read_provenance(ingested)["noise_proposal"]
    assert recorded["sha256"] == other.sha256() and recorded["source"] == "sdss_depths"
    out = tmp_path / "catalog"
    rc = main(["infer", str(ingested), "--out", str(out), "--samples", "50", "--no-fallback", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "NOISE PROPOSAL MISMATCH" in err and "(the shipped proposal)" in err
    assert "--allow-noise-mismatch" in err and "dask:" not in err and not out.exists()
    plan = plan_inference(Config(), ingested, out, allow_noise_mismatch=True)
    check = plan.noise_check
    assert check["match"] is False and check["model"] == model_sha and check["catalog"] == other.sha256()
    assert any("NOISE PROPOSAL MISMATCH" in w for w in plan.warnings)
    # a catalog flagged against the model's own proposal passes without a word
    rc = main(["ingest", str(path), "--columns", tf.column_map("nmgy"), "--proposal", str(DEFAULT_PROPOSAL_PATH),
               "--out", str(tmp_path / "same"), "--scheduler", client.scheduler.address, "--no-progress"])
    assert rc == 0
    plan = plan_inference(Config(), tmp_path / "same", tmp_path / "same_out")
    assert plan.noise_check["match"] and not plan.warnings
