"""The pure ingest core: conversions, every reason bit, the measured bands, quality cuts, out-of-support
flags, sanity checks, and NSA schema detection."""

from __future__ import annotations

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from sedflow_dask.ingest.core import (
    CATALOG_COLUMNS,
    CATALOG_DTYPES,
    apply_quality_cuts,
    asinh_colours,
    colour_outliers,
    convert_photometry,
    data_validity_reasons,
    flag_out_of_support,
    ingest_frame,
    merge_summaries,
    sanity_problems,
    summarise,
)
from sedflow_dask.ingest.reasons import BAND_BITS, CUT_BITS, DATA_VALIDITY_BITS
from sedflow_dask.ingest.reasons import IngestReason as R
from sedflow_dask.ingest.schema import ColumnInfo, check_column_types, detect_schema
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.photometry import COLOUR_PAIRS, FLUX_COLUMNS, IVAR_COLUMNS, ivar_from_sigma_mag, mag_to_flux

PROPOSAL = default_proposal()
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


def test_golden_noise_outlier_of_the_paper_is_inside_the_proposal():
    # nsa-ingest.md §5 (i): sigma_r ~ 0.116 mag, a noise outlier for the paper's p(sigma | m), but
    # sigma_f = 0.116 f / 1.0857 ~ 15 nmgy lies inside the broad training proposal
    f = np.array([[35.560593, 91.709236, 139.84373, 169.70816, 194.97598]], dtype=np.float32)
    w = np.array([[0.22200741, 0.30760366, 0.00446658, 0.05008115, 0.01728794]], dtype=np.float32)
    _, s = convert_photometry(f, w)
    assert s[0, 2] == pytest.approx(0.116, abs=2e-3)
    sigma_f = 1 / np.sqrt(w.astype(np.float64))
    oos_noise, oos_color = flag_out_of_support(f, sigma_f, PROPOSAL, LOW_Q)
    assert not oos_noise[0] and not oos_color[0]


# -- reasons ------------------------------------------------------------------------------------
def _one(flux, ivar, z=0.05, bands=(2,)):
    """Reason bits of one galaxy whose ``bands`` get (flux, ivar); the others are good."""
    f = np.full((1, 5), 100.0)
    w = np.full((1, 5), 10.0)
    for k in bands:
        f[0, k], w[0, k] = flux, ivar
    return int(data_validity_reasons(f, w, np.array([z]))[0])


@pytest.mark.parametrize("flux, ivar, z, bits", [
    (100.0, 10.0, 0.05, 0),
    (np.nan, 10.0, 0.05, 0),            # one band lost: four measured bands are enough
    (np.inf, 10.0, 0.05, 0),
    (-np.inf, 10.0, 0.05, 0),
    (0.0, 10.0, 0.05, 0),               # zero and negative fluxes are measurements
    (-3.0, 10.0, 0.05, 0),
    (100.0, 0.0, 0.05, 0),
    (100.0, -1.0, 0.05, 0),
    (100.0, np.nan, 0.05, 0),
    (100.0, np.inf, 0.05, 0),
    (1e-300, 1e-300, 0.05, 0),          # sigma_m overflows, but sigma_f = 1e150 is an (enormous) error
    (100.0, 10.0, np.nan, R.Z_INVALID),
    (100.0, 10.0, np.inf, R.Z_INVALID),
    (100.0, 10.0, 0.0, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, -0.001, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, 0.2000001, R.Z_OUT_OF_RANGE),
    (100.0, 10.0, 0.2, 0),
    (100.0, 10.0, 1e-4, 0),
    (np.nan, 0.0, 0.3, R.Z_OUT_OF_RANGE),
])
def test_every_data_validity_bit(flux, ivar, z, bits):
    assert _one(flux, ivar, z) == int(bits)


@pytest.mark.parametrize("flux, ivar, bands, bits", [
    (np.nan, 10.0, (0, 1), 0),                                          # three bands left
    (-5.0, 10.0, (0, 1, 2), 0),                                         # negative fluxes are measured
    (np.nan, 10.0, (0, 1, 2), R.TOO_FEW_BANDS | R.NONFINITE_FLUX),
    (100.0, 0.0, (1, 3, 4), R.TOO_FEW_BANDS | R.BAD_IVAR),
    (np.inf, -1.0, (0, 1, 2, 3, 4), R.TOO_FEW_BANDS | R.NONFINITE_FLUX | R.BAD_IVAR),
])
def test_too_few_bands(flux, ivar, bands, bits):
    assert _one(flux, ivar, bands=bands) == int(bits)


