"""The pure numerics of the inference stage: summaries, χ², statuses, routing, fallback quotas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sedflow_dask.config import FallbackConfig
from sedflow_dask.fallback import FallbackReason, fallback_reasons
from sedflow_dask.infer.catalog import InputPixel
from sedflow_dask.infer.core import (
    QUANTITY_NAMES,
    STAT_NAMES,
    STATUSES,
    fallback_status,
    flow_status,
    input_status,
    median_model_chi2,
    posterior_quantities,
    stored_draws,
    summarize_draws,
)
from sedflow_dask.infer.run import fallback_quotas
from sedflow_dask.ingest import IngestReason as R
from sedflow_dask.sps import PROVABGSModel
from sedflow_dask.sps.parameters import draw_box_prior


@pytest.fixture(scope="module")
def model():
    return PROVABGSModel()


def test_summaries_match_numpy_and_ignore_nan_draws():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 2000, 4))
    v[2, 1500:] = np.nan  # a galaxy that hit the rejection cap
    out = summarize_draws(v)
    assert out.shape == (3, 4, len(STAT_NAMES))
    for g, draws in enumerate((v[0], v[1], v[2, :1500])):
        np.testing.assert_allclose(out[g, :, 0], draws.mean(0))
        np.testing.assert_allclose(out[g, :, 1], draws.std(0))
        np.testing.assert_allclose(out[g, :, 2:], np.percentile(draws, [2.5, 16, 50, 84, 97.5], axis=0).T)
    assert np.all(np.isnan(summarize_draws(np.full((1, 10, 2), np.nan))))


def test_posterior_quantities_are_the_forward_models(model):
    theta, z = draw_box_prior(6, np.random.default_rng(1))
    box = theta.reshape(2, 3, 11).astype(np.float32)
    box[1, 2] = np.nan
    q = posterior_quantities(model, box, z[[0, 3]])
    assert q.shape == (2, 3, len(QUANTITY_NAMES))
    assert np.all(np.isnan(q[1, 2])) and np.all(np.isfinite(q[0]))
    ref = model.derived_properties(theta[:3].astype(np.float32).astype(np.float64), np.full(3, z[0]), space="box")
    np.testing.assert_allclose(q[0, :, QUANTITY_NAMES.index("log_mstar_surviving")], ref["log_mstar_surviving"],
                               rtol=1e-6)
    np.testing.assert_allclose(q[0, :, QUANTITY_NAMES.index("t_mw")], ref["t_mw"], rtol=1e-5)
    np.testing.assert_allclose(q[0, :, 0], theta[:3, 0], rtol=1e-6)


def test_chi2_of_the_posterior_median_model(model):
    rng = np.random.default_rng(2)
    theta, z = draw_box_prior(40, rng)
    flux = model.photometry(theta, z, space="box", unit="nanomaggies")
    sigma_f = 0.05 * flux
    noisy = flux + sigma_f * rng.standard_normal(flux.shape)
    # a posterior concentrated at the truth: chi2 is the noise's, about 5 on average
    draws = np.repeat(theta[:, None, :], 50, axis=1)
    c2 = median_model_chi2(model, draws, z, noisy, sigma_f)
    assert 2.0 < np.mean(c2) < 10.0
    # an absent band (NaN) adds nothing: about 4 on average
    absent = noisy.copy()
    absent[:, 0] = np.nan
    c2_absent = median_model_chi2(model, draws, z, absent, sigma_f)
    np.testing.assert_allclose(c2 - c2_absent, ((noisy[:, 0] - flux[:, 0]) / sigma_f[:, 0]) ** 2,
                               rtol=1e-3, atol=1e-3)  # the draws are stored as float32
    # a posterior at other galaxies' parameters fits far worse
    wrong = np.repeat(np.roll(theta, 1, axis=0)[:, None, :], 50, axis=1)
    assert np.median(median_model_chi2(model, wrong, z, noisy, sigma_f)) > 100
    assert np.isnan(median_model_chi2(model, np.full((1, 5, 11), np.nan), z[:1], noisy[:1], sigma_f[:1]))[0]


def test_stored_draws_are_evenly_spaced():
    box = np.arange(10 * 11, dtype=np.float64).reshape(1, 10, 11)
    k = stored_draws(box, 4)
    assert k.shape == (1, 4, 11) and k.dtype == np.float32
    np.testing.assert_array_equal(k[0, :, 0], box[0, [0, 3, 6, 9], 0])
    assert stored_draws(box, 20).shape == (1, 10, 11)


def test_status_precedence_from_ingest_bits():
    reason = np.array([0, int(R.FLAGS_UNCLEAN), int(R.TOO_FEW_BANDS | R.BAD_IVAR),
                       int(R.TOO_FEW_BANDS | R.FLAGS_UNCLEAN), int(R.Z_OUT_OF_RANGE | R.DFLAGS_BAD),
                       int(R.FLAGS_MISSING), int(R.NONPOSITIVE_FLUX)])
    # a per-band bit alone is information (the band is left out), not a reason to skip the galaxy
    assert input_status(reason).tolist() == [None, "cut", "bad_input", "bad_input", "bad_input", "cut", None]


def test_fallback_reason_bits_come_from_the_weights():
    cfg = FallbackConfig(min_efficiency=0.02, max_khat=0.7)
    bits = fallback_reasons([0.3, 0.01, 0.3, 0.01, np.nan, 0.02], [0.4, 0.4, 0.9, 0.9, 0.4, 0.7], cfg)
    E, K = FallbackReason.LOW_EFFICIENCY, FallbackReason.HIGH_KHAT
    assert bits.tolist() == [0, E, K, E | K, E, 0]
    # the proxies (ingest flags, in-box fraction, chi2) never route
    proxies = FallbackReason.OOS_NOISE | FallbackReason.OOS_COLOR | FallbackReason.LOW_ACCEPT_FRAC \
        | FallbackReason.HIGH_CHI2
    assert not (bits & int(proxies)).any()


def test_statuses_say_what_the_weights_and_the_chain_found():
    flow = flow_status([True, True, False], [0.6, 0.2, 0.6], ok_efficiency=0.5)
    assert flow.tolist() == ["ok", "reweighted", None]
    # a converged chain is "mcmc" only if its median model fits within max_chi2 of its best point
    fb = fallback_status([True, True, False, True], [4.0, 40.0, 4.0, np.nan], [1.0, 1.0, 1.0, 1.0], max_chi2=20.5)
    assert fb.tolist() == ["mcmc", "unconverged", "unconverged", "unconverged"]
    assert fallback_status([True], [40.0], [30.0], 20.5).tolist() == ["mcmc"]  # a poor fit nothing beats
    assert set(STATUSES) == {"ok", "reweighted", "mcmc", "unconverged", "skipped", "cut", "bad_input"}


def test_quantities_of_resampled_draws_are_those_of_the_draws_they_repeat(model):
    theta, z = draw_box_prior(8, np.random.default_rng(5))
    box = theta.reshape(2, 4, 11)
    idx = np.array([[3, 3, 0, -1, 1], [2, 2, 2, 2, 0]])
    picked = posterior_quantities(model, box, z[[0, 4]], idx)
    full = posterior_quantities(model, box, z[[0, 4]])
    assert picked.shape == (2, 5, len(QUANTITY_NAMES))
    for g in range(2):
        for k, i in enumerate(idx[g]):
            if i < 0:
                assert np.all(np.isnan(picked[g, k]))
            else:
                np.testing.assert_array_equal(picked[g, k], full[g, i])


def test_fallback_quotas_share_the_cap_by_rows():
    pix = [InputPixel(1, i, Path(f"{i}"), n, "") for i, n in enumerate((100, 300, 50, 550))]
    q = fallback_quotas(pix, 10)
    assert sum(q.values()) == 10 and q[(1, 3)] >= q[(1, 1)] >= q[(1, 0)] >= q[(1, 2)]
    assert fallback_quotas(pix, 10) == q  # depends on the pixels only
    assert set(fallback_quotas(pix, -1).values()) == {None}
    assert set(fallback_quotas(pix, 0).values()) == {0}
