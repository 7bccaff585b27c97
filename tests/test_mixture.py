"""The defensive mixture that gives a galaxy rejected by its flow weights a second proposal: the
fitted t, the mixture's density (checked by an identity that fails for any wrong Jacobian or
component), and its use in ``weighed_flow_batch`` on real SDSS galaxies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sedflow_dask.config import FallbackConfig
from sedflow_dask.infer.partition import MIXTURE_SUBSTREAM, weighed_flow_batch
from sedflow_dask.likelihood import observations_from_catalog
from sedflow_dask.posterior import galaxy_seeds, galaxy_stream, load_posterior_model, sample_posteriors
from sedflow_dask.posterior.inputs import flow_inputs
from sedflow_dask.posterior.mixture import MIN_FIT_DRAWS, MIN_SHAPE_VARIANCE, fit_student_t, mixture_draws
from sedflow_dask.sps.parameters import BOX_LOWER, BOX_UPPER

N_DRAWS = 500  # flow draws per galaxy in weighed_flow_batch


@pytest.fixture(scope="module")
def posterior():
    return load_posterior_model()


@pytest.fixture(scope="module")
def sps():
    from sedflow_dask.sps import PROVABGSModel

    return PROVABGSModel()


@pytest.fixture(scope="module")
def real():
    """Fluxes, errors (G, 5) [nmgy] and z of the first 64 usable real SDSS galaxies (kcorrect's)."""
    from sedflow_dask.datasets import read_kcorrect_sdss
    from sedflow_dask.photometry import BANDS

    frame, _ = read_kcorrect_sdss()
    flux, sigma = observations_from_catalog(frame[[f"flux_{b}" for b in BANDS]].to_numpy(np.float64),
                                            frame[[f"ivar_{b}" for b in BANDS]].to_numpy(np.float64))
    z = frame["z"].to_numpy(np.float64)
    usable = np.flatnonzero(np.isfinite(flux).all(axis=1) & (z > 0) & (z <= 0.2))[:64]
    return flux[usable], sigma[usable], z[usable]


def test_fit_student_t_has_the_weighted_moments():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(4000, 3)) * [1.0, 2.0, 0.5] + [1.0, -2.0, 0.0]
    weights = np.where(points[:, 0] > 1.0, 3.0, 1.0)  # weighted mean moves right
    t = fit_student_t(points, weights, df=5.0, inflation=2.0)
    w = weights / weights.sum()
    mean = w @ points
    cov = (points - mean).T @ ((points - mean) * w[:, None])
    np.testing.assert_allclose(t.loc, mean, rtol=1e-12)
    ridge = 0.01 * np.diag(np.var(points, axis=0)) + MIN_SHAPE_VARIANCE * np.eye(3)
    np.testing.assert_allclose(t.shape, 2.0 * cov + ridge, rtol=1e-12)
    assert t.loc[0] > points[:, 0].mean() + 0.1


def test_fit_student_t_when_every_draw_shares_a_coordinate():
    """A flow whose draws of one parameter all sit at the same value (its float32 box map
    saturated at an edge: seen on an NSA-size mock, where it stopped the galaxy's whole task):
    the t is still a proper density, narrow in that coordinate."""
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1000, 4))
    points[:, 3] = 2.5
    weights = np.zeros(1000)
    weights[:3] = 1.0  # degenerate weights, as for the galaxies the mixture serves
    t = fit_student_t(points, weights, df=5.0, inflation=1.5)
    assert np.all(np.linalg.eigvalsh(t.shape) > 0)
    draws = t.rvs(size=2000, random_state=rng)
    assert np.isfinite(t.logpdf(draws)).all()
    assert 0 < draws[:, 3].std() < 10 * np.sqrt(MIN_SHAPE_VARIANCE)


