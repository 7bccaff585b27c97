"""Training (sbi flows), the artifact, and bounded batched sampling — on a small real training set."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
import torch

from sedflow_dask.config import Config, TrainingConfig
from sedflow_dask.posterior import (
    build_flow,
    galaxy_seeds,
    load_posterior_model,
    sample_posteriors,
)
from sedflow_dask.posterior.flows import N_X, architecture_of, base_to_theta, is_affine_coupling
from sedflow_dask.posterior.transforms import from_flow_space, log_abs_det_jacobian, to_flow_space
from sedflow_dask.simulate import simulate_training_set
from sedflow_dask.sps.parameters import BOX_LOWER, BOX_UPPER
from sedflow_dask.train import train_posterior
from sedflow_dask.train.data import load_training_data
from sedflow_dask.train.loop import load_checkpoint

TINY = {"num_transforms": 2, "hidden_features": [16, 16], "batch_size": 256, "max_epochs": 3, "threads": 1}


@pytest.fixture(scope="module")
def training_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("post") / "ts"
    config = Config.from_dict({"seed": 5, "simulate": {"n": 3000, "chunk_rows": 4096}})
    simulate_training_set(config, out, None, stream=None)
    return out


@pytest.fixture(scope="module")
def trained(training_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("post") / "model"
    model = train_posterior(Config.from_dict({"seed": 1, "train": TINY}), training_set, out, stream=None,
                            command="test")
    return out, model


@pytest.fixture(scope="module")
def x_held(training_set):
    data = load_training_data(training_set)
    return data.x[:12], data.theta[:12].astype(np.float64)


def test_artifact_round_trip(trained, x_held):
    out, model = trained
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["epochs"] == 3 and meta["training"]["stop_reason"] == "max_epochs"
    assert meta["training"]["command"] == "test" and meta["versions"]["sbi"]
    assert meta["training"]["device"] == "cpu" and meta["training"]["config"]["device"] == "cpu"
    assert meta["training_set"]["n_kept"] == 3000 and len(meta["colour_quantiles"]) == 10
    loaded = load_posterior_model(out)
    x, theta = x_held
    np.testing.assert_allclose(loaded.log_prob(theta, x), model.log_prob(theta, x), rtol=1e-6)
    assert loaded.sha256 == meta["weights_sha256"]


def test_resume_continues_the_same_run(training_set, tmp_path):
    cfg2 = Config.from_dict({"seed": 1, "train": {**TINY, "max_epochs": 2}})
    cfg3 = Config.from_dict({"seed": 1, "train": TINY})
    train_posterior(cfg2, training_set, tmp_path / "a", stream=None)
    resumed = train_posterior(cfg3, training_set, tmp_path / "a", resume=True, stream=None)
    straight = train_posterior(cfg3, training_set, tmp_path / "b", stream=None)
    assert resumed.meta["training"]["epochs"] == 3
    for (k, a), b in zip(resumed.estimator.state_dict().items(), straight.estimator.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    other = Config.from_dict({"seed": 2, "train": TINY})
    with pytest.raises(ValueError, match="another run"):
        train_posterior(other, training_set, tmp_path / "a", resume=True, stream=None)
    with pytest.raises(ValueError, match="no checkpoint"):
        train_posterior(cfg3, training_set, tmp_path / "c", resume=True, stream=None)


def test_training_device_is_checked(training_set, trained, tmp_path):
    with pytest.raises(ValueError, match="train.device must be"):
        Config.from_dict({"train": {**TINY, "device": "gpu"}})
    cfg = Config.from_dict({"seed": 1, "train": {**TINY, "device": "cuda"}})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device"):
            train_posterior(cfg, training_set, tmp_path / "g", stream=None)
        assert not (tmp_path / "g").exists()  # refused before anything was written
        return
    # with a GPU: the same run there gives a CPU-loadable artifact and the CPU run's losses
    on_gpu = train_posterior(cfg, training_set, tmp_path / "g", stream=None)
    cpu_history = trained[1].meta["training"]["history"]
    assert on_gpu.meta["training"]["device"] != "cpu"
    for a, b in zip(on_gpu.meta["training"]["history"], cpu_history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=0.05)
    assert all(p.device.type == "cpu" for p in load_posterior_model(tmp_path / "g").estimator.parameters())


def test_renoised_inputs_are_fresh_draws_of_the_same_distribution(training_set):
    from scipy import stats

    from sedflow_dask.noise.proposal import default_proposal
    from sedflow_dask.train.data import epoch_rng, reobserved_inputs

    data = load_training_data(training_set, noiseless=True)
    fresh = reobserved_inputs(default_proposal(), data.flux_true, data.z, epoch_rng(1, 1))
    again = reobserved_inputs(default_proposal(), data.flux_true, data.z, epoch_rng(1, 1))
    np.testing.assert_array_equal(fresh, again)  # a function of (seed, epoch) alone
    assert not np.allclose(np.nan_to_num(fresh[:, :5]), np.nan_to_num(data.x[:, :5]))  # new noise
    for k in range(15):  # magnitudes, log errors, band flags (z is carried over unchanged)
        a, b = fresh[:, k], data.x[:, k]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if k >= 10:  # the present-band flags: the same dropout rate
            assert a.mean() == pytest.approx(b.mean(), abs=0.03), k
        else:
            assert stats.ks_2samp(a, b).pvalue > 1e-3, k
    np.testing.assert_array_equal(fresh[:, 15], data.x[:, 15])
    # same galaxy, new noise: the magnitudes scatter about the stored ones by the errors
    both = np.isfinite(fresh[:, 2]) & np.isfinite(data.x[:, 2])
    assert np.median(fresh[both, 2] - data.x[both, 2]) == pytest.approx(0.0, abs=0.01)


def test_renoised_training_resumes_exactly_and_checks_the_proposal(training_set, tmp_path):
    noisy = {**TINY, "renoise": True}  # the default, named: this test compares it with plain
    cfg2 = Config.from_dict({"seed": 1, "train": {**noisy, "max_epochs": 2}})
    cfg3 = Config.from_dict({"seed": 1, "train": noisy})
    train_posterior(cfg2, training_set, tmp_path / "a", stream=None)
    resumed = train_posterior(cfg3, training_set, tmp_path / "a", resume=True, stream=None)
    straight = train_posterior(cfg3, training_set, tmp_path / "b", stream=None)
    plain = train_posterior(Config.from_dict({"seed": 1, "train": {**TINY, "renoise": False}}), training_set, tmp_path / "c", stream=None)
    hist = [h["train_loss"] for h in straight.meta["training"]["history"]]
    plain_hist = [h["train_loss"] for h in plain.meta["training"]["history"]]
    assert hist[0] == pytest.approx(plain_hist[0], rel=1e-9) and hist[1] != pytest.approx(plain_hist[1], rel=1e-6)
    for (k, a), b in zip(resumed.estimator.state_dict().items(), straight.estimator.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    other = Config.from_dict({"seed": 1, "train": noisy, "noise": {"model": "sdss_depths"}})
    with pytest.raises(ValueError, match="not the one the training set was simulated with"):
        train_posterior(other, training_set, tmp_path / "d", stream=None)


def test_time_budget_stops_training(training_set, tmp_path):
    cfg = Config.from_dict({"seed": 1, "train": {**TINY, "max_epochs": 10_000, "max_minutes": 0.02}})
    t0 = time.perf_counter()
    model = train_posterior(cfg, training_set, tmp_path / "t", stream=None)
    assert model.meta["training"]["stop_reason"] == "time_budget"
    assert time.perf_counter() - t0 < 60


def test_sampling_shapes_bounds_and_streams(trained, x_held):
    _, model = trained
    x, _ = x_held
    post = sample_posteriors(model, x, 500, seed=3, ids=np.arange(100, 112))
    assert post.samples.shape == (12, 500, 11) and post.samples.dtype == np.float32
    ok = ~np.isnan(post.samples[:, :, 0])
    inside = (post.samples >= model.prior.lower - 1e-5) & (post.samples <= model.prior.upper + 1e-5)
    assert np.all(inside[ok])
    assert np.all((post.accept_frac > 0) & (post.accept_frac <= 1))
    # a galaxy's draws depend on (seed, id) only: alone, in another batch, with threads
    alone = sample_posteriors(model, x[4:5], 500, seed=3, ids=[104])
    np.testing.assert_allclose(alone.samples[0], post.samples[4], rtol=1e-6, atol=1e-6)
    threaded = sample_posteriors(model, x, 500, seed=3, ids=np.arange(100, 112), threads=2, batch_galaxies=5)
    np.testing.assert_allclose(threaded.samples, post.samples, rtol=1e-6, atol=1e-6)
    other = sample_posteriors(model, x[4:5], 500, seed=4, ids=[104])
    assert not np.allclose(other.samples[0], post.samples[4], equal_nan=True)
    assert len(set(galaxy_seeds(3, np.arange(1000)).tolist())) == 1000


def test_each_sampling_thread_runs_torch_on_one_core(trained, x_held, monkeypatch):
    # torch's own pool would spin on every core: two single-threaded validations at once ran 6x
    # slower before sample_posteriors(threads=1) pinned torch to one thread
    from sedflow_dask.posterior import sampling
    from sedflow_dask.runtime import single_threaded_torch

    _, model = trained
    x, _ = x_held
    seen: list[int] = []
    real = sampling.base_to_theta

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling, "base_to_theta", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads in (1, 2):
            sample_posteriors(model, x, 50, seed=0, threads=threads, batch_galaxies=4)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2  # restored
        seen.clear()
        sample_posteriors(model, x, 50, seed=0)  # None: the process's setting (a Dask worker's)
        assert set(seen) == {2}
        with single_threaded_torch():  # as resample does: nesting must not deadlock
            sample_posteriors(model, x, 50, seed=0, threads=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_probit_model_accepts_every_finite_draw_even_for_absurd_inputs(trained, x_held):
    # the model users get: the probit maps every flow draw into the prior box, so even a flow
    # shifted 50 sigma and galaxies 30 mag too faint fill their draws in the first round
    _, model = trained
    assert model.theta_transform == "probit"
    x, _ = x_held
    far = dataclasses.replace(model, theta_mean=model.theta_mean + 50 * model.theta_std)
    bad = x.copy()
    bad[:, :5] += 30.0
    for m in (model, far):
        post = sample_posteriors(m, bad, 1000, seed=0, max_rounds=3)
        assert np.all(post.accept_frac == 1.0) and np.all(post.n_proposed == 1000)
        assert np.all(post.n_filled == 1000)


def test_rounds_are_exhausted_and_bounded(trained, x_held):
    """What can still fail, and that it ends after ``max_rounds`` rounds with NaN draws."""
    _, model = trained
    x, _ = x_held
    # probit: only a flow whose output is not finite rejects. Magnitudes of 1e300 are finite
    # (float64) but overflow the network's float32 (this exhausts the rounds of the model users get)
    huge = x[:4].copy()
    huge[:, :5] = np.where(np.isnan(huge[:, :5]), np.nan, 1e300)  # absent bands stay absent
    post = sample_posteriors(model, huge, 1000, seed=0, max_rounds=3)
    assert np.all(post.n_proposed == 3000) and np.all(post.n_accepted == 0)
    assert np.isnan(post.samples).all() and np.all(post.n_filled == 0)
    # on box coordinates ("none", the paper's choice) a flow with its mass outside the box
    # rejects nearly everything: partial or empty posteriors, still after 3 rounds
    box = dataclasses.replace(model, theta_transform="none", theta_mean=np.asarray(BOX_UPPER) + 50 * model.theta_std)
    bad = x.copy()
    bad[:, :5] += 30.0
    post = sample_posteriors(box, bad, 1000, seed=0, max_rounds=3)
    assert np.all(post.n_proposed == 3000)
    assert np.all(post.accept_frac < 0.01)
    assert np.isnan(post.samples).all(axis=(1, 2)).sum() >= 1
    assert np.all(post.n_filled == post.n_accepted.clip(max=1000))


def test_bad_inputs_are_named(trained, x_held):
    _, model = trained
    x, _ = x_held
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        sample_posteriors(model, bad, 10, seed=0)
    with pytest.raises(ValueError, match="shape"):
        sample_posteriors(model, x[:, :5], 10, seed=0)
    with pytest.raises(ValueError, match="seed"):
        sample_posteriors(model, x, 10)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="something_else"), "format"),
    (lambda d: d.update(format_version=7), "format_version"),
    (lambda d: d.pop("architecture"), "architecture"),
    (lambda d: d["standardization"].update(theta_std=[1.0] * 3), "standardization.theta_std"),
    (lambda d: d["prior"].update(lower=[0.0] * 11), "prior"),
    (lambda d: d.update(weights_sha256="0" * 64), "weights_sha256"),
    (lambda d: d["architecture"].update(num_transforms=5), "not loadable"),
])
def test_foreign_or_corrupt_artifacts_fail_at_load(trained, tmp_path, mutate, message):
    src, _ = trained
    dst = tmp_path / "bad"
    dst.mkdir()
    (dst / "weights.pt").write_bytes((src / "weights.pt").read_bytes())
    meta = json.loads((src / "model.json").read_text())
    mutate(meta)
    (dst / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message) as err:
        load_posterior_model(dst)
    assert str(dst) in str(err.value)


def test_truncated_weights_and_missing_files(trained, tmp_path):
    src, _ = trained
    dst = tmp_path / "trunc"
    dst.mkdir()
    (dst / "model.json").write_text((src / "model.json").read_text())
    with pytest.raises(ValueError, match="weights.pt is missing"):
        load_posterior_model(dst)
    (dst / "weights.pt").write_bytes((src / "weights.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="sha256"):
        load_posterior_model(dst)
    with pytest.raises(ValueError, match="does not exist"):
        load_posterior_model(tmp_path / "nothing")
    (tmp_path / "nojson").mkdir()
    with pytest.raises(ValueError, match="model.json"):
        load_posterior_model(tmp_path / "nojson")


def test_fast_coupling_inverse_matches_zuko():
    torch.manual_seed(0)
    est = build_flow(architecture_of(TrainingConfig(num_transforms=3, hidden_features=(32, 32))))
    assert is_affine_coupling(est.net)
    for p in est.parameters():  # move off the identity initialisation
        p.data += 0.1 * torch.randn_like(p)
    ctx, eps = torch.randn(7, N_X), torch.randn(50, 7, 11)
    with torch.no_grad():
        reference = est.net(ctx).transform.inv(eps)
        fast = base_to_theta(est, eps, ctx)
        torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)
        # and it inverts the forward map
        z = est.net(ctx).transform(fast)
        torch.testing.assert_close(z, eps, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("flow", ["zuko_maf", "zuko_nsf", "maf"])
def test_log_density_from_the_drawing_pass_is_the_flows(flow):
    torch.manual_seed(1)
    est = build_flow(architecture_of(TrainingConfig(flow=flow, num_transforms=3, hidden_features=(32, 32))))
    for p in est.parameters():
        p.data += 0.1 * torch.randn_like(p)
    ctx, eps = torch.randn(5, N_X), torch.randn(40, 5, 11)
    with torch.no_grad():
        theta, log_q = base_to_theta(est, eps, ctx, with_log_density=True)
        torch.testing.assert_close(theta, base_to_theta(est, eps, ctx))
        torch.testing.assert_close(log_q, est.log_prob(theta, ctx), rtol=1e-5, atol=1e-4)


def test_paper_maf_builds_and_samples_directly():
    est = build_flow(architecture_of(TrainingConfig(flow="maf", num_transforms=2, hidden_features=(20, 20))))
    with torch.no_grad():
        out = base_to_theta(est, torch.randn(30, 4, 11), torch.randn(4, N_X))
    assert out.shape == (30, 4, 11) and torch.isfinite(out).all()


def test_checkpoint_is_restorable(trained):
    out, _ = trained
    est = build_flow(json.loads((out / "model.json").read_text())["architecture"])
    opt = torch.optim.Adam(est.parameters())
    fingerprint = torch.load(out / "checkpoint.pt", weights_only=True)["fingerprint"]
    state, best = load_checkpoint(out / "checkpoint.pt", est, opt, fingerprint)
    assert state.epoch == 3 and len(state.history) == 3 and best


@pytest.fixture(scope="module")
def trained_logit(training_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("post") / "model_logit"
    config = Config.from_dict({"seed": 1, "train": TINY | {"theta_transform": "logit"}})
    return out, train_posterior(config, training_set, out, stream=None, command="test")


@pytest.mark.parametrize("kind", ["logit", "probit"])
def test_theta_transforms_invert_with_exact_jacobians(kind):
    lower, upper = BOX_LOWER, BOX_UPPER
    theta = lower + (upper - lower) * np.random.default_rng(0).uniform(0.001, 0.999, (50, 11))
    t = to_flow_space(theta, kind, lower, upper)
    back = from_flow_space(torch.as_tensor(t), kind, torch.tensor(lower), torch.tensor(upper)).numpy()
    np.testing.assert_allclose(back, theta, rtol=1e-10, atol=1e-10)
    # the transform is per coordinate: log|det| is the sum of central-difference log-slopes
    h = 1e-6 * (upper - lower)
    slopes = (to_flow_space(theta + h, kind, lower, upper) - to_flow_space(theta - h, kind, lower, upper)) / (2 * h)
    np.testing.assert_allclose(log_abs_det_jacobian(theta, kind, lower, upper), np.log(slopes).sum(axis=1),
                               rtol=1e-6)


def test_probit_maps_the_uniform_prior_onto_the_gaussian_base():
    from scipy import stats

    theta = BOX_LOWER + (BOX_UPPER - BOX_LOWER) * np.random.default_rng(1).uniform(size=(20_000, 11))
    t = to_flow_space(theta, "probit", BOX_LOWER, BOX_UPPER)
    assert min(stats.kstest(t[:, j], "norm").pvalue for j in range(11)) > 1e-3
    # the logit's image is logistic (σ = π/√3), not normal: the mismatch the probit removes
    logit = to_flow_space(theta, "logit", BOX_LOWER, BOX_UPPER)
    assert stats.kstest(logit[:, 0] / logit[:, 0].std(), "norm").pvalue < 1e-6


@pytest.mark.parametrize("fixture", ["trained", "trained_logit"])
def test_bounded_transforms_keep_every_draw_in_the_box(fixture, x_held, request):
    _, model = request.getfixturevalue(fixture)
    assert model.theta_transform == {"trained": "probit", "trained_logit": "logit"}[fixture]  # probit: the default
    x, theta = x_held
    post = sample_posteriors(model, x, 400, seed=9)
    assert np.all(post.accept_frac == 1.0) and np.all(post.n_filled == 400)
    assert np.all((post.samples >= model.prior.lower - 1e-6) & (post.samples <= model.prior.upper + 1e-6))
    # log q is a density in box coordinates: the transform's Jacobian is included. Check it by
    # Monte Carlo: E_q[1 / q(θ)] over draws is the volume of the region q covers (<= the box's).
    draws = post.samples[0].astype(np.float64)
    logq = model.log_prob(draws, np.repeat(x[:1], len(draws), axis=0))
    volume = np.mean(np.exp(-logq))
    assert 0 < volume <= np.prod(model.prior.upper - model.prior.lower) * 1.05
    # the density from the drawing pass is log q of the box draws (float32 draws: ~1e-3 apart;
    # log_prob clips the unit coordinate at 1e-6 from the edges, the drawing pass is exact there)
    with_density = sample_posteriors(model, x, 400, seed=9, log_density=True)
    np.testing.assert_array_equal(with_density.samples, post.samples)
    unit = (draws - model.prior.lower) / (model.prior.upper - model.prior.lower)
    interior = np.all((unit > 1e-4) & (unit < 1 - 1e-4), axis=1)
    assert interior.mean() > 0.9
    np.testing.assert_allclose(with_density.log_q[0][interior], logq[interior], atol=5e-3)
    assert post.log_q is None
    round_trip = model.box_from_standardized(model.standardize_theta(theta)).numpy()
    np.testing.assert_allclose(round_trip, theta, rtol=1e-4, atol=1e-4)


def test_flow_inputs_read_negative_fluxes_and_mask_absent_bands():
    from sedflow_dask.photometry import asinh_mag
    from sedflow_dask.posterior.inputs import INPUT_NAMES, flow_inputs, input_statistics, standardize_inputs

    flux = np.array([[-2.0, 50.0, 120.0, 180.0, 220.0], [np.nan, 50.0, 120.0, 180.0, 220.0]])
    sigma = np.array([[1.5, 1.0, 1.0, 2.0, 3.0], [1.5, 1.0, 1.0, 2.0, 3.0]])
    x = flow_inputs(flux, sigma, [0.05, 0.1])
    assert x.shape == (2, len(INPUT_NAMES)) == (2, 16)
    # a negative u flux is a finite asinh magnitude, fainter than a zero flux
    assert np.isfinite(x[0, 0]) and x[0, 0] > asinh_mag(np.zeros((1, 5)))[0, 0]
    assert x[0, 5] == pytest.approx(np.log10(1.5)) and x[0, 10] == 1.0
    # an absent band: NaN values, mask 0; standardised to the training mean (0)
    assert np.isnan(x[1, 0]) and np.isnan(x[1, 5]) and x[1, 10] == 0.0 and x[1, 15] == 0.1
    mean, std = input_statistics(np.concatenate([x, x + 0.5]))
    z = standardize_inputs(x, mean, std)
    assert z.dtype == np.float32 and np.all(np.isfinite(z)) and z[1, 0] == 0.0 and z[1, 5] == 0.0
    np.testing.assert_allclose(z[0, 0], (x[0, 0] - mean[0]) / std[0], rtol=1e-6)
