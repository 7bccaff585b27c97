"""The default noise model fitted to real SDSS errors: recipe, fidelity to the data, support on the real set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sedflow_dask.datasets import read_kcorrect_sdss
from sedflow_dask.ingest.core import convert_photometry, data_validity_reasons
from sedflow_dask.noise import load_noise_model
from sedflow_dask.noise.cli import real_set_support
from sedflow_dask.noise.fit import bin_scatter
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.photometry import BANDS, FLUX_COLUMNS, IVAR_COLUMNS
from sedflow_dask.simulate import training_colour_quantiles
from sedflow_dask.survey.sdss import KCORRECT_FLOORS


@pytest.fixture(scope="module")
def real_usable():
    frame, _ = read_kcorrect_sdss()
    flux, ivar = frame[list(FLUX_COLUMNS)].to_numpy(), frame[list(IVAR_COLUMNS)].to_numpy()
    mag, sigma = convert_photometry(flux, ivar)
    # the noise model's sample: usable galaxies with a Pogson magnitude (positive flux) in every band
    usable = (data_validity_reasons(flux, ivar, frame["z"].to_numpy()) == 0) & np.all(np.isfinite(mag), axis=1)
    return mag[usable], sigma[usable]


def test_real_set_is_the_kcorrect_catalogue(real_usable):
    mag, sigma = real_usable
    assert len(mag) == 9255  # 10,000 rows; z <= 0.2 with positive ugriz fluxes and ivars
    # the floors were added in quadrature: no σ below them
    assert np.all(sigma >= np.asarray(KCORRECT_FLOORS) - 1e-9)


def test_fitted_medians_reproduce_the_data(real_usable):
    """μ(m) at each populated bin centre is the data's median σ in that bin, to 1 %."""
    mag, sigma = real_usable
    model = load_noise_model()
    assert model.provenance["fitted_from"] == "real_sdss"
    checked = 0
    for i, band in enumerate(model.bands):
        for centre, mu in zip(band.mag_centres, band.sigma_median):
            in_bin = np.abs(mag[:, i] - centre) < 0.1 - 1e-9
            if in_bin.sum() >= 100:
                np.testing.assert_allclose(mu, np.median(sigma[in_bin, i]), rtol=0.01, err_msg=f"{BANDS[i]} @ {centre}")
                checked += 1
    assert checked >= 40


def test_robust_scatter_estimator():
    rng = np.random.default_rng(1)
    gauss = 0.1 + 0.01 * rng.standard_normal(20000)
    assert bin_scatter(gauss, "robust") == pytest.approx(0.01, rel=0.05)
    # a bin dominated by the floor keeps a minimum relative scatter instead of collapsing to 0
    assert bin_scatter(np.full(50, 0.02), "robust", min_relative_scatter=0.1) == pytest.approx(0.002)
    # a heavy upper tail widens it beyond the core's MAD so that the tail stays inside μ + 3 s
    tailed = np.concatenate([gauss, 0.2 + 0.02 * rng.random(600)])
    s = bin_scatter(tailed, "robust")
    assert s > 0.02 and np.mean(tailed > np.median(tailed) + 3 * s) < 0.01
    with pytest.raises(ValueError, match="scatter"):
        bin_scatter(gauss, "mad")


def test_support_on_the_real_set():
    """Against the shipped proposal and training set, <= 1 % of the usable real galaxies are out of
    support; a proposal as narrow as the real errors' core rejects most of them."""
    proposal = default_proposal()
    default = real_set_support(proposal, training_colour_quantiles(), 3.0)
    # 9,255 with positive ugriz fluxes, plus 9 whose zero or negative flux is now a measurement
    assert default["usable"] == 9264 and default["usable_nonpositive_flux"] == 9
    assert default["proposal_sha256"] == proposal.sha256()
    assert default["oos_noise"] == 0 and default["oos_any_frac"] <= 0.01
    # the colour test allows for each colour's error: without it more noisy colours fall below
    assert real_set_support(proposal, training_colour_quantiles(), 0.0)["oos_color"] > default["oos_color"]
    narrow = dataclasses.replace(proposal, sigma_min=np.array([1.0, 1.2, 2.5, 4.0, 8.0]),
                                 sigma_max=np.array([2.5, 3.0, 6.0, 9.0, 18.0]))
    assert real_set_support(narrow, training_colour_quantiles(), 3.0)["oos_noise_frac"] > 0.5
