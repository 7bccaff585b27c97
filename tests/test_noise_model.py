"""The noise model: artifact round trip, evaluation, fitting, the shipped models (real SDSS fit and
SDSS depths)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sedflow_dask.noise import (
    NoiseModel,
    fit_noise_model,
    load_noise_model,
    noise_model_path,
    sdss_depth_noise_model,
    sdss_real_noise_model,
)
from sedflow_dask.photometry import flux_to_mag, mag_to_flux, sigma_mag_from_flux
from sedflow_dask.survey.sdss import KCORRECT_FLOORS


@pytest.fixture(scope="module")
def default():
    return load_noise_model()


def assert_same_noise_model(shipped: NoiseModel, rebuilt: NoiseModel, rtol: float = 1e-12) -> None:
    """Same structure and provenance; the computed arrays equal to float round-off.

    A rebuild on another CPU may differ in the last bit (vectorised exp and BLAS reductions round
    differently), so the arrays are compared with a tolerance, never by hash.
    """
    assert shipped.provenance == rebuilt.provenance
    for a, b in zip(shipped.bands, rebuilt.bands, strict=True):
        assert a.band == b.band and a.mag_centres.shape == b.mag_centres.shape
        for name in ("mag_centres", "sigma_median", "sigma_scatter"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=f"{a.band} {name}")
        np.testing.assert_allclose(a.mag_range, b.mag_range, rtol=rtol, atol=0, err_msg=f"{a.band} mag_range")
        assert a.floor == b.floor  # a constant copied from the code, not computed


def test_shipped_default_is_the_real_sdss_fit(default):
    # the JSON in the package is what the code fits to the kcorrect wheel's SDSS galaxies
    assert noise_model_path(None) == noise_model_path("sdss_real") and noise_model_path(None).exists()
    assert default.provenance["fitted_from"] == "real_sdss"
    assert_same_noise_model(default, sdss_real_noise_model())


def test_shipped_sdss_depths_is_its_rebuild():
    shipped = load_noise_model("sdss_depths")
    assert shipped.provenance["fitted_from"] == "sdss_depths"
    assert_same_noise_model(shipped, sdss_depth_noise_model())


def test_same_noise_model_check_can_fail(default):
    moved = default.to_dict()
    moved["bands"]["i"]["sigma_scatter"][3] *= 1 + 1e-9
    with pytest.raises(AssertionError, match="i sigma_scatter"):
        assert_same_noise_model(default, NoiseModel.from_dict(moved))


@pytest.mark.parametrize("name, dip, faint_over_floor", [
    # derived from depths: smooth, and it reaches the sky-limited faint end
    ("sdss_depths", 1e-12, 3.0),
    # fitted to 9,255 real galaxies: a bin's median may dip a little below its brighter
    # neighbour's, and the spectroscopic sample ends near r = 17.8, where the floors still dominate
    ("sdss_real", 0.05, 1.05),
])
def test_shipped_models_respect_floors_and_paper_figures(name, dip, faint_over_floor):
    model = load_noise_model(name)
    np.testing.assert_allclose(model.floors, KCORRECT_FLOORS)
    bright = model.sigma_median(model.mag_min[None, :] + 0.1)[0]
    np.testing.assert_allclose(bright, KCORRECT_FLOORS, rtol=0.02)  # floors dominate when bright
    # the NSA medians quoted from the paper's figures (nsa-ingest.md §6): u≈0.07@19, r≈0.021@17.5, z≈0.04@17
    mu = model.sigma_median(np.array([[19.0, 17.5, 17.5, 17.0, 17.0]]))[0]
    assert 0.05 < mu[0] < 0.08 and 0.019 < mu[2] < 0.024 and 0.03 < mu[4] < 0.045
    # errors grow toward the faint end in every band
    for band in model.bands:
        assert np.all(np.diff(band.sigma_median) >= -dip * band.sigma_median[1:]), band.band
        assert band.sigma_median[-1] > faint_over_floor * band.floor, band.band


def test_round_trip_json(tmp_path, default):
    path = default.save(tmp_path / "n.json")
    again = load_noise_model(path)
    # exact on purpose: JSON writes each float's shortest repr, which reads back to the same double
    assert again.sha256() == default.sha256()
    np.testing.assert_array_equal(again.sigma_median(np.full((3, 5), 17.0)), default.sigma_median(np.full((3, 5), 17.0)))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(format_version=99), "format_version"),
    (lambda d: d["bands"].pop("r"), "bands"),
    (lambda d: d["bands"]["g"].pop("floor"), "band g lacks field 'floor'"),
    (lambda d: d["bands"]["i"].update(sigma_median=[1.0]), "band i"),
])
def test_foreign_or_corrupt_artifact_is_named(tmp_path, default, mutate, message):
    data = default.to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        load_noise_model(path)
    assert str(path) in str(err.value)


def test_not_json_is_named(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_noise_model(path)


def test_interpolation_is_linear_and_held_at_the_ends(default):
    band = default.bands[2]
    c, mu = band.mag_centres, band.sigma_median
    mid = 0.5 * (c[10] + c[11])
    assert band.median(mid) == pytest.approx(0.5 * (mu[10] + mu[11]))
    assert band.median(c[0] - 5) == mu[0] and band.median(c[-1] + 5) == mu[-1]


def test_fit_recovers_a_known_model():
    rng = np.random.default_rng(1)
    n = 60_000
    mags = rng.uniform(14, 20, size=(n, 5))
    true_mu = 0.02 + 0.01 * (mags - 14)
    sig = true_mu + 0.005 * rng.standard_normal((n, 5))
    model = fit_noise_model(mags, sig, provenance={"fitted_from": "test"})
    for i, band in enumerate(model.bands):
        assert band.mag_range == (pytest.approx(mags[:, i].min()), pytest.approx(mags[:, i].max()))
        np.testing.assert_allclose(band.sigma_median, 0.02 + 0.01 * (band.mag_centres - 14), atol=1.5e-3)
        np.testing.assert_allclose(band.sigma_scatter, 0.005, atol=1e-3)
        assert np.all(np.diff(band.mag_centres) == pytest.approx(0.2))
    assert model.provenance["fitted_from"] == "test" and model.provenance["n_galaxies"] == n


def test_fit_drops_sparse_bins_and_names_the_band():
    rng = np.random.default_rng(2)
    mags = np.column_stack([rng.uniform(15, 17, 500)] * 5)
    mags[0, 3] = 25.0  # a lone faint galaxy: its bin has 1 < min_count members
    sig = np.full_like(mags, 0.03)
    model = fit_noise_model(mags, sig)
    assert model.bands[3].mag_centres.max() < 17.2
    assert model.bands[3].mag_range[1] == 25.0  # the range is still the observed one
    bad = sig.copy()
    bad[:, 1] = np.nan
    with pytest.raises(ValueError, match="band g"):
        fit_noise_model(mags, bad)


def test_noise_outlier_threshold(default):
    m = np.full((3, 5), 17.0)
    limit = default.sigma_median(m) + 3 * default.sigma_scatter(m)
    sig = default.sigma_median(m).copy()
    sig[1, 2] = limit[1, 2] * 1.001
    sig[2, 4] = limit[2, 4] * 0.999
    np.testing.assert_array_equal(default.noise_outlier(m, sig), [False, True, False])


def test_conversions_round_trip():
    f = np.array([0.5, 3.0, 100.0, 2e4])
    np.testing.assert_allclose(mag_to_flux(flux_to_mag(f)), f, rtol=1e-12)
    assert np.isnan(flux_to_mag(np.array([0.0, -1.0]))).all()
    np.testing.assert_allclose(sigma_mag_from_flux(100.0, 0.921034037 * 100 * 0.02), 0.02, rtol=1e-8)
