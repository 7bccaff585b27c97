"""The pure ingest core: conversions, every reason bit, quality cuts, out-of-support flags, sanity checks,
and NSA schema detection."""

from __future__ import annotations

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from sedflow_dask.ingest.core import (
    CATALOG_COLUMNS,
    CATALOG_DTYPES,
    apply_quality_cuts,
    convert_photometry,
    data_validity_reasons,
    flag_out_of_support,
    ingest_frame,
    merge_summaries,
    sanity_problems,
    summarise,
)
from sedflow_dask.ingest.reasons import IngestReason as R
from sedflow_dask.ingest.schema import ColumnInfo, check_column_types, detect_schema
from sedflow_dask.noise.model import load_noise_model
from sedflow_dask.photometry import COLOUR_PAIRS, FLUX_COLUMNS, IVAR_COLUMNS, ivar_from_sigma_mag, mag_to_flux

NOISE = load_noise_model()
LOW_Q = np.full(len(COLOUR_PAIRS), -10.0)


def raw_from_catalog(cat: fx.Catalog) -> pd.DataFrame:
    data = {"nsaid": cat.nsaid.astype(np.int64), "ra": cat.ra, "dec": cat.dec, "z": cat.z}
    for k, (f, i) in enumerate(zip(FLUX_COLUMNS, IVAR_COLUMNS)):
        data[f] = cat.nmgy[:, 2 + k]
        data[i] = cat.ivar[:, 2 + k]
    for k, b in enumerate("ugriz"):
        data[f"dflags_{b}"] = cat.dflags[:, 2 + k]
    return pd.DataFrame(data)


