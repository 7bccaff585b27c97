"""The training proposal: σ independent of the galaxy, Gaussian flux noise, band dropout, support range."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from sedflow_dask.noise import load_noise_model
from sedflow_dask.noise.proposal import (
    DEFAULT_PROPOSAL_PATH,
    NoiseProposal,
    build_default_proposal,
    count_drops,
    default_proposal,
    load_noise_proposal,
    real_sigma_flux_range,
)
from sedflow_dask.photometry import mag_to_flux, present_from_mask


@pytest.fixture(scope="module")
def proposal():
    return default_proposal()


def test_shipped_proposal_is_the_one_built_from_the_default_noise_model(proposal, tmp_path):
    rebuilt = build_default_proposal()
    np.testing.assert_allclose(rebuilt.sigma_min, proposal.sigma_min, rtol=1e-12)
    np.testing.assert_allclose(rebuilt.sigma_max, proposal.sigma_max, rtol=1e-12)
    assert proposal.noise_model.sha256() == load_noise_model().sha256()
    assert (proposal.real_fraction, proposal.dropout, proposal.min_bands) == (0.5, 0.1, 3)
    # the log-uniform range spans the real model's σ_f from half its smallest to 4× its largest
    real = real_sigma_flux_range(proposal.noise_model)
    np.testing.assert_allclose(proposal.sigma_min, 0.5 * real[:, 0], rtol=1e-12)
    np.testing.assert_allclose(proposal.sigma_max, 4.0 * real[:, 1], rtol=1e-12)
    path = proposal.save(tmp_path / "p.json")
    assert load_noise_proposal(path).sha256() == proposal.sha256() == load_noise_proposal(DEFAULT_PROPOSAL_PATH).sha256()


def test_observe_draws_errors_independent_of_the_galaxy(proposal):
    rng = np.random.default_rng(0)
    n = 200_000
    mags = rng.uniform(15.0, 19.0, (n, 1)) + np.array([1.5, 0.5, 0.0, -0.3, -0.5])
    flux_true = mag_to_flux(mags)
    obs = proposal.observe(flux_true, rng)
    present = present_from_mask(obs.bands_used)
    assert np.array_equal(present, np.isfinite(obs.flux)) and np.array_equal(present, np.isfinite(obs.sigma_flux))
    # dropout: 10 % per band, a row left with fewer than 3 bands keeps all of its bands
    p = proposal.dropout
    expected = sum(k * comb(5, k) * p**k * (1 - p) ** (5 - k) for k in range(3)) / 5
    assert abs((~present).mean() - expected) < 0.002 and (present.sum(axis=1) >= 3).all()
    # the noise is Gaussian in flux with the σ it reports
    pulls = ((obs.flux - flux_true) / obs.sigma_flux)[present]
    assert abs(pulls.mean()) < 0.01 and abs(pulls.std() - 1.0) < 0.01
    assert (obs.flux[present] <= 0).any()  # non-positive fluxes are kept
    # σ carries no information on the galaxy: uncorrelated with its own flux in every band
    for k in range(5):
        p = present[:, k]
        r = np.corrcoef(np.log(obs.sigma_flux[p, k]), np.log(flux_true[p, k]))[0, 1]
        assert abs(r) < 0.02, (k, r)


def test_observable_range_is_the_only_drop_rule(proposal):
    flux_true = mag_to_flux(np.full((1000, 5), 17.0))
    flux_true[:100, 2] = mag_to_flux(30.0)  # far too faint in r
    obs = proposal.observe(flux_true, np.random.default_rng(1))
    assert count_drops(obs.outcome) == {"mag_out_of_range": 100}
    assert obs.keep.sum() == 900


def test_support_range(proposal):
    sigma = np.tile(np.sqrt(proposal.sigma_min * proposal.sigma_max), (4, 1))
    sigma[1, 0] = proposal.sigma_max[0] * 1.01
    sigma[2, 3] = proposal.sigma_min[3] * 0.99
    sigma[3, 4] = np.nan  # an absent band is never out of range
    assert proposal.sigma_out_of_range(sigma).tolist() == [False, True, True, False]


def test_bad_proposals_are_refused(proposal):
    with pytest.raises(ValueError, match="sigma_min"):
        NoiseProposal(noise_model=proposal.noise_model, real_fraction=0.5, sigma_min=proposal.sigma_max,
                      sigma_max=proposal.sigma_min, dropout=0.1)
    with pytest.raises(ValueError, match="dropout"):
        NoiseProposal(noise_model=proposal.noise_model, real_fraction=0.5, sigma_min=proposal.sigma_min,
                      sigma_max=proposal.sigma_max, dropout=1.0)
    with pytest.raises(ValueError, match="format"):
        NoiseProposal.from_dict({"format": "x"})
