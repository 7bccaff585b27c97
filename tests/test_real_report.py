"""The real-galaxy report's pure functions, each against a value known independently of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import cosmology

from sedflow_dask.diagnostics.real_report import (
    CHI2_LIMIT,
    WIDTH_NAMES,
    constraint_ratios,
    correlation,
    count_summary,
    kcorrect_masses,
    main_sequence,
    nmad,
    posterior_ssfr,
    predictive_check,
    prior_sample,
)
from sedflow_dask.prior import SEDPrior
from sedflow_dask.sps.parameters import BOX_LOWER, BOX_UPPER


@pytest.fixture(scope="module")
def forward():
    from sedflow_dask.sps import PROVABGSModel

    return PROVABGSModel()


def test_nmad_by_hand_and_of_a_gaussian():
    assert nmad([1, 2, 3, 4, 100]) == pytest.approx(1.482602218505602)  # median 3, |dev| median 1
    assert np.isnan(nmad([np.nan]))
    x = np.random.default_rng(0).normal(5.0, 0.3, 40_000)
    assert nmad(x) == pytest.approx(0.3, abs=4 * 0.3 * 1.166 / np.sqrt(len(x)))  # SE of NMAD ≈ 1.17 σ/√n


def test_predictive_check_of_chi2_5_draws():
    n = 200_000
    c = np.random.default_rng(1).chisquare(5, n)
    got = predictive_check(np.concatenate([c, [np.nan, np.inf]]))
    assert got["n"] == n and got["n_nonfinite"] == 2
    assert CHI2_LIMIT == pytest.approx(20.515, abs=1e-3)
    assert got["frac_over_limit"] == pytest.approx(1e-3, abs=4 * np.sqrt(1e-3 / n))
    for q in ("p16", "p50", "p84"):
        assert got[q] == pytest.approx(got["chi2_5"][q], rel=0.02)


def test_count_summary_by_hand():
    frame = pd.DataFrame({
        "ingest_reason": [0, 0, 0, 0, 2, 2 | 32, 128],
        "oos_noise": [True, False, True, False, True, False, False],
        "oos_color": [False, True, True, False, False, True, False],
        "fallback_reason": [1, 2, 3, 0, None, None, None],
        "status": ["mcmc", "skipped", "mcmc", "ok", "bad_input", "bad_input", "cut"],
        "method": ["mcmc", "flow", "mcmc", "flow", None, None, None]})
    got = count_summary(frame)
    assert got["rows"] == 7 and got["usable"] == 4
    assert got["reason_bits"]["NONPOSITIVE_FLUX"] == 2 and got["reason_bits"]["Z_OUT_OF_RANGE"] == 1
    assert got["reason_bits"]["FLAGS_UNCLEAN"] == 1 and got["reason_bits"]["BAD_IVAR"] == 0
    # out of support among usable rows only: the unusable row 4 with oos_noise does not count
    assert got["out_of_support"] == {"noise": 2, "color": 2, "color_not_noise": 1, "any": 3}
    assert got["oos_frac"] == pytest.approx(3 / 4)
    assert got["routed"] == 3 and got["routed_frac"] == pytest.approx(3 / 4)
    assert got["routed_by_reason"]["OOS_NOISE"] == 2 and got["routed_by_reason"]["OOS_COLOR"] == 2
    assert got["status_counts"] == {"mcmc": 2, "bad_input": 2, "skipped": 1, "ok": 1, "cut": 1}
    assert got["method_counts"] == {"none": 3, "mcmc": 2, "flow": 2}


def test_main_sequence_recovers_a_known_line_and_ignores_quiescent_galaxies():
    rng = np.random.default_rng(2)
    n = 20_000
    m = rng.uniform(9.0, 11.5, n)
    sfr = 0.5 + 0.8 * (m - 10) + rng.normal(0, 0.3, n)  # sSFR >= -10.2 - 5 sigma: all above the cut
    mq = rng.uniform(9.5, 11.0, n // 2)
    sfr_q = mq - 12.0 + rng.normal(0, 0.2, n // 2)  # quiescent: below the sSFR cut
    got = main_sequence(np.concatenate([m, mq]), np.concatenate([sfr, sfr_q]))
    assert got["slope"] == pytest.approx(0.8, abs=0.03)
    assert got["sfr_at_1e10"] == pytest.approx(0.5, abs=0.02)
    assert got["scatter"] == pytest.approx(0.3, abs=0.02)
    in_range = (m > 9.5) & (m < 11)
    assert got["n_star_forming"] == in_range.sum()
    assert len(got["bins"]) == 6 and sum(b["n"] for b in got["bins"]) == in_range.sum()
    few = main_sequence(m[:5], sfr[:5])
    assert few["slope"] is None and few["scatter"] is None


def _kcorrect_photometry(coeffs, z):
    """Noise-free AB magnitudes of kcorrect template combinations (the fit must return them)."""
    import kcorrect.kcorrect

    kc = kcorrect.kcorrect.Kcorrect(responses=[f"sdss_{b}0" for b in "ugriz"], redshift_range=[0.0, 0.25],
                                    nredshift=251, cosmo=cosmology.Planck13)
    maggies = kc.reconstruct(redshift=z, coeffs=coeffs)
    derived = kc.derived(redshift=z, coeffs=coeffs)
    return -2.5 * np.log10(maggies), np.log10(derived["intsfh"])


def test_kcorrect_masses_recover_template_galaxies_and_scale_with_flux_and_distance():
    z = np.array([0.03, 0.08, 0.15])
    coeffs = np.array([[3e-11, 1e-12, 0, 0, 0], [0, 2e-12, 0, 5e-13, 0], [1e-12, 0, 0, 0, 4e-13]], dtype=np.float32)
    mag, log_formed = _kcorrect_photometry(coeffs, z)
    sigma = np.full_like(mag, 0.02)
    got = kcorrect_masses(mag, sigma, z)
    assert np.all(got.chi2 < 1e-3)  # the templates reproduce their own photometry
    np.testing.assert_allclose(got.log_mstar_formed, log_formed, atol=0.02)
    assert np.all(got.log_mstar_remaining < got.log_mstar_formed)  # mass returned to the ISM
    # fluxes ten times brighter: ten times the mass (NNLS is linear)
    brighter = kcorrect_masses(mag - 2.5, sigma, z)
    np.testing.assert_allclose(brighter.log_mstar_formed - got.log_mstar_formed, 1.0, atol=1e-4)
    # another cosmology: masses scale as d_L^2
    other = kcorrect_masses(mag, sigma, z, cosmology="WMAP9")
    expect = 2 * np.log10(cosmology.WMAP9.luminosity_distance(z) / cosmology.Planck13.luminosity_distance(z))
    np.testing.assert_allclose(other.log_mstar_formed - got.log_mstar_formed, expect.value, atol=1e-4)


def test_kcorrect_masses_leave_unusable_rows_out():
    mag = np.array([[18.0, 17.0, 16.5, 16.2, 16.0], [18.0, np.nan, 16.5, 16.2, 16.0], [18.0, 17.0, 16.5, 16.2, 16.0]])
    sigma = np.array([[0.05, 0.02, 0.02, 0.02, 0.03], [0.05, 0.02, 0.02, 0.02, 0.03], [0.05, 0.02, 0, 0.02, 0.03]])
    got = kcorrect_masses(mag, sigma, np.array([0.05, 0.05, 0.05]))
    assert np.isfinite(got.log_mstar_formed[0]) and np.isnan(got.log_mstar_formed[1:]).all()
    with pytest.raises(ValueError, match=r"\(G, 5\)"):
        kcorrect_masses(mag[:, :4], sigma[:, :4], np.array([0.05, 0.05, 0.05]))


def test_prior_widths_of_a_uniform_mass_and_unit_ratio(forward):
    prior = SEDPrior()
    draws = prior_sample(forward, prior, z_pool=np.array([0.02, 0.05, 0.1]), n=20_000, seed=3)
    assert set(draws.derived) == set(WIDTH_NAMES) and draws.mag.shape == (20_000, 5)
    assert set(np.unique(draws.z)) == {0.02, 0.05, 0.1}
    width = 0.34 * (BOX_UPPER[0] - BOX_LOWER[0])  # half the 16-84 % range of a uniform log M*
    ratios = constraint_ratios({"log_mstar": np.full(10, width), "t_mw": np.full(10, np.nan)}, draws)
    assert ratios["log_mstar"]["prior_half_width"] == pytest.approx(width, rel=0.02)
    assert ratios["log_mstar"]["ratio_median"] == pytest.approx(1.0, rel=0.02)
    assert ratios["t_mw"]["n"] == 0 and ratios["t_mw"]["ratio_median"] is None


def test_posterior_ssfr_of_point_masses_is_the_forward_models(forward):
    theta, z = SEDPrior().sample(3, np.random.default_rng(4))
    samples = [np.tile(t, (50, 1)).ravel().astype(np.float32) for t in theta]
    got = posterior_ssfr(forward, samples, z)
    props = forward.derived_properties(theta.astype(np.float32).astype(np.float64), z, space="box")
    expect = props["log_sfr_1gyr"] - props["log_mstar_formed"]
    for k in range(3):
        np.testing.assert_allclose(got[:, k], expect, rtol=1e-9)
    assert posterior_ssfr(forward, [], np.zeros(0)).shape == (0, 3)


def test_correlation_of_a_linear_relation():
    x = np.arange(10.0)
    got = correlation(np.append(x, np.nan), np.append(2 * x + 1, 3.0))
    assert got == {"n": 10, "pearson": pytest.approx(1.0), "spearman": pytest.approx(1.0)}
    assert correlation([1.0, 2.0], [1.0, 2.0])["pearson"] is None


def test_prior_sample_refuses_an_empty_redshift_pool(forward):
    with pytest.raises(ValueError, match="no valid redshift"):
        prior_sample(forward, SEDPrior(), z_pool=np.array([np.nan, -1.0]), n=10)
