"""The synthetic NSA generator (``sedflow mock-nsa``): schema, byte order, determinism, physics,
injected pathologies and the flag companions. Expected values are checked against independent
evaluations of ``docs/nsa-ingest.md`` §2.3/§3 written here, not against the ingest code."""

from __future__ import annotations

import json
import re

import fitsio
import numpy as np
import pyarrow.parquet as pq
import pytest

from sedflow_dask.ingest.reasons import IngestReason as R
from sedflow_dask.mock import (
    FLAG_DEFECTS,
    PATHOLOGIES,
    PATHOLOGY_RATES,
    TFORMS_V1,
    catalog_dtype,
    expected_ingest_reason,
    plan_mock_nsa,
    reference_colour_quantiles,
    write_mock_nsa,
)
from sedflow_dask.noise import load_noise_model
from sedflow_dask.photometry import (
    BANDS,
    colours,
    flux_to_mag,
    ivar_from_sigma_mag,
    mag_to_flux,
    sigma_mag_from_ivar,
)
from sedflow_dask.sps.parameters import PHYSICAL_NAMES
from sedflow_dask.survey import sdss_flags as F
from sedflow_dask.survey.nsa import UGRIZ
from sedflow_dask.survey.sdss import KCORRECT_FLOORS

N = 5000


@pytest.fixture(scope="module")
def model():
    from sedflow_dask.sps import PROVABGSModel

    return PROVABGSModel()


@pytest.fixture(scope="module")
def noise_model():
    return load_noise_model()


@pytest.fixture(scope="module")
def quantiles(model, noise_model):
    return reference_colour_quantiles(model, noise_model)


@pytest.fixture(scope="module")
def mock(tmp_path_factory, model, quantiles):
    """n = 5000, v1_0_1, several blocks, the invalid companions too."""
    path = tmp_path_factory.mktemp("mock") / "nsa_mock.fits"
    files = write_mock_nsa(path, N, seed=7, model=model, colour_quantiles=quantiles, block_rows=2048,
                           invalid_flags=True)
    cat = fitsio.read(str(files.catalog), ext=1)
    truth = pq.read_table(files.truth).to_pandas()
    return files, cat, truth


def _data_bytes(path, ext=1) -> bytes:
    with fitsio.FITS(str(path)) as f:
        off = f[ext].get_offsets()
    start, end = off["data_start"], off["data_end"]
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(end - start)


# --- schema -------------------------------------------------------------------------------------

def test_files_and_names(mock, tmp_path):
    files, cat, truth = mock
    stem = files.catalog.parent / "nsa_mock"
    assert files.flags_fits == stem.with_name("nsa_mock_flags.fits")
    assert files.flags_parquet == stem.with_name("nsa_mock_flags.parquet")
    assert files.flags_split_fits == stem.with_name("nsa_mock_flags_split.fits")
    assert files.truth == stem.with_name("nsa_mock_truth.parquet")
    for p in files.paths().values():
        assert p.exists() and not p.with_name(p.name + ".tmp").exists()
    assert len(cat) == len(truth) == files.n_rows == N + 2


def test_fits_layout_tforms_and_tdim(mock):
    files, cat, _ = mock
    with fitsio.FITS(str(files.catalog)) as f:
        assert len(f) == 2
        assert f[0].get_exttype() == "IMAGE_HDU" and f[0].read_header()["NAXIS"] == 0
        assert f[1].get_exttype() == "BINARY_TBL"
        h = f[1].read_header()
    names = [h[f"TTYPE{i}"] for i in range(1, h["TFIELDS"] + 1)]
    assert names == list(TFORMS_V1)
    for i, name in enumerate(names, start=1):
        assert h[f"TFORM{i}"] == TFORMS_V1[name], name
    tdims = {h[f"TTYPE{i}"]: h.get(f"TDIM{i}") for i in range(1, h["TFIELDS"] + 1)}
    assert tdims["PROFMEAN"] == "(15,7)"
    assert all(v is None for k, v in tdims.items() if k != "PROFMEAN")   # 1-D arrays carry no TDIM
    assert cat["PROFMEAN"].shape == (N + 2, 7, 15)
    for col in ("SERSIC_NMGY", "SERSIC_NMGY_IVAR", "ELPETRO_NMGY", "EXTINCTION", "DFLAGS"):
        assert cat[col].shape == (N + 2, 7)
    assert cat.dtype["SERSIC_NMGY"].base == np.dtype(">f4") and cat.dtype["DFLAGS"].base == np.dtype(">i4")
    assert cat.dtype["NSAID"] == np.dtype(">i4") and cat.dtype["RA"] == np.dtype(">f8")
    # Column projection reads the same values as the full read.
    proj = fitsio.read(str(files.catalog), ext=1, columns=["NSAID", "Z", "SERSIC_NMGY"], rows=np.arange(10, 20))
    np.testing.assert_array_equal(proj["SERSIC_NMGY"], cat["SERSIC_NMGY"][10:20])