def test_mixture_density_is_the_density_its_draws_come_from(posterior, real):
    """With the flow's own density as target, every weight is q_flow / q_mix, whose mean under
    q_mix is exactly 1 (and E[q_t / q_mix] too): a wrong Jacobian, a wrong component or a
    mislabelled half moves the means away from 1 by far more than their Monte-Carlo error."""
    flux, sigma, z = real
    x = flow_inputs(flux[:3], sigma[:3], z[:3])
    seeds = galaxy_seeds(11, np.arange(3))
    ps = sample_posteriors(posterior, x, 4000, seeds=seeds, log_density=True)
    for g in range(3):
        # made-up weights that favour one side: a t unlike the flow, as for a rejected galaxy
        t_flow = posterior.standardize_theta(ps.samples[g]).numpy()
        smoothed = np.where(t_flow[:, 0] > np.median(t_flow[:, 0]), 0.0, -1.0)
        box, log_q = mixture_draws(posterior, x[g:g + 1], ps.samples[g], ps.log_q[g], ps.samples[g], smoothed,
                                   np.random.default_rng(g), df=5.0, inflation=1.5, flow_fraction=0.5)
        ok = np.all(np.isfinite(box), axis=1)
        assert box.shape == (4000, 11) and ok.mean() > 0.95
        np.testing.assert_array_equal(box[:2000], ps.samples[g][:2000])  # the first half is the flow's
        log_flow = posterior.log_prob(box[ok].astype(np.float64), x[g:g + 1])
        ratio = np.zeros(4000)
        ratio[ok] = np.exp(log_flow - log_q[ok])  # q_flow / q_mix; a dropped draw had weight 0
        se = ratio.std() / np.sqrt(ratio.size)
        assert abs(ratio.mean() - 1.0) < max(5 * se, 0.03), (g, ratio.mean(), se)
        # q_mix >= q_flow / 2, the defensive bound: exact for the t draws (the flow's density of
        # them is log_prob's, as here); the flow's own draws carry the sampling pass's log q, which
        # float32 inversion puts within ~0.1 of log_prob's in the far tails
        assert ratio[2000:].max() <= 2.0 + 1e-9 and ratio[:2000].max() <= 2.0 * 1.5


def test_too_few_finite_draws_give_no_mixture(posterior, real):
    flux, sigma, z = real
    x = flow_inputs(flux[:1], sigma[:1], z[:1])
    ps = sample_posteriors(posterior, x, 200, seed=0, log_density=True)
    smoothed = np.full(200, -np.inf)
    smoothed[:MIN_FIT_DRAWS - 1] = 0.0
    assert mixture_draws(posterior, x, ps.samples[0], ps.log_q[0], ps.samples[0], smoothed, np.random.default_rng(0),
                         df=5.0, inflation=1.5, flow_fraction=0.5) is None


def test_the_mixture_rescues_real_galaxies_the_flow_weights_reject(posterior, sps, real):
    flux, sigma, z = real
    seeds = galaxy_seeds(0, np.arange(len(z)))
    on = FallbackConfig()
    off = dataclasses.replace(on, mixture_rescue=False)
    plain = weighed_flow_batch(posterior, sps, flux, sigma, z, seeds, N_DRAWS, 10, 32, off)
    rescued = weighed_flow_batch(posterior, sps, flux, sigma, z, seeds, N_DRAWS, 10, 32, on)
    rejected = ~plain.trusted
    assert rejected.sum() >= 3, "the test needs galaxies the flow's own weights reject"
    assert not plain.mixture.any()
    # only rejected galaxies are tried; the others are untouched, draw for draw
    assert not (rescued.mixture & plain.trusted).any()
    keep = ~rescued.mixture
    np.testing.assert_array_equal(rescued.samples[keep], plain.samples[keep])
    np.testing.assert_array_equal(rescued.kept[keep], plain.kept[keep])
    # most rejected galaxies pass with the mixture, and those that pass are trusted by its weights
    assert rescued.mixture.sum() >= 0.5 * rejected.sum(), (rescued.mixture.sum(), rejected.sum())
    np.testing.assert_array_equal(rescued.trusted, plain.trusted | rescued.mixture)
    m = np.flatnonzero(rescued.mixture)
    assert (rescued.weights.khat[m] <= on.max_khat).all() and (rescued.weights.efficiency[m] >= on.min_efficiency).all()
    # kept draws are resampled mixture draws: t draws among them, all inside the prior box
    kept = rescued.take(rescued.samples, rescued.kept)[m]
    assert np.isfinite(kept).all() and (kept >= BOX_LOWER - 1e-6).all() and (kept <= BOX_UPPER + 1e-6).all()
    assert (rescued.kept[m] >= N_DRAWS // 2).any()
    # the t draws come from the galaxy's own substream: the same seeds give the same draws
    again = weighed_flow_batch(posterior, sps, flux, sigma, z, seeds, N_DRAWS, 10, 32, on)
    np.testing.assert_array_equal(again.mixture, rescued.mixture)
    np.testing.assert_array_equal(again.samples, rescued.samples)
    assert galaxy_stream(int(seeds[m[0]]), MIXTURE_SUBSTREAM).random() != galaxy_stream(int(seeds[m[0]]), 1).random()
