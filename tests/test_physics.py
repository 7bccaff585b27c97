"""Physics invariants of the package's vectorised PROVABGS model, and its agreement with the
independent scalar float64 reference (tests/reference_model.py), on the shipped BC03 table.

Tolerances (not to be loosened without a measurement and a note):
* photometry vs the reference: 1e-4 relative in flux per band;
* rest-frame spectra vs the reference: 1e-5 relative per pixel (float32 synthesis);
* derived properties vs the reference: 1e-6 relative.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_model as ref  # noqa: E402

from sedflow_dask.config import SPSConfig  # noqa: E402
from sedflow_dask.sps import parameters as P  # noqa: E402
from sedflow_dask.sps.model import PROVABGSModel  # noqa: E402
from sedflow_dask.sps.ssp_table import load_ssp_table  # noqa: E402

N_DRAWS = 50
PHOT_RTOL = 1e-4
SPEC_RTOL = 1e-5
DERIVED_RTOL = 1e-6


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def table():
    return load_ssp_table()


@pytest.fixture(scope="module")
def model(table):
    return PROVABGSModel(table=table)


@pytest.fixture(scope="module")
def model64(table):
    return PROVABGSModel(table=table, config=SPSConfig(dtype="float64"))


@pytest.fixture(scope="module")
def model_exact_zp(table):
    """The exact-quadrature references integrate the AB zero point exactly too."""
    return PROVABGSModel(table=table, config=SPSConfig(ab_zeropoint="exact"))


@pytest.fixture(scope="module")
def model64_exact_zp(table):
    return PROVABGSModel(table=table, config=SPSConfig(dtype="float64", ab_zeropoint="exact"))


def prior_draws(n: int, seed: int, z_lo: float = 1e-3, z_hi: float = 0.2):
    """(theta_box (n, 11), theta_phys (n, 12), z (n,)): box-uniform prior, z ~ U(z_lo, z_hi]."""
    rng = np.random.default_rng(seed)
    box = rng.uniform(ref.BOX_LO, ref.BOX_HI, (n, 11))
    z = z_hi - (z_hi - z_lo) * rng.random(n)  # in (z_lo, z_hi]
    phys = np.array([ref.box_to_physical(b) for b in box])
    return box, phys, z


def key_sample():
    """The key comparison sample: 50 prior draws plus hand-picked corners.

    Corners: z at both ends; a burst just inside / just outside t_age; z < 0.0117 where the
    last bin reaches beyond the last basis node (negative B_4 extrapolation); extreme dust and
    metallicity coefficients; β on the simplex's vertices.
    """
    _, phys, z = prior_draws(N_DRAWS, seed=20240501)
    extra_th, extra_z = [], []
    base = np.array([10.3, 0.4, 0.3, 0.2, 0.1, 0.3, 1.0, 2e-3, 3e-3, 0.7, 0.6, -0.4])

    def add(zz, **kw):
        th = base.copy()
        for k, v in kw.items():
            th[P.PHYSICAL_NAMES.index(k)] = v
        extra_th.append(th)
        extra_z.append(zz)

    add(1e-3)
    add(0.2)
    add(0.15, tburst=ref.t_age_gyr(0.15) - 1e-6)
    add(0.15, tburst=ref.t_age_gyr(0.15) + 1e-3)
    add(0.005, beta1=0.0, beta2=0.0, beta3=0.0, beta4=1.0)
    add(0.1, beta1=1.0, beta2=0.0, beta3=0.0, beta4=0.0, tau_bc=3.0)
    add(0.05, gamma1=1.5e-2, gamma2=1.5e-2, tau_ism=3.0, n_dust=-2.0)
    add(0.05, gamma1=4.5e-5, gamma2=4.5e-5, tau_ism=3.0, n_dust=1.0)
    add(0.12, fburst=1.0, tburst=0.01)
    add(0.12, fburst=0.0, tau_bc=0.0, tau_ism=0.0)
    return np.vstack([phys, np.array(extra_th)]), np.concatenate([z, extra_z])


@pytest.fixture(scope="module")
def key(table):
    th, z = key_sample()
    refs = [ref.reference_sed(th[i], z[i], table) for i in range(len(z))]
    return th, z, refs


def rel_err(a, b):
    """|a − b| / |b|, with 0 where both are 0 (e.g. SFR_1Gyr of a pure oldest-basis SFH)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / np.abs(b))


