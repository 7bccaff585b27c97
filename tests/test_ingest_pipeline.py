"""End-to-end ingests on a real distributed LocalCluster (worker processes): HATS output read back with
pyarrow, lsdb and DuckDB; companion forms; modes; no flags; bad input; the mock generator's truth; CLI."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from sedflow_dask.config import IngestConfig
from sedflow_dask.ingest import IngestReason as R
from sedflow_dask.ingest import SupportReference, ingest_catalog, read_ingested, read_provenance
from sedflow_dask.ingest.core import CATALOG_COLUMNS
from sedflow_dask.ingest.reasons import DATA_VALIDITY_BITS
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.photometry import COLOUR_PAIRS, FLUX_COLUMNS, IVAR_COLUMNS

N = 4000
LOW_Q = np.full(len(COLOUR_PAIRS), -10.0)
SMALL = IngestConfig(partition_rows=700, pixel_threshold=1500)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ingest")
    cat = fx.make_catalog(N, 21)
    fl = fx.make_flags(cat.nsaid, seed=22)
    keep = np.ones(N, bool)
    keep[np.random.default_rng(23).permutation(N)[:40]] = False
    # the companion in another order than the catalog, with 40 NSAIDs missing
    order = np.random.default_rng(24).permutation(np.flatnonzero(keep))
    return {
        "cat": cat, "fl": fl, "keep": keep, "dir": d,
        "nsa": fx.write_nsa(d / "nsa_v1_0_1.fits", cat),
        "fits": fx.write_flags_fits(d / "flags.fits", fl, rows=order),
        "parquet": fx.write_flags_parquet(d / "flags.parquet", fl, rows=order, row_group_size=900),
        "split": fx.write_flags_fits(d / "flags_split.fits", fl, "split", rows=order),
    }


def run(client, nsa, out, config=SMALL, colour_quantiles=LOW_Q, **kw):
    """Ingest with the nsa preset, the shipped noise proposal and colour quantiles (default: ones no
    galaxy falls below)."""
    reference = SupportReference(proposal=default_proposal(), colour_quantiles=tuple(colour_quantiles))
    return ingest_catalog(nsa, out, client=client, config=dataclasses.replace(config, preset="nsa"),
                          reference=reference, progress=False, stream=None, **kw)


def by_nsaid(path, columns=None) -> pd.DataFrame:
    return read_ingested(path, columns=columns).set_index("nsaid").sort_index()


def expected_reason(data, preset="sedflow2022", mode="object") -> pd.Series:
    cat, fl, keep = data["cat"], data["fl"], data["keep"]
    reason = cat.reason.copy()
    reason[~fx.expected_clean(fl, preset, mode) & keep] |= fx.FLAGS_UNCLEAN
    reason[~keep] |= fx.FLAGS_MISSING
    return pd.Series(reason, index=cat.nsaid.astype(np.int64)).sort_index()


@pytest.fixture(scope="module")
def fits_run(client, data):
    return run(client, data["nsa"], data["dir"] / "out_fits", flags_path=data["fits"])


def test_catalog_matches_construction(fits_run, data):
    res = fits_run
    assert res.rows == N and res.summary["rows"] == N
    df = by_nsaid(res.path)
    assert len(df) == N and df.index.is_unique
    assert list(read_ingested(res.path).columns) == ["_healpix_29", *CATALOG_COLUMNS]
    np.testing.assert_array_equal(df["ingest_reason"].to_numpy(), expected_reason(data).to_numpy())
    assert df["ingest_reason"].dtype == np.int32 and df["oos_noise"].dtype == bool
    assert df["bands_used"].dtype == np.uint8
    expected_bands = pd.Series(data["cat"].bands_used, index=data["cat"].nsaid.astype(np.int64)).sort_index()
    np.testing.assert_array_equal(df["bands_used"].to_numpy(), expected_bands.to_numpy())
    # values: float64 magnitudes of the stored float32 fluxes
    cat = data["cat"]
    i = np.argsort(cat.nsaid)
    f = cat.nmgy[i, 4].astype(np.float64)
    ok = np.isfinite(f) & (f > 0)
    np.testing.assert_allclose(df["mag_r"].to_numpy()[ok], 22.5 - 2.5 * np.log10(f[ok]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(df["flux_r"].to_numpy(), f)
    assert res.summary["reasons"]["FLAGS_MISSING"] == 40
    assert any("40 of 4000 galaxies have no row in the flags table" in w for w in res.warnings)


def test_read_back_with_pyarrow_lsdb_duckdb(fits_run):
    import duckdb
    import lsdb

    path = fits_run.path
    assert not (path / "dataset" / "_metadata").exists() and (path / "dataset" / "_common_metadata").exists()
    glob = str(path / "dataset/Norder=*/Dir=*/Npix=*.parquet")
    n, n_unique, usable = duckdb.sql(f"SELECT count(*), count(DISTINCT nsaid), sum((ingest_reason = 0)::INT) "
                                     f"FROM read_parquet('{glob}')").fetchall()[0]
    assert (n, n_unique, usable) == (N, N, fits_run.summary["usable"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = lsdb.open_catalog(path)
        frame = cat.compute()
    assert len(frame) == N and frame["nsaid"].is_unique
    assert cat.hc_structure.catalog_info.total_rows == N
    sub = read_ingested(path, columns=["nsaid", "z"], filters=[("ingest_reason", "==", 0)])
    assert list(sub.columns) == ["nsaid", "z"] and len(sub) == fits_run.summary["usable"]
    assert ((sub["z"] > 0) & (sub["z"] <= 0.2)).all()
    # partitions bounded by pixel_threshold
    import pyarrow.parquet as pq

    assert max(pq.ParquetFile(f).metadata.num_rows for f in path.glob("dataset/Norder=*/Dir=*/*.parquet")) <= 1500


def test_provenance(fits_run, data):
    prov = read_provenance(fits_run.path)
    assert prov["input"]["rows"] == N and len(prov["input"]["sha256"]) == 64
    assert prov["input"]["nsa_schema"] == "v1" and prov["flag_preset"] == "sedflow2022"
    assert prov["flag_cuts"] == "on" and prov["flags"]["nsa_version"] == "v1_0_1"
    assert prov["reason_counts"] == fits_run.summary["reasons"]
    assert prov["noise_proposal"]["sha256"] == default_proposal().sha256()
    assert prov["noise_proposal"]["sigma_flux_max"] == default_proposal().sigma_max.tolist()
    assert prov["colour_quantiles"]["values"] == LOW_Q.tolist() and prov["colour_quantiles"]["outlier_sigma"] == 3.0
    assert "noise_model" not in prov
    props = dict(line.split("=", 1) for line in (fits_run.path / "hats.properties").read_text().splitlines()
                 if "=" in line and not line.startswith("#"))
    assert props["hats_nrows"] == str(N) and props["sedflow_flux"] == "sersic"
    assert json.loads(props["sedflow_reason_counts"]) == fits_run.summary["reasons"]
    assert props["sedflow_proposal_sha256"] == default_proposal().sha256()
    assert not list(data["dir"].glob(".*ingest-tmp"))  # the work directory is gone


@pytest.mark.parametrize("which", ["parquet", "split"])
def test_companion_forms_identical(client, data, fits_run, which, tmp_path):
    res = run(client, data["nsa"], tmp_path / "out", flags_path=data[which])
    a = by_nsaid(fits_run.path, ["nsaid", "ingest_reason", "bands_used", "oos_noise", "oos_color", "mag_g"])
    b = by_nsaid(res.path, ["nsaid", "ingest_reason", "bands_used", "oos_noise", "oos_color", "mag_g"])
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("preset, mode", [("sdss_clean_extended", "per_band"), ("sdss_clean_point", "object")])
def test_presets_and_modes(client, data, preset, mode, tmp_path):
    config = IngestConfig(partition_rows=1000, pixel_threshold=4000, flag_preset=preset, flag_mode=mode,
                          missing_flags="keep", dflags_cut=True)
    res = run(client, data["nsa"], tmp_path / "out", flags_path=data["parquet"], config=config)
    exp = expected_reason(data, preset, mode)
    cat = data["cat"]
    extra = pd.Series(np.where(cat.dflags_bad, fx.DFLAGS_BAD, 0), index=cat.nsaid.astype(np.int64)).sort_index()
    exp = (exp | extra) & ~fx.FLAGS_MISSING  # missing_flags = keep
    np.testing.assert_array_equal(by_nsaid(res.path)["ingest_reason"].to_numpy(), exp.to_numpy())
    assert read_provenance(res.path)["flag_mode"] == mode


def test_flags_inside_the_nsa_table_and_no_flags(client, data, tmp_path):
    cat, fl = data["cat"], data["fl"]
    lo, hi = fx.F.split_word(fl.objc)
    inside = fx.write_nsa(tmp_path / "nsa_flags.fits", cat, extra={"FLAGS1": lo.astype(">i4"),
                                                                   "FLAGS2": hi.astype(">i4")})
    res = run(client, inside, tmp_path / "inside")
    exp = cat.reason | np.where(fx.expected_clean(fl), 0, fx.FLAGS_UNCLEAN)
    exp = pd.Series(exp, index=cat.nsaid.astype(np.int64)).sort_index()
    np.testing.assert_array_equal(by_nsaid(res.path)["ingest_reason"].to_numpy(), exp.to_numpy())
    assert "columns of the NSA table" in read_provenance(res.path)["flag_source"]

    res = run(client, data["nsa"], tmp_path / "none")
    assert any("NO SDSS FLAGS" in w and "OFF" in w for w in res.warnings)
    assert read_provenance(res.path)["flag_cuts"].startswith("OFF")
    got = by_nsaid(res.path)["ingest_reason"].to_numpy()
    np.testing.assert_array_equal(got, pd.Series(cat.reason, index=cat.nsaid.astype(np.int64)).sort_index())


def test_bad_input_errors(client, data, tmp_path):
    fl, cat = data["fl"], data["cat"]
    dup_rows = np.concatenate([np.arange(N), [17]])
    dup = fx.write_flags_parquet(tmp_path / "dup.parquet", fl, rows=dup_rows)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"dup.parquet: NSAID {cat.nsaid[17]} occurs 2 times \(rows 17, 4000\)"):
        run(client, data["nsa"], out, flags_path=dup)
    assert not out.exists() and not list(tmp_path.glob(".*ingest-tmp"))
    v0 = fx.write_flags_fits(tmp_path / "flags_v0.fits", fl, nsa_version="v0_1_2")
    with pytest.raises(ValueError, match="built against NSA v0_1_2, but the catalog .* is NSA v1_0_1"):
        run(client, data["nsa"], out, flags_path=v0)
    ra = cat.ra.copy()
    ra[1234] = np.nan
    bad = fx.write_nsa(tmp_path / "badra.fits", cat, extra={"RA": ra.astype(">f8")})
    with pytest.raises(ValueError, match=r"badra.fits: columns RA/DEC hold 1 .*row 1234: RA=nan"):
        run(client, bad, out)
    assert not out.exists()
    out.mkdir()
    (out / "precious.txt").write_text("x")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        run(client, data["nsa"], out)
    with pytest.raises(ValueError, match="refusing to overwrite .*not a HATS catalog"):
        run(client, data["nsa"], out, overwrite=True)
    nan_band = fx.make_catalog(300, 5, inject=False)
    nan_band.nmgy[:, 6] = np.nan
    strict = IngestConfig(partition_rows=100, strict=True)
    with pytest.raises(ValueError, match="(?s)sanity checks failed.*band z has no finite flux in any of the 300 rows"):
        run(client, fx.write_nsa(tmp_path / "nanz.fits", nan_band), tmp_path / "strict", config=strict)


def test_overwrite_replaces_a_catalog(client, data, fits_run, tmp_path):
    out = tmp_path / "again"
    run(client, data["nsa"], out, flags_path=data["fits"])
    res = run(client, data["nsa"], out, flags_path=data["fits"], overwrite=True, config=IngestConfig())
    assert len(read_ingested(res.path, ["nsaid"])) == N


def test_cli(client, data, tmp_path, capsys):
    from sedflow_dask.cli import main

    out = tmp_path / "cli_out"
    rc = main(["ingest", str(data["nsa"]), "--out", str(out), "--flags", str(data["split"]), "--scheduler",
               client.scheduler.address, "--no-progress", "--set", "ingest.partition_rows=1500"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"{N} galaxies ingested" in captured.out and "FLAGS_MISSING" in captured.out
    # each warning once: found during the run, printed by the pipeline and not again by the command
    assert captured.err.count("40 of 4000 galaxies have no row") == 1, captured.err
    prov = read_provenance(out)
    assert prov["colour_quantiles"]["source"] == "default (shipped)"
    rc = main(["ingest", str(data["nsa"]), "--out", str(tmp_path / "no_flags"), "--scheduler",
               client.scheduler.address, "--no-progress", "--set", "ingest.partition_rows=1500"])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("WARNING: NO SDSS FLAGS") == 1, err  # known before the run
    rc = main(["ingest", str(data["nsa"]), "--out", str(out), "--scheduler", client.scheduler.address])
    assert rc == 2 and "exists; pass --overwrite" in capsys.readouterr().err
    rc = main(["ingest", str(tmp_path / "missing.fits"), "--out", str(tmp_path / "x"), "--scheduler",
               client.scheduler.address])
    assert rc == 2 and "missing.fits does not exist" in capsys.readouterr().err


# -- the mock generator ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    from sedflow_dask.mock import write_mock_nsa

    d = tmp_path_factory.mktemp("mock")
    files = write_mock_nsa(d / "nsa_mock_v1_0_1.fits", 3000, seed=5, invalid_flags=True, block_rows=1024)
    truth = pd.read_parquet(files.truth).set_index("nsaid").sort_index()
    return files, truth


def test_mock_reason_counts_equal_truth(client, mock, tmp_path):
    from sedflow_dask.mock import expected_ingest_reason

    files, truth = mock
    meta = json.loads(__import__("pyarrow.parquet").parquet.read_schema(files.truth).metadata[b"sedflow_mock"])
    q = np.array(meta["colour_quantiles"])
    res = run(client, files.catalog, tmp_path / "m", flags_path=files.flags_fits, colour_quantiles=q,
              config=IngestConfig(partition_rows=800, pixel_threshold=2000))
    got = by_nsaid(res.path)
    assert len(got) == files.n_rows and got.index.equals(truth.index)
    np.testing.assert_array_equal(got["ingest_reason"].to_numpy(), truth["ingest_reason"].to_numpy())
    for r in R:
        assert res.summary["reasons"][r.name] == int(((truth["ingest_reason"] & int(r)) != 0).sum()), r.name
    np.testing.assert_allclose(got["mag_r"], truth["mag_r"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["sigma_g"], truth["sigma_g"], rtol=1e-9)
    # the band pathologies leave usable galaxies without the band (or with a zero/negative flux)
    band_rows = truth["pathology"].isin(["zero_ivar", "negative_ivar", "nan_flux"])
    lost = 1 << truth.loc[band_rows, "pathology_band"].to_numpy()
    np.testing.assert_array_equal(got.loc[band_rows, "bands_used"].to_numpy(), 31 - lost)
    assert (got.loc[~band_rows, "bands_used"] == 31).all()
    usable = got["ingest_reason"] == 0
    band_or_sign = band_rows | (truth["pathology"] == "nonpositive_flux")
    assert (got.loc[band_or_sign, "ingest_reason"] & int(DATA_VALIDITY_BITS) == 0).all()
    # oos_noise: a measured sigma_f outside the proposal's range, here evaluated on the written data
    flux = got[list(FLUX_COLUMNS)].to_numpy()
    ivar = got[list(IVAR_COLUMNS)].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_f = np.where(np.isfinite(flux) & (ivar > 0), ivar ** -0.5, np.nan)
        outside = (sigma_f < default_proposal().sigma_min) | (sigma_f > default_proposal().sigma_max)
    np.testing.assert_array_equal(got["oos_noise"].to_numpy(), usable.to_numpy() & outside.any(axis=1))
    # the paper's noise outliers (sigma above mu + 3 s, the golden rows among them) are inside the
    # broad proposal: the robust flow was trained on them
    inj_noise = truth["injected_oos_noise"] & usable
    assert inj_noise.sum() >= 10 and (got["oos_noise"] & inj_noise).sum() <= 0.1 * inj_noise.sum()
    assert not got.loc[got.index[-2:], "oos_noise"].any()
    # oos_color recovers the injected colour outliers (0.3-0.6 mag bluer at good S/N); the only other
    # rows it flags are galaxies whose g..z flux was set to zero or below, which turns a colour blue
    inj_colour = truth["injected_oos_color"] & usable & ~truth["injected_oos_noise"]
    assert inj_colour.sum() >= 3 and (got["oos_color"] & inj_colour).sum() >= 0.9 * inj_colour.sum()
    others = got["oos_color"] & ~truth["injected_oos_color"] & usable
    assert (truth.loc[others, "pathology"] == "nonpositive_flux").all()
    assert (truth.loc[others, "pathology_band"] > 0).all()
    # other options against the mock's own expectation
    for form, config in (("flags_parquet", IngestConfig(partition_rows=3000, flag_mode="per_band",
                                                        flag_preset="sdss_clean_extended")),
                         ("flags_split_fits", IngestConfig(partition_rows=3000, missing_flags="keep",
                                                           flag_mode="per_band", flag_preset="sdss_clean_point"))):
        res = run(client, files.catalog, tmp_path / form, flags_path=getattr(files, form), colour_quantiles=q,
                  config=config)
        exp = expected_ingest_reason(truth, preset=config.flag_preset, flag_mode=config.flag_mode,
                                     missing_flags=config.missing_flags)
        np.testing.assert_array_equal(by_nsaid(res.path)["ingest_reason"].to_numpy(), exp)
    with pytest.raises(ValueError, match="NSAID .* occurs 2 times"):
        run(client, files.catalog, tmp_path / "dup", flags_path=files.flags_duplicate_parquet, colour_quantiles=q)


def test_mock_v0_catalog(client, tmp_path):
    from sedflow_dask.mock import expected_ingest_reason, write_mock_nsa

    files = write_mock_nsa(tmp_path / "nsa_v0_1_2.fits", 800, seed=6, nsa_version="v0_1_2", flags_inside=True)
    truth = pd.read_parquet(files.truth).set_index("nsaid").sort_index()
    res = run(client, files.catalog, tmp_path / "v0", config=IngestConfig(partition_rows=300, dflags_cut=True))
    assert read_provenance(res.path)["input"]["nsa_schema"] == "v0"
    exp = expected_ingest_reason(truth, flags="inside", dflags_cut=True)
    np.testing.assert_array_equal(by_nsaid(res.path)["ingest_reason"].to_numpy(), exp)


def test_noise_fit_reads_the_catalog(fits_run):
    from sedflow_dask.noise.cli import fit_noise_model_to_catalog

    model = fit_noise_model_to_catalog(fits_run.path, bin_width=0.5, min_count=5)
    assert model.provenance["n_rows"] == N and model.provenance["n_usable"] == fits_run.summary["usable"]
    assert Path(model.provenance["catalog"]) == fits_run.path