def test_big_endian_on_disk(mock):
    files, cat, truth = mock
    raw = _data_bytes(files.catalog)
    disk = catalog_dtype("v1_0_1")          # the declared big-endian row layout
    assert len(raw) >= disk.itemsize * len(cat)
    rows = np.frombuffer(raw, dtype=disk, count=len(cat))
    assert int.from_bytes(raw[:4], "big") == int(cat["NSAID"][0])
    for name in ("NSAID", "RA", "Z", "SERSIC_NMGY", "DFLAGS", "PROFMEAN", "CAMCOL", "RUN"):
        np.testing.assert_array_equal(rows[name], cat[name], err_msg=name)
    assert rows["SERSIC_NMGY"].dtype.base.byteorder == ">"
    # Values read back agree with the truth computed from the numbers as written.
    f = cat["SERSIC_NMGY"][:, UGRIZ].astype(np.float64)
    np.testing.assert_array_equal(flux_to_mag(f), truth[[f"mag_{b}" for b in BANDS]].to_numpy())
    np.testing.assert_array_equal(cat["NSAID"].astype(np.int64), truth["nsaid"].to_numpy())


def test_ids_and_golden_rows(mock):
    _, cat, truth = mock
    ids = cat["NSAID"]
    assert sorted(ids[:N]) == list(range(N)) and list(ids[:N]) != list(range(N))   # shuffled
    assert list(ids[N:]) == [N, N + 1]
    g1, g2 = cat[N], cat[N + 1]
    np.testing.assert_allclose(g1["SERSIC_NMGY"][UGRIZ], [35.560593, 91.709236, 139.84373, 169.70816, 194.97598],
                               rtol=1e-7)
    np.testing.assert_allclose(g1["SERSIC_NMGY_IVAR"][UGRIZ],
                               [0.22200741, 0.30760366, 0.00446658, 0.05008115, 0.01728794], rtol=1e-7)
    assert g1["Z"] == np.float32(0.0351418)
    x = [18.714787, 18.016953, 17.825827, 17.731255, 17.677258,
         0.08050386, 0.02300007, 0.02354047, 0.17673106, 0.06297234, 0.02071856]
    f2 = g2["SERSIC_NMGY"][UGRIZ].astype(np.float64)
    np.testing.assert_allclose(flux_to_mag(f2), x[:5], atol=1e-6)
    np.testing.assert_allclose(sigma_mag_from_ivar(f2, g2["SERSIC_NMGY_IVAR"][UGRIZ]), x[5:10], rtol=1e-6)
    assert list(truth["pathology"][N:]) == ["golden_1", "golden_2"]
    assert truth["ingest_reason"][N:].tolist() == [0, 0] and truth["injected_oos_noise"][N:].all()
    assert np.isnan(truth["theta_0"][N:]).all()


def test_iau_names_and_positions(mock):
    _, cat, _ = mock
    assert (cat["RA"] >= 110).all() and (cat["RA"] <= 260).all()
    assert (cat["DEC"] >= -5).all() and (cat["DEC"] <= 70).all()
    pat = re.compile(r"^J(\d\d)(\d\d)(\d\d\.\d\d)([+-])(\d\d)(\d\d)(\d\d\.\d)$")
    for row in cat[:200]:
        m = pat.match(row["IAUNAME"])
        assert m, row["IAUNAME"]
        ra = 15 * (int(m[1]) + int(m[2]) / 60 + float(m[3]) / 3600)
        dec = (-1 if m[4] == "-" else 1) * (int(m[5]) + int(m[6]) / 60 + float(m[7]) / 3600)
        assert 0 <= row["RA"] - ra < 0.01 * 15 / 3600 + 1e-9      # truncated, not rounded
        assert 0 <= abs(row["DEC"]) - abs(dec) < 0.1 / 3600 + 1e-9