def test_bit_groups():
    # the per-band bits inform; only TOO_FEW_BANDS and the redshift bits make a galaxy bad input
    assert int(DATA_VALIDITY_BITS) == int(R.TOO_FEW_BANDS | R.Z_INVALID | R.Z_OUT_OF_RANGE)
    assert int(DATA_VALIDITY_BITS) & int(BAND_BITS) == 0 and int(CUT_BITS) & int(BAND_BITS) == 0
    assert int(DATA_VALIDITY_BITS) | int(BAND_BITS) | int(CUT_BITS) == sum(int(r) for r in R)


def _galaxy(flux_u=None, ivar_u=None):
    """One ingested row of a z = 0.05 galaxy with good griz photometry and the given u band."""
    f = np.array([[20.0, 60.0, 100.0, 130.0, 150.0]])
    w = 1 / (0.03 * f) ** 2
    if flux_u is not None:
        f[0, 0] = flux_u
    if ivar_u is not None:
        w[0, 0] = ivar_u
    raw = pd.DataFrame({"nsaid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05],
                        **{c: f[:, k] for k, c in enumerate(FLUX_COLUMNS)},
                        **{c: w[:, k] for k, c in enumerate(IVAR_COLUMNS)}})
    return ingest_frame(raw, proposal=PROPOSAL, colour_quantiles=LOW_Q).iloc[0]


def test_negative_u_flux_is_a_usable_measurement():
    row = _galaxy(flux_u=-0.4, ivar_u=1 / 0.5**2)
    assert row["ingest_reason"] == 0 and int(row["ingest_reason"]) & int(DATA_VALIDITY_BITS) == 0
    assert row["bands_used"] == 31
    assert row["flux_u"] == -0.4                              # kept as measured
    assert np.isnan(row["mag_u"]) and row["sigma_u"] == pytest.approx(2.5 / np.log(10) * 0.5 / 0.4)  # |f|
    assert np.isfinite(row["mag_g"]) and not row["oos_noise"]


@pytest.mark.parametrize("flux_u, ivar_u", [(np.nan, 1.0), (20.0, 0.0), (20.0, np.nan), (np.inf, 1.0)])
def test_unusable_u_band_leaves_a_usable_galaxy(flux_u, ivar_u):
    row = _galaxy(flux_u=flux_u, ivar_u=ivar_u)
    assert row["ingest_reason"] == 0 and row["bands_used"] == 30


def test_two_bands_are_bad_input():
    f = np.array([[20.0, 60.0, np.nan, np.nan, np.nan]])
    w = np.array([[1.0, 1.0, 1.0, 0.0, 1.0]])
    raw = pd.DataFrame({"nsaid": [1], "ra": [150.0], "dec": [2.0], "z": [0.05],
                        **{c: f[:, k] for k, c in enumerate(FLUX_COLUMNS)},
                        **{c: w[:, k] for k, c in enumerate(IVAR_COLUMNS)}})
    row = ingest_frame(raw, proposal=PROPOSAL, colour_quantiles=LOW_Q).iloc[0]
    assert row["ingest_reason"] == int(R.TOO_FEW_BANDS | R.NONFINITE_FLUX | R.BAD_IVAR)
    assert row["bands_used"] == 3 and not row["oos_noise"] and not row["oos_color"]


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
    out = ingest_frame(raw_from_catalog(cat), proposal=PROPOSAL, colour_quantiles=LOW_Q)
    assert list(out.columns) == list(CATALOG_COLUMNS)
    assert {c: out[c].dtype for c in out.columns} == {c: np.dtype(t) for c, t in CATALOG_DTYPES.items()}
    assert np.array_equal(out["ingest_reason"].to_numpy(), cat.reason)
    assert np.array_equal(out["bands_used"].to_numpy(), cat.bands_used)
    assert len(set(cat.pathology)) == len(fx.PATHOLOGIES) + 1
    # the DFLAGS cut is opt-in
    cut = ingest_frame(raw_from_catalog(cat), proposal=PROPOSAL, colour_quantiles=LOW_Q, dflags_cut=True)
    expected = cat.reason | np.where(cat.dflags_bad, int(R.DFLAGS_BAD), 0)
    assert np.array_equal(cut["ingest_reason"].to_numpy(), expected)
    # out-of-support flags only on usable rows
    assert not (out["oos_noise"] & (out["ingest_reason"] != 0)).any()