def mags(maggies):
    return -2.5 * np.log10(maggies)


def theta(**kw) -> np.ndarray:
    th = np.array([10.0, 0.4, 0.3, 0.2, 0.1, 0.2, 1.5, 2e-3, 3e-3, 0.5, 0.5, -0.5])
    for k, v in kw.items():
        th[P.PHYSICAL_NAMES.index(k)] = v
    return th


def solar_burst(t_b: float, log_mstar: float = 10.0, **kw) -> np.ndarray:
    """A pure single burst at t_b with Z_b = 0.019 exactly (ζ = 0, the BC03 Z = 0.02 node)."""
    _, Zb = ref.nmf_bases()
    g = 0.019 / (Zb[0](t_b) + Zb[1](t_b))
    assert 4.5e-5 <= g <= 1.5e-2
    return theta(log_mstar=log_mstar, fburst=1.0, tburst=t_b, gamma1=g, gamma2=g,
                 tau_bc=0.0, tau_ism=0.0, **kw)


# ---------------------------------------------------------------------------------------------
# THE KEY TESTS: vectorised model == scalar reference
# ---------------------------------------------------------------------------------------------

def test_photometry_matches_reference_speclite(model, key):
    """Package photometry vs the reference integrated with speclite ``get_ab_maggies`` (§10).

    speclite's trapezoid rule on the union grid (and its AB zero points, a trapezoid of R/λ on
    each filter's own grid: u has a 3460 Å gap in its red leak) is itself an approximation of
    the integral of the same piecewise-linear spectrum; see the next test for the exact one.
    """
    th, z, refs = key
    got = model.photometry(th, z)
    want = np.array([o["maggies"] for o in refs])
    err = rel_err(got, want)
    assert got.shape == (len(z), 5)
    assert err.max() <= PHOT_RTOL, f"max relative flux error per band (ugriz): {err.max(axis=0)}"


def test_photometry_matches_reference_exact_quadrature(model_exact_zp, key):
    """Package photometry vs the reference with exact quadrature of the same spectrum (§10)."""
    th, z, refs = key
    got = model_exact_zp.photometry(th, z)
    want = np.array([o["maggies_exact"] for o in refs])
    err = rel_err(got, want)
    assert err.max() <= PHOT_RTOL, f"max relative flux error per band (ugriz): {err.max(axis=0)}"


def test_photometry_units(model, key):
    th, z, _ = key
    mg = model.photometry(th[:5], z[:5])
    np.testing.assert_allclose(model.photometry(th[:5], z[:5], unit="nanomaggies"), 1e9 * mg, rtol=1e-12)
    np.testing.assert_allclose(model.photometry(th[:5], z[:5], unit="mag"), mags(mg), rtol=0, atol=1e-9)
    box = np.array([ref.physical_to_box(t) for t in th[:5]])
    np.testing.assert_allclose(model.photometry(box, z[:5], space="box"), mg, rtol=1e-6)


def test_photometry_quadrature_at_band_grid_redshifts(model64_exact_zp, table):
    """At redshifts on the band-weight grid the only approximation left is quadrature: 1e-5."""
    dz = model64_exact_zp.config.filter_dz
    _, th, z = prior_draws(12, seed=7)
    z = np.clip(np.round(z / dz), 1, None) * dz
    got = model64_exact_zp.photometry(th, z)
    want = np.array([ref.reference_sed(th[i], z[i], table)["maggies_exact"] for i in range(len(z))])
    err = rel_err(got, want)
    assert err.max() <= 1e-5, f"max relative flux error per band (ugriz): {err.max(axis=0)}"