# --- determinism --------------------------------------------------------------------------------

def test_deterministic_bytes(tmp_path, model, quantiles):
    kw = dict(model=model, colour_quantiles=quantiles, block_rows=256)
    a = write_mock_nsa(tmp_path / "a" / "m.fits", 700, seed=3, **kw)
    b = write_mock_nsa(tmp_path / "b" / "m.fits", 700, seed=3, **kw)
    c = write_mock_nsa(tmp_path / "c" / "m.fits", 700, seed=4, **kw)
    for role in ("catalog", "flags_fits", "flags_split_fits"):
        assert _data_bytes(a.paths()[role]) == _data_bytes(b.paths()[role]), role
        assert _data_bytes(a.paths()[role]) != _data_bytes(c.paths()[role]), role
    ta, tb, tc = (pq.read_table(x.truth).to_pandas() for x in (a, b, c))
    assert ta.equals(tb) and not ta.equals(tc)


# --- photometry ---------------------------------------------------------------------------------

def test_floor_invariant_and_round_trips(mock):
    _, cat, truth = mock
    f = cat["SERSIC_NMGY"][:, UGRIZ].astype(np.float64)
    w = cat["SERSIC_NMGY_IVAR"][:, UGRIZ].astype(np.float64)
    sigma = sigma_mag_from_ivar(f, w)
    np.testing.assert_array_equal(sigma, truth[[f"sigma_{b}" for b in BANDS]].to_numpy())
    golden = truth["pathology"].str.startswith("golden").to_numpy()
    ok = (w > 0) & np.isfinite(f) & ~golden[:, None]
    assert (sigma[ok] >= np.broadcast_to(KCORRECT_FLOORS, sigma.shape)[ok]).all()
    good = ok & (f > 0)
    m = flux_to_mag(f)
    np.testing.assert_allclose(mag_to_flux(m)[good], f[good], rtol=1e-6)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(ivar_from_sigma_mag(f, sigma)[good], w[good], rtol=1e-6)


def test_truth_theta_reproduces_noiseless_fluxes(mock, model):
    _, _, truth = mock
    box = truth[[f"theta_{j}" for j in range(11)]].to_numpy()
    phys = truth[list(PHYSICAL_NAMES)].to_numpy()
    flux_true = truth[[f"flux_true_{b}" for b in BANDS]].to_numpy()
    sel = truth["theta_reproduces_flux"].to_numpy()
    assert sel.sum() == N - round(PATHOLOGY_RATES["colour_outlier"] * N)
    assert ((box[sel, 0] >= 7) & (box[sel, 0] <= 12.5)).all()
    flux = model.photometry(box[sel], truth["z"].to_numpy()[sel], space="box", unit="nanomaggies")
    np.testing.assert_allclose(flux, flux_true[sel], rtol=1e-5)
    flux_phys = model.photometry(phys[sel][:300], truth["z"].to_numpy()[sel][:300], unit="nanomaggies")
    np.testing.assert_allclose(flux_phys, flux_true[sel][:300], rtol=1e-5)
    col = truth["injected_oos_color"].to_numpy()
    again = model.photometry(box[col], truth["z"].to_numpy()[col], space="box", unit="nanomaggies")
    assert (np.abs(again[:, 0] / flux_true[col, 0] - 1) > 0.1).all()     # u was brightened
    # Stored redshifts are the float32 values the model saw (except where Z was corrupted).
    plain = truth["ingest_reason_data"].to_numpy() & int(R.Z_INVALID | R.Z_OUT_OF_RANGE) == 0
    np.testing.assert_array_equal(truth["z"][plain], truth["z_catalog"][plain])
    assert truth["z"].max() <= 0.15 and truth["z"].min() >= 0.002


