"""The calibration metrics on a toy problem with an analytic posterior.

θ ~ N(0, I₃), x = θ + N(0, s² I₃): the posterior is N(x / (1 + s²), s² / (1 + s²) I₃). Exact
posterior samples must pass every target; over-confident, biased or over-dispersed ones fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from sedflow_dask.diagnostics import (
    calibration_summary,
    central_interval_coverage,
    normalized_ranks,
    sbc_ks_pvalues,
    tarp_coverage,
)

G, S, D, NOISE = 2000, 1000, 3, 0.5


def toy(width_factor: float = 1.0, bias: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((G, D))
    x = theta + NOISE * rng.standard_normal((G, D))
    mean = x / (1 + NOISE**2)
    std = NOISE / np.sqrt(1 + NOISE**2) * width_factor
    samples = mean[:, None, :] + bias + std * rng.standard_normal((G, S, D))
    return samples, theta


def summary(samples, theta, seed=1):
    return calibration_summary(samples, theta, ["a", "b", "c"], -5 * np.ones(D), 5 * np.ones(D),
                               np.random.default_rng(seed))


def test_exact_posterior_passes():
    s = summary(*toy())
    assert s.passes(), s.to_dict()
    assert np.all(s.ks_pvalues > 0.001)
    assert np.all(np.abs(s.coverage_68 - 0.68) < 0.03) and np.all(np.abs(s.coverage_95 - 0.95) < 0.03)
    assert s.tarp_max_deviation < 0.05
    np.testing.assert_allclose(s.pp_coverage, np.broadcast_to(s.pp_levels[:, None], s.pp_coverage.shape), atol=0.04)


@pytest.mark.parametrize("kwargs", [{"width_factor": 0.5}, {"bias": 0.3}, {"width_factor": 2.0}])
def test_miscalibrated_posteriors_fail(kwargs):
    s = summary(*toy(**kwargs))
    assert not s.passes()
    assert s.ks_pvalues.max() < 1e-3


def test_overconfidence_shows_in_coverage_and_tarp():
    s = summary(*toy(width_factor=0.5))
    assert np.all(s.coverage_68 < 0.5) and np.all(s.coverage_95 < 0.8)
    # TARP sees it too, less sharply (random references far from the posterior dilute it)
    assert s.tarp_max_deviation > 2 * summary(*toy()).tarp_max_deviation


def test_ranks_ignore_missing_draws():
    samples, theta = toy()
    samples[:, S // 2:, :] = np.nan  # half of every posterior missing: still calibrated
    u = normalized_ranks(samples, theta)
    assert np.all((u > 0) & (u < 1))
    assert np.all(sbc_ks_pvalues(samples, theta) > 0.001)


def test_coverage_by_construction():
    # truth at the exact median of its samples: covered at every level > 0
    samples = np.random.default_rng(3).standard_normal((50, 101, 1))
    truth = np.median(samples, axis=1)
    cov = central_interval_coverage(samples, truth, [0.05, 0.5])
    assert np.all(cov == 1.0)
    ecp = tarp_coverage(samples, truth, np.array([-5.0]), np.array([5.0]), np.random.default_rng(0), [0.0, 1.0])
    assert ecp[0] == 0.0 and ecp[1] == 1.0