def test_spectra_match_reference(model, key):
    th, z, refs = key
    wave, lum = model.spectra(th, z, frame="rest")
    np.testing.assert_array_equal(wave, refs[0]["wave"])
    want = np.array([o["lum_rest"] for o in refs])
    err = rel_err(lum, want)
    assert err.max() <= SPEC_RTOL, f"max relative error {err.max():.3g} (galaxy {np.argmax(err.max(1))})"


def test_derived_properties_match_reference(model, key):
    th, z, refs = key
    d = model.derived_properties(th, z)
    assert set(d) >= {"log_mstar_formed", "log_mstar_surviving", "log_sfr_1gyr", "log_z_mw", "t_mw"}
    for name in d:
        assert np.shape(d[name]) == (len(z),), name
    np.testing.assert_array_equal(d["log_mstar_formed"], th[:, 0])
    checks = {
        "mstar_surviving": (10 ** d["log_mstar_surviving"], [o["mstar_surviving"] for o in refs]),
        "sfr_1gyr": (10 ** d["log_sfr_1gyr"], [o["sfr_1gyr"] for o in refs]),
        "z_mw": (10 ** d["log_z_mw"], [o["z_mw"] for o in refs]),
        "t_mw": (d["t_mw"], [o["t_mw"] for o in refs]),
    }
    for name, (got, want) in checks.items():
        err = rel_err(got, want)
        assert err.max() <= DERIVED_RTOL, f"{name}: max relative error {err.max():.3g}"


def test_sfh_matches_reference(model, key):
    th, z, refs = key
    h = model.star_formation_history(th, z)
    np.testing.assert_allclose(h.edges, [o["edges"] for o in refs], rtol=1e-11, atol=0)
    np.testing.assert_allclose(h.sfh, [o["sfh"] for o in refs], rtol=1e-9, atol=0)
    # 1e-8, not 1e-12: clipped bins carry the clip limits, whose exact values are checked
    # in test_clip_limits_are_the_spec_values
    np.testing.assert_allclose(h.zh, [o["zh"] for o in refs], rtol=1e-8, atol=0)


@pytest.mark.parametrize("option", [
    {"ssp_age_rule": "average"},
    {"burst_convention": "provabgs"},
    {"metallicity_extrapolation": "linear"},
    {"derived_burst": "exact"},
])
def test_config_options_match_reference(table, option):
    """Each non-default option (float64 synthesis) against the reference with the same option."""
    m = PROVABGSModel(table=table, config=SPSConfig(dtype="float64", **option))
    box, th, z = prior_draws(10, seed=11)
    th[:3, 6] = 13.2  # bursts older than the galaxy (D3 matters)
    th[3:5, 7:9] = 4.5e-5  # metallicities below the BC03 grid (D6 matters)
    refs = [ref.reference_sed(th[i], z[i], table, photometry=False, **option) for i in range(len(z))]
    _, lum = m.spectra(th, z)
    err = rel_err(lum, [o["lum_rest"] for o in refs])
    assert err.max() <= 1e-7, f"spectra: max relative error {err.max():.3g}"
    d = m.derived_properties(th, z)
    for name, got, want in (
        ("mstar_surviving", 10 ** d["log_mstar_surviving"], [o["mstar_surviving"] for o in refs]),
        ("sfr_1gyr", 10 ** d["log_sfr_1gyr"], [o["sfr_1gyr"] for o in refs]),
        ("z_mw", 10 ** d["log_z_mw"], [o["z_mw"] for o in refs]),
        ("t_mw", d["t_mw"], [o["t_mw"] for o in refs]),
    ):
        assert rel_err(got, want).max() <= DERIVED_RTOL, name