def test_realistic_magnitudes(mock):
    _, _, truth = mock
    r = truth["r_target"].dropna()
    assert 16.6 < r.median() < 17.4 and r.min() >= 10 and r.max() <= 20.5
    # The r mixture's 85 % main component (docs/mock-nsa.md), a little more after the support cuts.
    assert 0.8 < (r[(r >= 13) & (r <= 17.77)].size / r.size) < 0.95


# --- injected pathologies ------------------------------------------------------------------------

def test_pathology_counts(mock):
    files, _, truth = mock
    counts = truth["pathology"].value_counts()
    for name, rate in PATHOLOGY_RATES.items():
        assert counts[name] == round(rate * N) >= 5, name
        assert files.counts[f"pathology.{name}"] == counts[name]
    assert set(counts.index) == set(PATHOLOGIES)
    meta = json.loads(pq.read_schema(files.truth).metadata[b"sedflow_mock"])
    assert meta["seed"] == 7 and meta["n"] == N and meta["counts"] == files.counts


def test_reason_bits_match_the_values_written(mock):
    """§3 evaluated here on the written values equals the truth's by-construction bits."""
    _, cat, truth = mock
    f = cat["SERSIC_NMGY"][:, UGRIZ].astype(np.float64)
    w = cat["SERSIC_NMGY_IVAR"][:, UGRIZ].astype(np.float64)
    z = cat["Z"].astype(np.float64)
    with np.errstate(invalid="ignore"):
        # a band is measured where its flux is finite (any sign) and its ivar finite and > 0; a galaxy
        # needs three, and the per-band bits only explain a galaxy with fewer
        measured = np.isfinite(f) & np.isfinite(w) & (w > 0)
        few = measured.sum(axis=1) < 3
        bits = (few * int(R.TOO_FEW_BANDS)
                | (few & np.any(~np.isfinite(f), 1)) * int(R.NONFINITE_FLUX)
                | (few & np.any(~(w > 0) | ~np.isfinite(w), 1)) * int(R.BAD_IVAR)
                | ~np.isfinite(z) * int(R.Z_INVALID)
                | (np.isfinite(z) & ((z <= 0) | (z > 0.2))) * int(R.Z_OUT_OF_RANGE))
    np.testing.assert_array_equal(bits, truth["ingest_reason_data"].to_numpy())
    # the band pathologies took one band each: four measured bands, no bit
    band_rows = truth["pathology"].isin(["zero_ivar", "negative_ivar", "nan_flux"]).to_numpy()
    assert (measured[band_rows].sum(axis=1) == 4).all() and (measured[~band_rows].sum(axis=1) == 5).all()
    for name in ("nonpositive_flux", "zero_ivar", "negative_ivar", "nan_flux"):
        rows = (truth["pathology"] == name).to_numpy()
        band = truth["pathology_band"].to_numpy()[rows]
        assert (band >= 0).all() and (np.sum(np.isin(np.arange(5), band)) >= 2)
    np.testing.assert_array_equal(expected_ingest_reason(truth), truth["ingest_reason"].to_numpy())


def test_oos_labels_match_the_paper_tests(mock, noise_model, quantiles):
    _, _, truth = mock
    m = truth[[f"mag_{b}" for b in BANDS]].to_numpy()
    s = truth[[f"sigma_{b}" for b in BANDS]].to_numpy()
    valid = truth["ingest_reason_data"].to_numpy() == 0
    oos_noise = noise_model.noise_outlier(m, s)
    oos_color = np.any(colours(m) < quantiles, axis=1)
    np.testing.assert_array_equal(oos_noise[valid], truth["injected_oos_noise"].to_numpy()[valid])
    np.testing.assert_array_equal(oos_color[valid], truth["injected_oos_color"].to_numpy()[valid])
    assert 0.013 < truth["injected_oos_noise"].mean() < 0.017


# --- flag companions ----------------------------------------------------------------------------

def _clean(word, psf_err, preset):
    f = np.asarray(word, dtype=np.int64).view(np.uint64)
    mask = np.uint64(F.REJECT_POINT if preset == "sdss_clean_point" else F.REJECT_EXTENDED)
    ok = ((f & np.uint64(F.BINNED1)) != 0) & ((f & mask) == 0)
    ok &= ~(((f & np.uint64(F.INTERP_CENTER)) != 0) & ((f & np.uint64(F.COSMIC_RAY)) != 0))
    if preset != "sedflow2022":
        ok &= ((f & np.uint64(F.DEBLEND_NOPEAK)) == 0) | (np.asarray(psf_err) <= 0.2)
    return ok


