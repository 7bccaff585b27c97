"""The pure numerics of the inference stage: summaries, χ², statuses, routing, fallback quotas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sedflow_dask.config import FallbackConfig
from sedflow_dask.fallback import FallbackReason, fallback_reasons
from sedflow_dask.infer.catalog import InputPixel
from sedflow_dask.infer.core import (
    QUANTITY_NAMES, STAT_NAMES, input_status, median_model_chi2, posterior_quantities, stored_draws, summarize_draws,
)
from sedflow_dask.infer.run import fallback_quotas
from sedflow_dask.ingest import IngestReason as R
from sedflow_dask.photometry import flux_to_mag, sigma_mag_from_flux
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
    mag, sig = flux_to_mag(noisy), sigma_mag_from_flux(noisy, sigma_f)
    # a posterior concentrated at the truth: chi2 is the noise's, about 5 on average
    draws = np.repeat(theta[:, None, :], 50, axis=1)
    c2 = median_model_chi2(model, draws, z, mag, sig)
    assert 2.0 < np.mean(c2) < 10.0
    # a posterior at other galaxies' parameters fits far worse
    wrong = np.repeat(np.roll(theta, 1, axis=0)[:, None, :], 50, axis=1)
    assert np.median(median_model_chi2(model, wrong, z, mag, sig)) > 100
    assert np.isnan(median_model_chi2(model, np.full((1, 5, 11), np.nan), z[:1], mag[:1], sig[:1]))[0]


def test_stored_draws_are_evenly_spaced():
    box = np.arange(10 * 11, dtype=np.float64).reshape(1, 10, 11)
    k = stored_draws(box, 4)
    assert k.shape == (1, 4, 11) and k.dtype == np.float32
    np.testing.assert_array_equal(k[0, :, 0], box[0, [0, 3, 6, 9], 0])
    assert stored_draws(box, 20).shape == (1, 10, 11)


def test_status_precedence_from_ingest_bits():
    reason = np.array([0, int(R.FLAGS_UNCLEAN), int(R.BAD_IVAR), int(R.BAD_IVAR | R.FLAGS_UNCLEAN),
                       int(R.Z_OUT_OF_RANGE | R.DFLAGS_BAD), int(R.FLAGS_MISSING)])
    assert input_status(reason).tolist() == [None, "cut", "bad_input", "bad_input", "bad_input", "cut"]


def test_fallback_reason_bits():
    cfg = FallbackConfig(max_chi2=20.5)
    bits = fallback_reasons([3.0, 3.0, 30.0, np.nan, 3.0], [False, False, False, False, True],
                            [True, False, False, False, True], cfg)
    assert bits.tolist() == [
        FallbackReason.OOS_COLOR, 0, FallbackReason.HIGH_CHI2,
        FallbackReason.HIGH_CHI2, FallbackReason.OOS_NOISE | FallbackReason.OOS_COLOR]
    # the in-box fraction no longer routes (a probit flow's is always 1): its bit stays clear
    assert not (bits & FallbackReason.LOW_ACCEPT_FRAC).any()


def test_fallback_quotas_share_the_cap_by_rows():
    pix = [InputPixel(1, i, Path(f"{i}"), n, "") for i, n in enumerate((100, 300, 50, 550))]
    q = fallback_quotas(pix, 10)
    assert sum(q.values()) == 10 and q[(1, 3)] >= q[(1, 1)] >= q[(1, 0)] >= q[(1, 2)]
    assert fallback_quotas(pix, 10) == q  # depends on the pixels only
    assert set(fallback_quotas(pix, -1).values()) == {None}
    assert set(fallback_quotas(pix, 0).values()) == {0}