def test_spectra_match_reference_synthetic_table():
    """Same agreement on a synthetic table with irregular age nodes and a node at exactly 1e7 yr."""
    t = ref.synthetic_table()
    m = PROVABGSModel(table=t, config=SPSConfig(dtype="float64"))
    _, th, z = prior_draws(12, seed=5)
    refs = [ref.reference_sed(th[i], z[i], t, photometry=False) for i in range(len(z))]
    _, lum = m.spectra(th, z)
    err = rel_err(lum, [o["lum_rest"] for o in refs])
    assert err.max() <= 1e-7, f"max relative error {err.max():.3g}"
    d = m.derived_properties(th, z)
    assert rel_err(10 ** d["log_mstar_surviving"], [o["mstar_surviving"] for o in refs]).max() <= DERIVED_RTOL


# ---------------------------------------------------------------------------------------------
# SFH and ZH invariants
# ---------------------------------------------------------------------------------------------

def test_sfh_integrates_to_formed_mass(model):
    _, th, _ = prior_draws(300, seed=3)
    for z in (1e-3, 0.0117, 0.05, 0.12, 0.2):
        zz = np.full(len(th), z)
        h = model.star_formation_history(th, zz)
        mass = np.sum(1e9 * np.diff(h.edges, axis=1) * h.sfh, axis=1)
        np.testing.assert_allclose(mass, 10 ** th[:, 0], rtol=1e-10, err_msg=f"z = {z}")
        assert np.all(h.sfh >= 0), f"negative SFR at z = {z}"
        np.testing.assert_allclose(h.edges[:, -1], ref.t_age_gyr(z), rtol=1e-10)


def test_zh_respects_clip(model):
    box, th, z = prior_draws(200, seed=4)
    th[:50, 7:9] = 1.5e-2   # upper corner: young bins above Z_max
    th[50:100, 7:9] = 4.5e-5  # lower corner: old bins below Z_min
    h = model.star_formation_history(th, z)
    from sedflow_dask.sps import nmf

    # (the clip limits' values themselves: test_clip_limits_are_the_spec_values)
    assert np.all(h.zh >= nmf.Z_MIN) and np.all(h.zh <= nmf.Z_MAX)
    assert np.any(h.zh == nmf.Z_MAX) and np.any(h.zh == nmf.Z_MIN), "the clip was never exercised"
    _, Zb = ref.nmf_bases()
    cen = 0.5 * (h.edges[:, 1:] + h.edges[:, :-1])
    for i in range(0, len(z), 7):
        raw = np.array([th[i, 7] * Zb[0](c) + th[i, 8] * Zb[1](c) for c in cen[i]])
        np.testing.assert_allclose(h.zh[i], np.clip(raw, nmf.Z_MIN, nmf.Z_MAX), rtol=1e-12, atol=0)
        np.testing.assert_allclose(h.zh[i], np.clip(raw, ref.Z_MIN, ref.Z_MAX), rtol=1e-8, atol=0)
    zb = np.asarray(h.burst_metallicity)
    assert np.all(zb >= nmf.Z_MIN) and np.all(zb <= nmf.Z_MAX)
    assert np.any(zb == nmf.Z_MAX) and np.any(zb == nmf.Z_MIN)
    np.testing.assert_allclose(zb, [ref.zh_value(th[i, 6], th[i, 7], th[i, 8]) for i in range(len(z))], rtol=1e-8)


def test_clip_limits_are_the_spec_values():
    """§6 gives Z_min = 4.49043431e-05, Z_max = 4.49043431e-02 (upstream's literals)."""
    from sedflow_dask.sps import nmf

    assert nmf.Z_MIN == pytest.approx(4.49043431e-05, rel=1e-12, abs=0)
    assert nmf.Z_MAX == pytest.approx(4.49043431e-02, rel=1e-12, abs=0)