def test_flag_companion_predicates(mock):
    files, _, truth = mock
    flags = fitsio.read(str(files.flags_fits), ext=1)
    assert fitsio.read_header(str(files.flags_fits), ext=1)["NSA_VERSION"] == "v1_0_1"
    t = truth.set_index("nsaid")
    assert len(np.unique(flags["NSAID"])) == len(flags) == (t["in_flags_companion"]).sum()
    missing = set(t.index[~t["in_flags_companion"]])
    assert len(missing) == round(0.01 * N) and not missing & set(flags["NSAID"].tolist())
    rows = t.loc[flags["NSAID"].astype(np.int64)]
    for preset in ("sedflow2022", "sdss_clean_extended", "sdss_clean_point"):
        obj = _clean(flags["FLAGS"], flags["PSFMAGERR_G"], preset)
        per_band = np.all([_clean(flags[f"FLAGS_{b.upper()}"], flags[f"PSFMAGERR_{b.upper()}"], preset)
                           for b in BANDS], axis=0)
        np.testing.assert_array_equal(obj, rows[f"clean_{preset}_object"].to_numpy(), err_msg=preset)
        np.testing.assert_array_equal(per_band, rows[f"clean_{preset}_per_band"].to_numpy(), err_msg=preset)
    assert (rows["clean_sedflow2022_object"] != rows["clean_sedflow2022_per_band"]).sum() >= 5
    assert (rows["clean_sedflow2022_object"] != rows["clean_sdss_clean_extended_object"]).sum() >= 5
    assert (rows["clean_sdss_clean_extended_object"] != rows["clean_sdss_clean_point_object"]).sum() >= 5
    defects = truth["flag_defect"].value_counts()
    for name in FLAG_DEFECTS[1:]:
        assert defects[name] >= 5, name
    assert abs(1 - truth["clean_sedflow2022_per_band"].mean() - 0.30) < 0.01
    edge_rows = rows["edge"].to_numpy()
    assert edge_rows.sum() >= 5 and rows["clean_sedflow2022_object"][edge_rows].mean() > 0.5


def test_split_and_int64_words_agree(mock):
    files, _, _ = mock
    flags = fitsio.read(str(files.flags_fits), ext=1)
    split = fitsio.read(str(files.flags_split_fits), ext=1)
    assert split.dtype["FLAGS1"] == np.dtype(">i4") and split.dtype["FLAGS2"] == np.dtype(">i4")
    np.testing.assert_array_equal(split["NSAID"], flags["NSAID"])

    def combine(lo, hi):
        return (((hi.astype(np.int64) & 0xFFFFFFFF) << 32) | (lo.astype(np.int64) & 0xFFFFFFFF))

    np.testing.assert_array_equal(combine(split["FLAGS1"], split["FLAGS2"]), flags["FLAGS"])
    for b in BANDS:
        B = b.upper()
        np.testing.assert_array_equal(combine(split[f"FLAGS1_{B}"], split[f"FLAGS2_{B}"]), flags[f"FLAGS_{B}"])
    assert (split["FLAGS1"] < 0).sum() >= 5                       # MOVED (bit 31)
    assert np.mean(flags["FLAGS"].astype(np.int64) >> 32 != 0) >= 0.10
    assert fitsio.read_header(str(files.flags_split_fits), ext=1)["NSA_VERSION"] == "v1_0_1"


def test_parquet_companion_equals_fits(mock):
    files, _, _ = mock
    flags = fitsio.read(str(files.flags_fits), ext=1)
    table = pq.read_table(files.flags_parquet)
    assert table.schema.metadata[b"NSA_VERSION"] == b"v1_0_1"
    assert table.schema.field("FLAGS").type == "int64"
    for name in flags.dtype.names:
        np.testing.assert_array_equal(table[name].to_numpy(), flags[name], err_msg=name)


