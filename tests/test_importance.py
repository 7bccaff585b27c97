"""Importance weights of the flow's draws: PSIS, efficiency, evidence and resampling on toy targets
with known posteriors, and the weights of real flow draws against the forward model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sedflow_dask.likelihood import log_likelihood
from sedflow_dask.posterior.importance import (
    KHAT_LIMIT,
    importance_weights,
    log_importance_weights,
    systematic_resample,
    weigh_draws,
)
from sedflow_dask.prior import SEDPrior

DIM = 11  # the box's dimension


def gaussian_weights(rng, n, loc=0.0, scale=1.0):
    """Draws from N(loc, scale²) proposing for a standard-normal target (normalised: Z = 1)."""
    theta = loc + scale * rng.standard_normal((n, DIM))
    log_q = stats.norm.logpdf(theta, loc=loc, scale=scale).sum(axis=1)
    log_target = stats.norm.logpdf(theta).sum(axis=1)
    return theta, log_importance_weights(log_target, 0.0, log_q)


def test_a_proposal_equal_to_the_target_has_efficiency_one():
    _, lw = gaussian_weights(np.random.default_rng(0), 2000)
    w = importance_weights(lw[None])
    np.testing.assert_allclose(w.efficiency, 1.0, rtol=1e-9)
    assert w.khat[0] < KHAT_LIMIT
    np.testing.assert_allclose(w.log_evidence, 0.0, atol=1e-9)  # Z = 1, every weight exactly 1
    assert w.trusted(0.5)[0]


def test_a_proposal_twice_too_narrow_is_flagged_by_khat():
    rng = np.random.default_rng(1)
    khats = [importance_weights(gaussian_weights(rng, 4000, scale=0.5)[1][None]).khat[0] for _ in range(4)]
    assert min(khats) > KHAT_LIMIT, khats
    # a broader proposal has a bounded weight tail and is trusted
    broad = importance_weights(gaussian_weights(rng, 4000, scale=1.3)[1][None])
    assert broad.khat[0] < 0.5 and 0.2 < broad.efficiency[0] < 0.6


def test_reweighted_moments_and_evidence_match_the_truth():
    rng = np.random.default_rng(2)
    theta, lw = gaussian_weights(rng, 20_000, loc=0.3, scale=1.3)
    w = importance_weights(lw[None])
    assert w.trusted(0.05)[0]
    # the raw proposal is off by 0.3 in every mean and 1.3 in every width; the resampled draws are not
    idx = systematic_resample(w.smoothed, [0.5])[0]
    drawn = theta[idx]
    n_eff = w.efficiency[0] * theta.shape[0]
    np.testing.assert_allclose(drawn.mean(axis=0), 0.0, atol=5 / np.sqrt(n_eff))
    np.testing.assert_allclose(drawn.std(axis=0), 1.0, atol=0.05)
    assert abs(theta.mean(axis=0)).min() > 0.25  # what the reweighting corrected
    # the target is normalised: log Z = 0 within a few standard errors
    assert abs(w.log_evidence[0]) < 4 * w.log_evidence_se[0] + 1e-3
    assert 0 < w.log_evidence_se[0] < 0.1


def test_missing_or_out_of_box_draws_have_zero_weight():
    lw = np.array([[0.0, np.nan, -np.inf, 0.0], [np.nan] * 4])
    w = importance_weights(log_importance_weights(lw, 0.0, 0.0))
    np.testing.assert_allclose(w.efficiency, [0.5, 0.0])  # two equal weights of four draws
    np.testing.assert_allclose(w.log_evidence[0], np.log(0.5))
    assert w.khat[1] == np.inf and w.log_evidence[1] == -np.inf and not w.trusted(0.0)[1]
    assert np.all(np.isnan(w.smoothed[1]))
    assert systematic_resample(w.smoothed, [0.3, 0.3])[1].tolist() == [-1] * 4


def test_systematic_resampling_keeps_each_weights_share():
    weights = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    rng = np.random.default_rng(3)
    for u in rng.uniform(size=20):
        with np.errstate(divide="ignore"):
            idx = systematic_resample(np.log(weights)[None], [u])[0]
        counts = np.bincount(idx, minlength=5)
        assert np.all(np.abs(counts - weights * 5) < 1), counts
        assert counts[4] == 0


@pytest.fixture(scope="module")
def model():
    from sedflow_dask.sps import PROVABGSModel

    return PROVABGSModel()


def test_weights_of_real_draws_use_the_documented_likelihood(model):
    """weigh_draws is log p + log L − log q with L = sedflow_dask.likelihood's (absent bands
    skipped), model fluxes returned."""
    prior = SEDPrior()
    rng = np.random.default_rng(4)
    truth, z = prior.sample(2, rng)
    flux = model.photometry(truth, z, space="box", unit="nanomaggies")
    s = 0.05 * flux
    f = flux + s * rng.standard_normal(flux.shape)
    f[1, 0] = s[1, 0] = np.nan  # galaxy 1 has no u band
    draws = np.stack([prior.sample(50, rng)[0] for _ in range(2)]).astype(np.float32)
    draws[1, 7] = np.nan
    log_q = np.full((2, 50), -3.0)
    w, model_flux = weigh_draws(model, draws, log_q, z, f, s)
    filled = np.nan_to_num(draws, nan=0.5).astype(np.float64)
    ref = np.stack([log_likelihood(model, filled[g], z[g], f[g], s[g]) for g in range(2)])
    expect = prior.log_prob(filled.reshape(-1, 11)).reshape(2, 50) + ref + 3.0
    expect[1, 7] = np.nan
    ok = np.isfinite(expect)
    np.testing.assert_allclose(w.log_weights[ok], expect[ok], rtol=1e-5, atol=1e-3)
    assert w.log_weights[1, 7] == -np.inf and np.all(np.isnan(model_flux[1, 7]))
    np.testing.assert_allclose(model_flux[0], model.photometry(draws[0].astype(np.float64), np.full(50, z[0]),
                                                               space="box", unit="nanomaggies"), rtol=1e-5)


def test_reweighting_keeps_the_shipped_model_calibrated():
    """benchmarks/bench_weights.py on simulations in support: the resampled draws cover the truth
    as often as their intervals say (pooled over the 11 parameters), as the flow's own do."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_weights.py"
    spec = importlib.util.spec_from_file_location("bench_weights", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # 1,000 draws, as the demo's catalog: at 500, the resampled 95 % intervals, placed by ~50
    # effective draws, come up ~4 points short
    out = bench.run(galaxies=150, samples=1000, seed=3, sgemm_size=64)
    assert 0 < out["mixture_frac"] <= out["flow_routed_frac"]
    assert out["galaxies"] == 150 and 0 < out["is_median_efficiency"] <= 1
    for kind in ("flow", "resampled", "kept"):
        assert abs(out["coverage"][kind]["68"] - 0.68) < 0.06, (kind, out["coverage"])
        assert abs(out["coverage"][kind]["95"] - 0.95) < 0.04, (kind, out["coverage"])
    assert abs(out["coverage"]["resampled"]["68"] - out["coverage"]["flow"]["68"]) < 0.04
    assert sum(out["status_frac"].values()) == pytest.approx(1.0)
    assert set(out["status_frac"]) <= {"ok", "reweighted", "routed"}