# ---------------------------------------------------------------------------------------------
# burst
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t_b", [0.01, 0.05, 0.3, 2.0, 9.5])
def test_pure_burst_is_a_single_ssp(model, table, t_b):
    """f_b = 1: the spectrum is 10^logM e^{-τ_ISM(λ)} SSP(t_b, Z_b), with no birth-cloud term."""
    z = 0.07
    th = theta(fburst=1.0, tburst=t_b, gamma1=3e-3, gamma2=1e-3, tau_bc=2.0, tau_ism=0.4, n_dust=-0.7)
    wave, lum = model.spectra(th[None], np.array([z]))
    zb = ref.zh_value(t_b, 3e-3, 1e-3)
    att = np.exp(-0.4 * np.array([ref.kc13_tau(l, -0.7) for l in wave]))
    want = 10 ** th[0] * att * ref.reference_single_ssp(t_b, zb, table)
    assert rel_err(lum[0], want).max() <= SPEC_RTOL
    flam = want * table.lsun_erg_s / (4 * math.pi * ref.lum_distance_cm(z) ** 2 * (1 + z))
    want_mg = ref.ab_maggies((1 + z) * wave, flam)
    assert rel_err(model.photometry(th[None], np.array([z]))[0], want_mg).max() <= PHOT_RTOL
    # the birth-cloud optical depth does not touch the burst
    th0 = th.copy()
    th0[9] = 0.0
    np.testing.assert_allclose(model.spectra(th0[None], np.array([z]))[1], lum, rtol=1e-6)


def test_burst_older_than_galaxy_contributes_nothing(model64):
    model = model64
    z = 0.15
    t_age = ref.t_age_gyr(z)
    th_out = theta(fburst=0.6, tburst=t_age + 0.5)
    th_none = theta(fburst=0.0, tburst=t_age + 0.5)
    th_in = theta(fburst=0.6, tburst=t_age - 0.5)
    ths = np.array([th_out, th_none, th_in])
    zz = np.full(3, z)
    ph = model.photometry(ths, zz)
    np.testing.assert_allclose(ph[0], ph[1], rtol=1e-12)
    assert rel_err(ph[2], ph[1]).min() > 1e-2  # an in-range burst does change the fluxes
    d = model.derived_properties(ths, zz)
    for name in d:
        np.testing.assert_allclose(d[name][0], d[name][1], rtol=1e-12, err_msg=name)
    h = model.star_formation_history(ths, zz)
    np.testing.assert_allclose(h.sfh[0], h.sfh[1], rtol=1e-12)


def test_burst_older_than_galaxy_provabgs_convention(table, model64):
    """D3 "provabgs": the NMF light (and surviving mass) is still scaled by (1 − f_b)."""
    model = model64
    m = PROVABGSModel(table=table, config=SPSConfig(burst_convention="provabgs", dtype="float64"))
    z = 0.15
    t_age = ref.t_age_gyr(z)
    fb = 0.6
    ths = np.array([theta(fburst=fb, tburst=t_age + 0.5), theta(fburst=0.0, tburst=t_age + 0.5)])
    zz = np.full(2, z)
    ph = m.photometry(ths, zz)
    np.testing.assert_allclose(ph[0], (1 - fb) * ph[1], rtol=1e-12)
    np.testing.assert_allclose(ph[1], model.photometry(ths[1:], zz[1:])[0], rtol=1e-12)
    d = m.derived_properties(ths, zz)
    assert d["log_mstar_surviving"][0] == pytest.approx(d["log_mstar_surviving"][1] + math.log10(1 - fb), abs=1e-9)
    for name in ("log_sfr_1gyr", "log_z_mw", "t_mw"):  # SFH-side quantities use f_b' (§5.3)
        assert d[name][0] == pytest.approx(d[name][1], rel=1e-12), name


# ---------------------------------------------------------------------------------------------
# dust
# ---------------------------------------------------------------------------------------------

def test_zero_dust_leaves_spectrum_unchanged(model, table):
    _, th, z = prior_draws(8, seed=9)
    th[:, 9:11] = 0.0
    th[:4, 11] = -2.0
    th[4:, 11] = 1.0
    _, att = model.spectra(th, z)
    _, intr = model.spectra(th, z, dust=False)
    np.testing.assert_allclose(att, intr, rtol=1e-6)
    want = [ref.reference_sed(th[i], z[i], table, photometry=False)["lum_intrinsic"] for i in range(len(z))]
    assert rel_err(intr, want).max() <= SPEC_RTOL
    # the intrinsic spectrum does not depend on the dust parameters
    th2 = th.copy()
    th2[:, 9:12] = [2.0, 1.5, -1.0]
    np.testing.assert_allclose(model.spectra(th2, z, dust=False)[1], intr, rtol=1e-6)