def test_invalid_fixture_has_one_duplicate(mock):
    files, _, _ = mock
    for ids in (fitsio.read(str(files.flags_duplicate_fits), ext=1, columns=["NSAID"])["NSAID"],
                pq.read_table(files.flags_duplicate_parquet)["NSAID"].to_numpy()):
        values, counts = np.unique(ids, return_counts=True)
        assert counts.max() == 2 and (counts == 2).sum() == 1


def test_expected_reason_options(mock):
    _, _, truth = mock
    inside = expected_ingest_reason(truth, flags="inside")
    assert not (inside & int(R.FLAGS_MISSING)).any()
    keep = expected_ingest_reason(truth, missing_flags="keep")
    assert not (keep & int(R.FLAGS_MISSING)).any()
    none = expected_ingest_reason(truth, flags="none", dflags_cut=True)
    np.testing.assert_array_equal(none & ~int(R.DFLAGS_BAD), truth["ingest_reason_data"])
    assert ((none & int(R.DFLAGS_BAD)) != 0).sum() == truth["dflags_bad"].sum() > 0
    per_band = expected_ingest_reason(truth, flag_mode="per_band")
    assert (per_band & int(R.FLAGS_UNCLEAN)).sum() > (truth["ingest_reason"] & int(R.FLAGS_UNCLEAN)).sum()


# --- v0, flags inside, CLI, bad options ---------------------------------------------------------

def test_v0_schema_and_flags_inside(tmp_path, model, quantiles):
    files = write_mock_nsa(tmp_path / "v0.fits", 1000, seed=2, nsa_version="v0_1_2", flags_inside=True,
                           model=model, colour_quantiles=quantiles)
    cat = fitsio.read(str(files.catalog), ext=1)
    names = set(cat.dtype.names)
    assert {"NMGY", "NMGY_IVAR", "SERSICFLUX", "SERSICFLUX_IVAR", "OK", "PROFMEAN", "FLAGS", "FLAGS_R", "OBJID"} <= names
    assert not names & {"SERSIC_NMGY", "ELPETRO_NMGY", "ELPETRO_NMGY_IVAR", "IN_DR7_LSS"}
    truth = pq.read_table(files.truth).to_pandas()
    assert truth["z"].max() <= 0.055
    flags = fitsio.read(str(files.flags_fits), ext=1)
    assert fitsio.read_header(str(files.flags_fits), ext=1)["NSA_VERSION"] == "v0_1_2"
    inside = dict(zip(cat["NSAID"].tolist(), cat["FLAGS"].tolist(), strict=True))
    assert [inside[i] for i in flags["NSAID"].tolist()] == flags["FLAGS"].tolist()
    assert len(inside) == len(cat)


def test_default_colour_quantiles_are_the_shipped_training_sets(model, noise_model):
    from sedflow_dask.simulate.io import training_colour_quantiles

    plan = plan_mock_nsa(10, model=model, noise_model=noise_model)
    assert plan.colour_source == "shipped training set"
    np.testing.assert_array_equal(plan.colour_quantiles, training_colour_quantiles())


def test_bad_options(tmp_path, model, quantiles):
    for kwargs in ({"n": 0}, {"n": 10, "nsa_version": "v2"}, {"n": 10, "p_fail": 1.5}, {"n": 10, "seed": -1},
                   {"n": 10, "colour_quantiles": [0.0] * 3}):
        with pytest.raises(ValueError):
            plan_mock_nsa(model=model, **({"colour_quantiles": quantiles} | kwargs))


def test_cli_writes_the_files(tmp_path, capsys):
    from sedflow_dask.cli import main

    out = tmp_path / "cli" / "nsa.fits"
    assert main(["mock-nsa", "--n", "300", "--out", str(out), "--set", "seed=5", "--nsa-version", "v0_1_2"]) == 0
    text = capsys.readouterr().out
    assert "302 rows" in text and "noise_outlier" in text and "seed 5" in text
    for name in ("nsa.fits", "nsa_flags.fits", "nsa_flags.parquet", "nsa_flags_split.fits", "nsa_truth.parquet"):
        assert (out.parent / name).exists(), name
    assert "NMGY" in fitsio.read(str(out), ext=1, rows=[0]).dtype.names
    assert main(["mock-nsa", "--n", "0", "--out", str(out)]) == 2
