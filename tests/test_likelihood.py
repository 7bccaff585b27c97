"""The observation model: the likelihood the importance weights and the MCMC fallback evaluate is
the one the simulator's noise step implies (Gaussian in flux with the reported σ, absent bands
contributing nothing), on a toy galaxy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sedflow_dask.fallback import chi2, fallback_model, log_likelihood
from sedflow_dask.fallback.sampler import _Evaluator
from sedflow_dask.likelihood import REFERENCE_LOG_MASS
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.prior import SEDPrior

ABSENT = 1  # the toy galaxy has no g band


@pytest.fixture(scope="module")
def model():
    return fallback_model()


@pytest.fixture(scope="module")
def toy(model):
    """A prior galaxy observed once by the training set's noise step, g absent; six θ near its truth."""
    prior, proposal = SEDPrior(), default_proposal()
    rng = np.random.default_rng(21)
    theta, z = prior.sample(256, rng)
    flux_true = model.photometry(theta, z, space="box", unit="nanomaggies")
    i = int(np.flatnonzero(proposal.in_range(flux_true))[0])
    obs = proposal.observe(flux_true, rng)
    f, s = obs.flux[i].copy(), obs.sigma_flux[i].copy()
    f[ABSENT] = s[ABSENT] = np.nan
    # fill any band the proposal's dropout removed: the toy case has exactly one absent band
    dropped = np.isnan(f) & (np.arange(5) != ABSENT)
    f[dropped] = flux_true[i, dropped]
    s[dropped] = 0.1 * flux_true[i, dropped]
    # θ's near the truth, so that every log-likelihood is finite and their differences are O(1-100)
    near = theta[i] + 0.05 * (prior.upper - prior.lower) * rng.uniform(-1, 1, (6, 11))
    near[0] = theta[i]
    near = np.clip(near, prior.lower + 1e-6, prior.upper - 1e-6)
    assert prior.in_support(near).all()
    return {"theta": near, "z": float(z[i]), "flux": f, "sigma": s}


def reference_log_density(model, toy) -> tuple[np.ndarray, np.ndarray]:
    """(Σ over present bands of log N(f; F(θ), σ²), model fluxes (6, 5)): the noise step's density."""
    n = len(toy["theta"])
    model_flux = model.photometry(toy["theta"], np.full(n, toy["z"]), space="box", unit="nanomaggies")
    present = ~np.isnan(toy["flux"])
    assert present.sum() == 4
    return stats.norm.logpdf(toy["flux"][present], model_flux[:, present], toy["sigma"][present]).sum(axis=1), \
        model_flux


def test_log_likelihood_is_the_gaussian_flux_density_of_the_present_bands(model, toy):
    ref, _ = reference_log_density(model, toy)
    ll = log_likelihood(model, toy["theta"], toy["z"], toy["flux"], toy["sigma"])
    assert np.isfinite(ll).all() and np.ptp(ref) > 1.0  # the θ's are told apart
    np.testing.assert_allclose(ll - ll[0], ref - ref[0], rtol=1e-9, atol=1e-8)
    # the documented normalisation counts the present bands only: the constant is 0
    np.testing.assert_allclose(ll, ref, rtol=1e-12)


def test_fallback_evaluator_targets_prior_times_that_likelihood(model, toy):
    """The fallback's log posterior of box points, as its walkers evaluate them (unit-mass model
    fluxes rescaled to each point's log M*), differs between θ's as log p(θ) + the noise density."""
    prior = SEDPrior()
    ref, model_flux = reference_log_density(model, toy)
    theta = toy["theta"]
    n = len(theta)
    unit_theta = theta.copy()
    unit_theta[:, 0] = REFERENCE_LOG_MASS
    unit = model.photometry(unit_theta, np.full(n, toy["z"]), space="box", unit="nanomaggies")
    flux, sigma = np.tile(toy["flux"], (n, 1)), np.tile(toy["sigma"], (n, 1))
    lp, c2 = _Evaluator(model, prior).log_prob(theta[:, 0], theta[:, 1:], unit, flux, sigma)
    target = prior.log_prob(theta) + ref
    np.testing.assert_allclose(lp - lp[0], target - target[0], rtol=1e-9, atol=1e-8)
    present = ~np.isnan(toy["flux"])
    np.testing.assert_allclose(c2, np.sum(((toy["flux"][present] - model_flux[:, present])
                                           / toy["sigma"][present]) ** 2, axis=1), rtol=1e-9)
    np.testing.assert_allclose(chi2(model_flux, flux, sigma), c2, rtol=1e-12)


def test_the_noise_step_is_gaussian_in_flux_with_the_reported_sigma(model, toy):
    """What makes the density above the right one: the training set's observed fluxes are the
    noiseless ones plus N(0, σ²) noise with the σ they report, whatever σ was drawn."""
    proposal = default_proposal()
    rng = np.random.default_rng(5)
    theta, z = SEDPrior().sample(20_000, rng)
    flux_true = model.photometry(theta, z, space="box", unit="nanomaggies")
    flux_true = flux_true[proposal.in_range(flux_true)]
    obs = proposal.observe(flux_true, rng)
    assert np.array_equal(np.isnan(obs.flux), np.isnan(obs.sigma_flux))  # a band is absent as a whole
    for k in range(5):
        present = ~np.isnan(obs.flux[:, k])
        r = (obs.flux[present, k] - flux_true[present, k]) / obs.sigma_flux[present, k]
        assert stats.kstest(r, "norm").pvalue > 1e-3, k
        # the same unit spread for the smallest and the largest quarter of the errors drawn
        small, large = np.quantile(obs.sigma_flux[present, k], [0.25, 0.75])
        for part in (obs.sigma_flux[present, k] < small, obs.sigma_flux[present, k] > large):
            assert 0.93 < r[part].std() < 1.07, (k, r[part].std())