def test_more_dust_dims_every_band(model):
    taus = [0.0, 0.3, 1.0, 2.0, 3.0]
    for n in (-2.0, -0.5, 0.0, 0.5, 1.0):
        ths = np.array([theta(tau_ism=t, n_dust=n) for t in taus])
        ph = model.photometry(ths, np.full(len(taus), 0.08))
        assert np.all(np.diff(ph, axis=0) < 0), f"tau_ism, n = {n}"
    ths = np.array([theta(tau_bc=t) for t in taus])  # beta1 > 0: young stars present
    ph = model.photometry(ths, np.full(len(taus), 0.08))
    assert np.all(np.diff(ph, axis=0) < 0), "tau_bc"


@pytest.mark.parametrize("n", [-2.0, -1.0, -0.5, 0.0])
def test_ism_dust_reddens_for_non_positive_slope(model, n):
    # Up to tau_ism = 2: at n = -2 and tau_ism = 3 the u-band core is extinguished so far
    # (e^-10) that u's red leak (to 7941 Å) dominates and u - r turns bluer again (measured).
    taus = [0.0, 0.3, 1.0, 2.0]
    ths = np.array([theta(tau_ism=t, n_dust=n) for t in taus])
    m = mags(model.photometry(ths, np.full(len(taus), 0.08)))
    u_r = m[:, 0] - m[:, 2]
    g_z = m[:, 1] - m[:, 4]
    assert np.all(np.diff(u_r) > 0) and np.all(np.diff(g_z) > 0)


def test_ism_dust_nearly_grey_at_n_one(model):
    def colour_change_per_dimming(n):
        ths = np.array([theta(tau_ism=0.0, n_dust=n), theta(tau_ism=1.0, n_dust=n)])
        m = mags(model.photometry(ths, np.full(2, 0.08)))
        dim = m[1, 2] - m[0, 2]
        d_ur = (m[1, 0] - m[1, 2]) - (m[0, 0] - m[0, 2])
        d_gz = (m[1, 1] - m[1, 4]) - (m[0, 1] - m[0, 4])
        assert dim > 0.5
        return abs(d_ur) / dim, abs(d_gz) / dim

    ur, gz = colour_change_per_dimming(1.0)
    assert ur < 0.1 and gz < 0.2, (ur, gz)
    ur, gz = colour_change_per_dimming(-1.0)  # the measure does detect a non-grey curve
    assert ur > 0.5 and gz > 0.5, (ur, gz)


# ---------------------------------------------------------------------------------------------
# scaling with mass and redshift
# ---------------------------------------------------------------------------------------------

def test_flux_scales_with_formed_mass(model, model64):
    _, th, z = prior_draws(10, seed=12)
    th[:, 0] = 8.0
    th2 = th.copy()
    th2[:, 0] = 11.7
    np.testing.assert_allclose(model64.photometry(th2, z), 10**3.7 * model64.photometry(th, z), rtol=1e-12)
    np.testing.assert_allclose(model64.spectra(th2, z)[1], 10**3.7 * model64.spectra(th, z)[1], rtol=1e-12)
    # float32 synthesis: to its rounding
    np.testing.assert_allclose(model.photometry(th2, z), 10**3.7 * model.photometry(th, z), rtol=1e-5)
    d1, d2 = model.derived_properties(th, z), model.derived_properties(th2, z)
    for name in ("log_mstar_formed", "log_mstar_surviving", "log_sfr_1gyr"):
        np.testing.assert_allclose(d2[name] - d1[name], 3.7, rtol=0, atol=1e-10, err_msg=name)
    for name in ("log_z_mw", "t_mw"):
        np.testing.assert_allclose(d2[name], d1[name], rtol=1e-12, err_msg=name)


