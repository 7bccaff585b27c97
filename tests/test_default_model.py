"""The posterior model shipped with the package: provenance, hashes, and that it works."""

from __future__ import annotations

import json

import numpy as np

from sedflow_dask.noise import load_noise_model
from sedflow_dask.photometry import COLOUR_NAMES
from sedflow_dask.posterior import DEFAULT_MODEL_DIR, load_posterior_model, sample_posteriors
from sedflow_dask.simulate import training_colour_quantiles
from sedflow_dask.sps import load_ssp_table


def test_shipped_model_matches_the_shipped_models():
    model = load_posterior_model()
    meta = model.meta
    assert meta["ssp_sha256"] == load_ssp_table().sha256
    assert meta["noise_sha256"] == load_noise_model().sha256()
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
    # an ordinary low-redshift galaxy (mags ugriz, sigmas, z)
    x = np.array([[18.2, 16.6, 15.9, 15.5, 15.25, 0.06, 0.021, 0.021, 0.021, 0.031, 0.04]])
    post = sample_posteriors(model, x, 2000, seed=0, ids=[1])
    assert model.theta_transform == "probit"
    assert post.n_filled[0] == 2000 and post.accept_frac[0] == 1.0  # the probit puts every draw in the box
    log_mstar = post.samples[0, :, 0]
    assert 9.0 < np.median(log_mstar) < 11.5 and np.std(log_mstar) < 0.5
