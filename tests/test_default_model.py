"""The posterior model shipped with the package: provenance, hashes, and that it works."""

from __future__ import annotations

import json

import numpy as np

from sedflow_dask.likelihood import fluxes_from_mags
from sedflow_dask.noise import load_noise_model
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.noise.regimes import COVERAGE_TOLERANCE, REGIMES
from sedflow_dask.photometry import COLOUR_NAMES
from sedflow_dask.posterior import DEFAULT_MODEL_DIR, INPUT_NAMES, flow_inputs, load_posterior_model, sample_posteriors
from sedflow_dask.posterior.inputs import INPUT_KIND
from sedflow_dask.simulate import training_colour_quantiles
from sedflow_dask.sps import load_ssp_table


def test_shipped_model_matches_the_shipped_models():
    model = load_posterior_model()
    meta = model.meta
    assert meta["ssp_sha256"] == load_ssp_table().sha256
    assert meta["noise_sha256"] == load_noise_model().sha256()
    # trained on the shipped noise proposal, reading the flow's 16 inputs
    proposal = default_proposal().to_dict()
    assert meta["proposal_sha256"] == default_proposal().sha256()
    assert meta["proposal"] == {k: v for k, v in proposal.items() if k in meta["proposal"]}
    assert meta["x_kind"] == INPUT_KIND and tuple(meta["x_names"]) == INPUT_NAMES
    assert meta["architecture"]["x_dim"] == len(INPUT_NAMES) == 16
    assert meta["training_set"]["n_kept"] >= 1_000_000
    np.testing.assert_allclose(
        [meta["colour_quantiles"][k] for k in sorted(meta["colour_quantiles"])],
        [json.loads((DEFAULT_MODEL_DIR.parent.parent / "training" / "colour_quantiles.json").read_text())
         ["colour_quantiles"][k] for k in sorted(meta["colour_quantiles"])])
    # the loader returns them in the colour order the ingest cut uses
    np.testing.assert_allclose(training_colour_quantiles(), [meta["colour_quantiles"][k] for k in COLOUR_NAMES],
                               rtol=1e-12)
    training = meta["training"]
    assert training["command"].startswith("sedflow train") and training["seed"] == 0
    assert training["train_minutes"] > 0 and training["epochs"] >= 1
    size = sum(f.stat().st_size for f in DEFAULT_MODEL_DIR.iterdir())
    assert size < 5_000_000  # "a few MB at most"
    assert {f.name for f in DEFAULT_MODEL_DIR.iterdir()} == {"weights.pt", "model.json"}


def test_shipped_model_samples_a_typical_galaxy():
    model = load_posterior_model()
    # an ordinary low-redshift galaxy (mags ugriz and their errors from a magnitude catalog, z)
    flux, sigma = fluxes_from_mags([[18.2, 16.6, 15.9, 15.5, 15.25]], [[0.06, 0.021, 0.021, 0.021, 0.031]])
    post = sample_posteriors(model, flow_inputs(flux, sigma, [0.04]), 2000, seed=0, ids=[1])
    assert model.theta_transform == "probit"
    assert post.n_filled[0] == 2000 and post.accept_frac[0] == 1.0  # the probit puts every draw in the box
    log_mstar = post.samples[0, :, 0]
    assert 9.0 < np.median(log_mstar) < 11.5 and np.std(log_mstar) < 0.5


def test_shipped_model_records_its_validation_in_every_regime():
    """``sedflow validate --regime all --record``: the headline (real SDSS errors) at the top of
    ``validation``, each observation regime under ``validation.regimes``, its verdict consistent
    with its numbers and its tolerance."""
    meta = load_posterior_model().meta
    validation = meta["validation"]
    assert validation is not None, "the shipped model has no recorded validation (sedflow validate --record)"
    regimes = validation["regimes"]
    assert set(regimes) == set(REGIMES)
    assert validation["calibration"] == regimes["real"]["calibration"]
    for name, record in regimes.items():
        calib, tolerance = record["calibration"], record["regime_coverage_tolerance"]
        assert tolerance == COVERAGE_TOLERANCE[name], name
        assert record["n_galaxies"] >= 1000 and record["seed"] == validation["seed"], name
        if tolerance is None:
            assert record["passes_regime_targets"] is None, name
        else:
            assert record["passes_regime_targets"] == (
                calib["min_sbc_ks_p"] > 0.001 and calib["max_coverage_68_error"] <= tolerance
                and calib["max_coverage_95_error"] <= tolerance), name
    # the README's verdict: the model passes on real SDSS errors
    assert validation["calibration"]["passes_targets"] is True