def test_observed_frame_matches_luminosity_distance(model, table):
    """f_λ(λ_obs) · 4π d_L² (1+z) / L_sun = L(λ) at λ_obs = (1+z) λ, d_L from astropy."""
    _, th, z = prior_draws(6, seed=13)
    wave, lum = model.spectra(th, z, frame="rest")
    wobs, flam = model.spectra(th, z, frame="observed")
    assert wobs.shape == flam.shape == lum.shape
    for i in range(len(z)):
        np.testing.assert_allclose(wobs[i], (1 + z[i]) * wave, rtol=1e-14)
        d_l = ref.lum_distance_cm(z[i])
        np.testing.assert_allclose(flam[i] * 4 * math.pi * d_l**2 * (1 + z[i]) / table.lsun_erg_s, lum[i], rtol=1e-6)


def test_redshift_dimming_bolometric(model, table):
    """A pure burst has a z-independent rest spectrum: ∫ f_λ dλ_obs · 4π d_L² = L_sun ∫ L dλ at every z."""
    th = solar_burst(3.0)
    th[10], th[11] = 0.5, -0.3
    zs = np.array([0.003, 0.02, 0.1, 0.2])
    ths = np.repeat(th[None], len(zs), axis=0)
    wave, lum = model.spectra(ths, zs)
    np.testing.assert_allclose(lum, np.repeat(lum[:1], len(zs), axis=0), rtol=1e-6)
    wobs, flam = model.spectra(ths, zs, frame="observed")
    l_bol = table.lsun_erg_s * np.sum(lum[0] * np.diff(table.wave_edges))
    for i, z in enumerate(zs):
        f_bol = np.sum(flam[i] * (1 + z) * np.diff(table.wave_edges))  # bins stretch by (1+z)
        assert f_bol * 4 * math.pi * ref.lum_distance_cm(z) ** 2 == pytest.approx(l_bol, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# stellar populations: colour-age relation and an absolute anchor
# ---------------------------------------------------------------------------------------------

def test_colours_redden_with_age(model):
    ages = [0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 7.0, 10.0]
    ths = np.array([solar_burst(a) for a in ages])
    m = mags(model.photometry(ths, np.full(len(ages), 0.05)))
    for (b1, b2) in ((0, 2), (1, 2), (1, 4)):
        col = m[:, b1] - m[:, b2]
        assert np.all(np.diff(col) > 0), f"colour {'ugriz'[b1]}-{'ugriz'[b2]} vs age: {col}"


def test_absolute_anchor_10gyr_solar_ssp(model, table):
    """A 10 Gyr, Z = 0.02 BC03 SSP: M_r ≈ 6.63 AB per M_sun formed, g − r ≈ 0.81 (ssp-table.md §1)."""
    th = solar_burst(10.0, log_mstar=10.0)
    wave, lum = model.spectra(th[None], np.array([0.01]))
    j = int(np.argmin(np.abs(table.z_abs - 0.02)))
    a = int(np.argmin(np.abs(table.age_yr - 1e10)))
    assert table.age_yr[a] == 1e10
    np.testing.assert_allclose(lum[0], 1e10 * table.lum[a, j].astype(np.float64), rtol=1e-5)
    M = ref.rest_frame_abs_mags(wave, lum[0] / 1e10, table.lsun_erg_s)
    assert M[2] == pytest.approx(6.63, abs=0.02)
    assert M[1] - M[2] == pytest.approx(0.81, abs=0.02)


# ---------------------------------------------------------------------------------------------
# parameter spaces
# ---------------------------------------------------------------------------------------------

def test_box_physical_round_trip():
    box, phys_ref, _ = prior_draws(500, seed=14, z_lo=0.01)
    box[:20, 1:4] = np.random.default_rng(0).integers(0, 2, (20, 3))  # stick corners 0/1
    phys_ref = np.array([ref.box_to_physical(b) for b in box])
    phys = P.box_to_physical(box)
    np.testing.assert_allclose(phys, phys_ref, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(phys[:, 1:5].sum(axis=1), 1.0, rtol=0, atol=1e-15)
    back = P.physical_to_box(phys)
    # exact where the inverse is regular; at singular points only the beta image is unique
    regular = (box[:, 1] > 0) & (box[:, 1] * box[:, 2] > 0)
    np.testing.assert_allclose(back[regular], box[regular], rtol=0, atol=1e-12)
    np.testing.assert_allclose(P.box_to_physical(back), phys, rtol=0, atol=1e-14)


def test_physical_box_round_trip_singular_points():
    betas = np.array([
        [1.0, 0.0, 0.0, 0.0],   # beta1 = 1: u1 = 0
        [0.3, 0.7, 0.0, 0.0],   # beta1 + beta2 = 1: u1 u2 = 0
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.25, 0.25, 0.25, 0.25],
        [0.1, 0.2, 0.3, 0.4],
    ])
    th = np.repeat(theta()[None], len(betas), axis=0)
    th[:, 1:5] = betas
    box = P.physical_to_box(th)
    assert np.all(np.isfinite(box))
    assert np.all((box[:, 1:4] >= 0) & (box[:, 1:4] <= 1))
    np.testing.assert_allclose(box, [ref.physical_to_box(t) for t in th], rtol=0, atol=1e-15)
    # spec §1.3: u2 = u3 = 0 at u1 = 0, u3 = 0 at u1 u2 = 0
    np.testing.assert_array_equal(box[0, 2:4], [0.0, 0.0])
    assert box[1, 3] == 0.0
    back = P.box_to_physical(box)
    np.testing.assert_allclose(back, th, rtol=0, atol=1e-15)
    np.testing.assert_allclose(P.physical_to_box(back), box, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good():
    return np.array([theta(), theta(tburst=5.0)]), np.array([0.05, 0.1])


CALLS = {
    "photometry": lambda m, th, z, **kw: m.photometry(th, z, **kw),
    "spectra": lambda m, th, z, **kw: m.spectra(th, z, **kw),
    "derived_properties": lambda m, th, z, **kw: m.derived_properties(th, z, **kw),
    "star_formation_history": lambda m, th, z, **kw: m.star_formation_history(th, z, **kw),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_bad_input_raises(model, good, call):
    f = CALLS[call]
    th, z = good
    f(model, th, z)  # the good input works

    bad = th.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="(?i)non-finite|nan"):
        f(model, bad, z)
    with pytest.raises(ValueError, match="(?i)shape"):
        f(model, th[:, :11], z)
    with pytest.raises(ValueError, match="(?i)shape"):
        f(model, th[None], z)
    with pytest.raises(ValueError, match="(?i)shape"):
        f(model, th, z, space="box")
    bad = th.copy()
    bad[0, 0] = 13.0
    with pytest.raises(ValueError, match="(?i)log_mstar.*outside|outside.*log_mstar"):
        f(model, bad, z)
    bad = th.copy()
    bad[1, 6] = 14.0
    with pytest.raises(ValueError, match="(?i)tburst.*outside|outside.*tburst"):
        f(model, bad, z)
    bad = th.copy()
    bad[0, 10] = -0.1
    with pytest.raises(ValueError, match="(?i)tau_ism"):
        f(model, bad, z)
    bad = th.copy()
    bad[0, 1] += 0.1  # betas off the simplex
    with pytest.raises(ValueError, match="(?i)beta"):
        f(model, bad, z)
    for zbad in (0.0, -0.01, np.nan, 0.3):
        with pytest.raises(ValueError, match=r"(?i)\bz\b|redshift"):
            f(model, th, np.array([0.05, zbad]))
    with pytest.raises(ValueError):
        f(model, th, np.array([0.05, 0.1, 0.12]))