def test_all_nan_band_and_empty_input():
    cat = fx.make_catalog(500, 4, inject=False)
    cat.nmgy[:, 3] = np.nan
    out = ingest_frame(raw_from_catalog(cat), proposal=PROPOSAL, colour_quantiles=LOW_Q)
    assert (out["ingest_reason"] == 0).all() and (out["bands_used"] == 31 - 2).all()
    summary = summarise(out)
    assert summary["usable_without"] == {"u": 0, "g": 500, "r": 0, "i": 0, "z": 0}
    problems = sanity_problems(summary, source="x.fits")
    assert any("band g has no finite flux in any of the 500 rows" in p for p in problems)
    empty = ingest_frame(raw_from_catalog(cat).iloc[:0], proposal=PROPOSAL, colour_quantiles=LOW_Q)
    assert len(empty) == 0 and list(empty.columns) == list(CATALOG_COLUMNS)


# -- out of support --------------------------------------------------------------------------------
def test_noise_support_is_the_proposal_range():
    f = np.array([[20.0, 60.0, 100.0, 130.0, 150.0]] * 4)
    s = 0.03 * f                                         # a typical real SDSS error (3 %)
    s[1] *= 3.0                                          # x3 in every band: inside the proposal
    s[2, 2] = PROPOSAL.sigma_max[2] * 1.01               # above the r range
    s[3, 0] = PROPOSAL.sigma_min[0] * 0.99               # below the u range
    noise, _ = flag_out_of_support(f, s, PROPOSAL, LOW_Q)
    assert noise.tolist() == [False, False, True, True]
    s[2, 2] = np.nan                                     # an absent band is never out of range
    f[2, 2] = np.nan
    noise, _ = flag_out_of_support(f, s, PROPOSAL, LOW_Q, usable=np.array([True, True, True, False]))
    assert noise.tolist() == [False, False, False, False]


def test_asinh_colour_errors():
    f = np.array([[0.0, 200.0, 100.0, 100.0, 100.0]])
    s = np.array([[0.5, 2.0, 1.0, 1.0, 1.0]])
    c, sigma_c = asinh_colours(f, s)
    b = np.array([0.14, 0.09, 0.12, 0.18, 0.74])
    mu = -2.5 / np.log(10) * (np.arcsinh(f / (2 * b)) + np.log(b * 1e-9))
    sigma_mu = 1.0857362 * s / np.sqrt(f**2 + 4 * b**2)
    assert c[0, 0] == pytest.approx(mu[0, 0] - mu[0, 1], abs=1e-9)          # u-g
    assert sigma_c[0, 0] == pytest.approx(np.hypot(sigma_mu[0, 0], sigma_mu[0, 1]), rel=1e-6)
    assert sigma_mu[0, 0] == pytest.approx(1.0857362 * 0.5 / 0.28, rel=1e-6)  # at f = 0: sigma / 2b
    assert c[0, 4] == pytest.approx(-2.5 * np.log10(2.0), abs=1e-4)          # g-r of bright fluxes: Pogson


def test_colour_rule_allows_for_the_colour_error():
    q = np.zeros(len(COLOUR_PAIRS))
    q[0] = 1.0                                           # u - g must be >= 1 mag
    g = 100.0
    u = g * 10 ** (-0.4 * 0.7)                           # u - g = 0.7 mag: 0.3 mag bluer than allowed
    f = np.array([[u, g, 100.0, 100.0, 100.0]] * 3)
    s = 0.001 * f                                        # high S/N: significant
    s[1, 0] = 0.1 * u                                    # sigma_(u-g) ~ 0.11 mag: 0.3 < 3 sigma, kept
    s[2, 0] = 0.05 * u                                   # sigma ~ 0.054 mag: 0.3 > 3 sigma, flagged
    assert colour_outliers(f, s, q).tolist() == [True, False, True]
    assert colour_outliers(f, s, q, n_sigma=10.0).tolist() == [True, False, False]
    f[0, 0] = s[0, 0] = np.nan                           # u absent: no u colour to test
    assert colour_outliers(f, s, q).tolist() == [False, False, True]
    _, colour = flag_out_of_support(f, s, PROPOSAL, q, usable=np.array([True, True, False]))
    assert colour.tolist() == [False, False, False]
    with pytest.raises(ValueError, match="10 finite numbers"):
        flag_out_of_support(f, s, PROPOSAL, q[:9])


def test_sanity_checks_catch_wrong_band_order():
    cat = fx.make_catalog(1000, 6, inject=False)
    raw = raw_from_catalog(cat)
    good = ingest_frame(raw, proposal=PROPOSAL, colour_quantiles=LOW_Q)
    assert sanity_problems(summarise(good)) == []
    swapped = raw.rename(columns={"flux_u": "flux_r", "flux_r": "flux_u", "ivar_u": "ivar_r", "ivar_r": "ivar_u"})
    bad = ingest_frame(swapped, proposal=PROPOSAL, colour_quantiles=LOW_Q)
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