# -- conversions --------------------------------------------------------------------------------
def test_round_trips_to_1e6():
    rng = np.random.default_rng(0)
    f = 10 ** rng.uniform(-1, 4, (1000, 5)).astype(np.float32)
    w = (1 / (f * 10 ** rng.uniform(-2.5, -0.5, (1000, 5))) ** 2).astype(np.float32)
    m, s = convert_photometry(f, w)
    assert m.dtype == s.dtype == np.float64
    np.testing.assert_allclose(mag_to_flux(m), f.astype(np.float64), rtol=1e-6)
    np.testing.assert_allclose(ivar_from_sigma_mag(f, s), w.astype(np.float64), rtol=1e-6)
    np.testing.assert_allclose(m, 22.5 - 2.5 * np.log10(f.astype(np.float64)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(s, 2.5 / (np.log(10) * f.astype(np.float64) * np.sqrt(w.astype(np.float64))),
                               rtol=1e-12)


def test_floor_invariant_on_fixture():
    cat = fx.make_catalog(3000, 5, inject=False)
    _, s = convert_photometry(cat.nmgy[:, 2:], cat.ivar[:, 2:])
    assert np.all(s >= fx.FLOORS - 1e-4)


def test_golden_noise_outlier_of_the_paper():
    # nsa-ingest.md §5 (i): sigma_r ~ 0.116 mag, a clear noise outlier
    f = np.array([[35.560593, 91.709236, 139.84373, 169.70816, 194.97598]], dtype=np.float32)
    w = np.array([[0.22200741, 0.30760366, 0.00446658, 0.05008115, 0.01728794]], dtype=np.float32)
    m, s = convert_photometry(f, w)
    assert s[0, 2] == pytest.approx(0.116, abs=2e-3)
    oos_noise, _ = flag_out_of_support(m, s, NOISE, LOW_Q)
    assert oos_noise[0]


# -- reasons ------------------------------------------------------------------------------------
def _one(flux, ivar, z=0.05):
    f = np.full((1, 5), 100.0)
    w = np.full((1, 5), 10.0)
    f[0, 2], w[0, 2] = flux, ivar
    _, s = convert_photometry(f, w)
    return int(data_validity_reasons(f, w, s, np.array([z]))[0])


@pytest.mark.parametrize("flux, ivar, z, bits", [
    (100.0, 10.0, 0.05, 0),
    (np.nan, 10.0, 0.05, R.NONFINITE_FLUX),
    (np.inf, 10.0, 0.05, R.NONFINITE_FLUX),
    (-np.inf, 10.0, 0.05, R.NONFINITE_FLUX),
    (0.0, 10.0, 0.05, R.NONPOSITIVE_FLUX),
    (-3.0, 10.0, 0.05, R.NONPOSITIVE_FLUX),
    (100.0, 0.0, 0.05, R.BAD_IVAR),
    (100.0, -1.0, 0.05, R.BAD_IVAR),
    (100.0, np.nan, 0.05, R.BAD_IVAR),
    (100.0, np.inf, 0.05, R.BAD_IVAR),
    (1e-300, 1e-300, 0.05, R.BAD_SIGMA),      # float64 input: f sqrt(w) underflows, sigma = inf
    (100.0, 10.0, np.nan, R.Z_INVALID),
    (100.0, 10.0, np.inf, R.Z_INVALID),
    (100.0, 10.0, 0.0, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, -0.001, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, 0.2000001, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, 0.2, 0),
    (100.0, 10.0, 1e-4, 0),
    (np.nan, 0.0, 0.3, R.NONFINITE_FLUX | R.BAD_IVAR | R.Z_OUT_OF_RANGE),
])
def test_every_data_validity_bit(flux, ivar, z, bits):
    assert _one(flux, ivar, z) == int(bits)


def test_quality_cut_bits():
    base = np.array([0, 0, 0, 0, R.Z_INVALID], dtype=np.int32)
    clean = np.array([True, False, True, False, False])
    found = np.array([True, True, False, False, True])
    dflags = np.zeros((5, 5), np.int32)
    dflags[0, 3] = 4
    dflags[2, 1] = 8   # bit 3 (NOPIX_IN_ASYMMETRY) is not a cut
    out = apply_quality_cuts(base, flag_clean=clean, flag_found=found, dflags=dflags, dflags_cut=True)
    assert out.tolist() == [R.DFLAGS_BAD, R.FLAGS_UNCLEAN, R.FLAGS_MISSING, R.FLAGS_MISSING,
                            R.Z_INVALID | R.FLAGS_UNCLEAN]
    kept = apply_quality_cuts(base, flag_clean=clean, flag_found=found, missing_flags="keep")
    assert kept.tolist() == [0, R.FLAGS_UNCLEAN, 0, 0, R.Z_INVALID | R.FLAGS_UNCLEAN]
    assert apply_quality_cuts(base).tolist() == base.tolist()  # no flags: cuts off
    assert apply_quality_cuts(base, dflags=np.full((5, 5), 7.0), dflags_cut=True).tolist() == [R.DFLAGS_BAD] * 4 + [
        R.Z_INVALID | R.DFLAGS_BAD]
    with pytest.raises(ValueError, match="missing_flags"):
        apply_quality_cuts(base, missing_flags="drop")


def test_ingest_frame_reasons_match_construction():
    cat = fx.make_catalog(4000, 2)
    out = ingest_frame(raw_from_catalog(cat), noise_model=NOISE, colour_quantiles=LOW_Q)
    assert list(out.columns) == list(CATALOG_COLUMNS)
    assert {c: out[c].dtype for c in out.columns} == {c: np.dtype(t) for c, t in CATALOG_DTYPES.items()}
    assert np.array_equal(out["ingest_reason"].to_numpy(), cat.reason)
    assert len(set(cat.pathology)) == len(fx.PATHOLOGIES) + 1
    # the DFLAGS cut is opt-in
    cut = ingest_frame(raw_from_catalog(cat), noise_model=NOISE, colour_quantiles=LOW_Q, dflags_cut=True)
    expected = cat.reason | np.where(cat.dflags_bad, int(R.DFLAGS_BAD), 0)
    assert np.array_equal(cut["ingest_reason"].to_numpy(), expected)
    # out-of-support flags only on usable rows
    assert not (out["oos_noise"] & (out["ingest_reason"] != 0)).any()


def test_all_nan_band_and_empty_input():
    cat = fx.make_catalog(500, 4, inject=False)
    cat.nmgy[:, 3] = np.nan
    out = ingest_frame(raw_from_catalog(cat), noise_model=NOISE, colour_quantiles=LOW_Q)
    assert (out["ingest_reason"] == int(R.NONFINITE_FLUX)).all()
    problems = sanity_problems(summarise(out), source="x.fits")
    assert any("band g has no finite flux in any of the 500 rows" in p for p in problems)
    empty = ingest_frame(raw_from_catalog(cat).iloc[:0], noise_model=NOISE, colour_quantiles=LOW_Q)
    assert len(empty) == 0 and list(empty.columns) == list(CATALOG_COLUMNS)


# -- out of support --------------------------------------------------------------------------------
def test_colour_and_noise_outliers():
    m = np.array([[18.0, 17.0, 16.5, 16.2, 16.0]] * 4)
    s = NOISE.sigma_median(m).copy()
    s[1, 2] = NOISE.sigma_median(m)[1, 2] + 3.5 * NOISE.sigma_scatter(m)[1, 2]   # noise outlier in r
    q = np.array([np.sort(m[0, [a]] - m[0, [b]])[0] for a, b in COLOUR_PAIRS]) - 0.5
    m[2, 0] -= 1.0       # u 1 mag brighter: u-g, u-r, ... bluer than the training quantiles
    m[3, 4] += 0.6       # z fainter: i-z etc. bluer
    noise, colour = flag_out_of_support(m, s, NOISE, q)
    assert noise.tolist() == [False, True, False, False]
    assert colour.tolist() == [False, False, True, True]
    noise, colour = flag_out_of_support(m, s, NOISE, q, usable=np.array([True, False, False, True]))
    assert noise.tolist() == [False] * 4 and colour.tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="10 finite numbers"):
        flag_out_of_support(m, s, NOISE, q[:9])


def test_sanity_checks_catch_wrong_band_order():
    cat = fx.make_catalog(1000, 6, inject=False)
    raw = raw_from_catalog(cat)
    good = ingest_frame(raw, noise_model=NOISE, colour_quantiles=LOW_Q)
    assert sanity_problems(summarise(good)) == []
    swapped = raw.rename(columns={"flux_u": "flux_r", "flux_r": "flux_u", "ivar_u": "ivar_r", "ivar_r": "ivar_u"})
    bad = ingest_frame(swapped, noise_model=NOISE, colour_quantiles=LOW_Q)
    parts = [summarise(bad.iloc[:400]), summarise(bad.iloc[400:])]
    assert merge_summaries(parts) == summarise(bad)
    problems = sanity_problems(merge_summaries(parts), duplicate_nsaids=2, source="x.fits")
    assert any("median u - r" in p for p in problems)
    assert any("2 galaxy ids (nsaid: NSAID, id column or row) occur more than once" in p for p in problems)
    assert any("below NSA's kcorrect error floor" in p for p in problems)


# -- schema --------------------------------------------------------------------------------
V1 = ["NSAID", "IAUNAME", "RA", "DEC", "Z", "SERSIC_NMGY", "SERSIC_NMGY_IVAR", "ELPETRO_NMGY", "ELPETRO_NMGY_IVAR",
      "DFLAGS", "PROFMEAN"]
V0 = ["NSAID", "RA", "DEC", "Z", "NMGY", "NMGY_IVAR", "PROFMEAN"]


def test_schema_detection():
    s = detect_schema(V1)
    assert (s.version, s.flux, s.ivar, s.dflags) == ("v1", "SERSIC_NMGY", "SERSIC_NMGY_IVAR", "DFLAGS")
    assert "PROFMEAN" not in s.columns
    e = detect_schema(V1, "elpetro")
    assert (e.flux, e.ivar) == ("ELPETRO_NMGY", "ELPETRO_NMGY_IVAR")
    s0 = detect_schema(V0)
    assert (s0.version, s0.flux, s0.ivar, s0.dflags) == ("v0", "NMGY", "NMGY_IVAR", None)
    assert detect_schema([c.lower() for c in V0]).flux == "nmgy"
    with pytest.raises(ValueError, match="elpetro needs ELPETRO_NMGY.*v0 file"):
        detect_schema(V0, "elpetro")
    with pytest.raises(ValueError, match=r"f.fits: no NSA photometry columns: expected SERSIC_NMGY"):
        detect_schema(["NSAID", "RA", "DEC", "Z"], source="f.fits")
    with pytest.raises(ValueError, match=r"f.fits: missing column\(s\) Z, SERSIC_NMGY_IVAR"):
        detect_schema(["NSAID", "RA", "DEC", "SERSIC_NMGY"], source="f.fits")


def test_column_type_checks():
    s = detect_schema(V0)
    cols = {"NSAID": ColumnInfo("NSAID", np.dtype(np.int32)), "RA": ColumnInfo("RA", np.dtype(np.float64)),
            "DEC": ColumnInfo("DEC", np.dtype(np.float64)), "Z": ColumnInfo("Z", np.dtype(np.float32)),
            "NMGY": ColumnInfo("NMGY", np.dtype(np.float32), (7,)),
            "NMGY_IVAR": ColumnInfo("NMGY_IVAR", np.dtype(np.float32), (7,))}
    check_column_types(s, cols)
    for name, info, msg in [
        ("NMGY", ColumnInfo("NMGY", np.dtype(np.float32), (5,)), r"column NMGY is float32 with per-row shape \(5,\)"),
        ("Z", ColumnInfo("Z", np.dtype("S8")), "column Z is |S8; expected a floating-point number"),
        ("NSAID", ColumnInfo("NSAID", np.dtype(np.float64)), "column NSAID is float64; expected an integer"),
        ("NMGY_IVAR", ColumnInfo("NMGY_IVAR", np.dtype(np.int32), (7,)), "column NMGY_IVAR is int32"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_column_types(s, {**cols, name: info}, source="f.fits")
