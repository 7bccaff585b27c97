"""``sedflow validate``: calibration and recovery of a posterior model on held-out simulations.

The held-out galaxies come from the same prior and forward model as the training set, with a
random stream no training chunk uses, observed in one of the regimes of
:mod:`sedflow_dask.noise.regimes` (real SDSS errors, the training proposal, σ × 3 in one band,
u or g and u missing). Sampled posteriors are scored with SBC, p-p coverage and TARP over the 11
box parameters, and with recovery (posterior median and width vs truth) of the derived
properties log M*, log SFR(1 Gyr), log Z_MW and t_MW.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..console import STDERR, MessageStream, resolve_stream
from ..noise.proposal import resolve_proposal
from ..noise.regimes import COVERAGE_TOLERANCE, REGIMES, observe_regime
from ..posterior.artifact import X_NAMES, PosteriorModel
from ..posterior.inputs import flow_inputs
from ..posterior.sampling import PosteriorSamples, sample_posteriors
from ..simulate.core import chunk_rng
from ..sps.model import PROVABGSModel
from ..sps.parameters import BOX_NAMES, box_to_physical
from .calibration import calibration_summary, normalized_ranks
from .plots import plot_pp, plot_recovery, plot_sbc, plot_tarp
from .reference import compare_with_mcmc, load_mcmc_reference, mcmc_reference, save_mcmc_reference

#: Chunk index of the held-out stream: far beyond any training chunk (they count from 0).
HELD_OUT_CHUNK = 2**31 - 1
DERIVED = ("log_mstar", "log_mstar_surviving", "log_sfr_1gyr", "log_z_mw", "t_mw")


def held_out_simulations(model: PosteriorModel, n: int, seed: int, *, forward: PROVABGSModel | None = None,
                         proposal_path: str | None = None, regime: str = "real"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` held-out galaxies: θ_box (n, 11), z (n,) and observations (n, 11) = (flux_ugriz,
    σ_ugriz [nmgy], NaN in absent bands; z), from the model's prior observed in ``regime``.

    The galaxies (θ, z) depend on ``seed`` only, so every regime sees the same ones.
    """
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; expected one of {REGIMES}")
    proposal = resolve_proposal(proposal_path)
    expected = model.meta.get("proposal_sha256")
    if expected and proposal.sha256() != expected:
        raise ValueError(f"noise proposal {proposal_path or 'default'} (sha256 {proposal.sha256()[:12]}) is not the one "
                         f"the posterior model was trained with ({expected[:12]}); pass it with --proposal")
    forward = forward or PROVABGSModel()
    rng = chunk_rng(seed, HELD_OUT_CHUNK)
    theta: list[np.ndarray] = []
    z: list[np.ndarray] = []
    flux_true: list[np.ndarray] = []
    while sum(len(t) for t in theta) < n:
        box, zz = model.prior.sample(max(4 * n, 1024), rng)
        f = forward.photometry(box, zz, space="box", unit="nanomaggies")
        keep = proposal.in_range(f)
        theta.append(box[keep])
        z.append(zz[keep])
        flux_true.append(f[keep])
    theta_a, z_a, f_a = (np.concatenate(a)[:n] for a in (theta, z, flux_true))
    obs_rng = np.random.default_rng(np.random.SeedSequence([seed, REGIMES.index(regime)]))
    flux, sigma = observe_regime(proposal, f_a, obs_rng, regime)
    obs = np.column_stack([flux, sigma, z_a])
    # the model sees float32 inputs, as in training
    return theta_a.astype(np.float32).astype(np.float64), z_a, obs.astype(np.float32).astype(np.float64)


def derived_properties(forward: PROVABGSModel, theta_box: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """log M* (formed, θ_0), surviving log M*, log SFR over 1 Gyr, log Z_MW, t_MW for box θ."""
    props = forward.derived_properties(box_to_physical(theta_box, validate=False), z)
    return {"log_mstar": np.asarray(theta_box[:, 0], dtype=np.float64),
            "log_mstar_surviving": props["log_mstar_surviving"], "log_sfr_1gyr": props["log_sfr_1gyr"],
            "log_z_mw": props["log_z_mw"], "t_mw": props["t_mw"]}


def _sample_with_progress(model: PosteriorModel, x: np.ndarray, n_samples: int, *, seed: int, max_rounds: int,
                          threads: int, stream: TextIO | None, block: int = 512) -> PosteriorSamples:
    """``sample_posteriors`` over blocks of galaxies with a progress bar.

    A galaxy's draws depend only on (seed, its index), so the blocks give the same draws as one call.
    """
    from tqdm.auto import tqdm

    g = len(x)
    samples = np.empty((g, n_samples, 11), dtype=np.float32)
    n_acc = np.zeros(g, dtype=np.int64)
    n_prop = np.zeros(g, dtype=np.int64)
    seeds = np.zeros(g, dtype=np.uint64)
    with tqdm(total=g, desc="validate: sample", unit="galaxy", file=stream, disable=stream is None,
              dynamic_ncols=True) as bar:
        for start in range(0, g, block):
            rows = slice(start, min(start + block, g))
            part = sample_posteriors(model, flow_inputs(x[rows, :5], x[rows, 5:10], x[rows, 10]), n_samples,
                                     seed=seed, ids=np.arange(g)[rows],
                                     max_rounds=max_rounds, threads=threads)
            samples[rows], n_acc[rows], n_prop[rows], seeds[rows] = (part.samples, part.n_accepted,
                                                                     part.n_proposed, part.seeds)
            bar.update(rows.stop - rows.start)
    return PosteriorSamples(samples=samples, n_accepted=n_acc, n_proposed=n_prop, seeds=seeds)


def validate_model(model: PosteriorModel, out: str | Path, *, n: int = 2000, n_samples: int = 10_000,
                   seed: int = 0, n_derived: int = 500, threads: int = 1, max_rounds: int = 10,
                   label: str = "model", proposal_path: str | None = None, regime: str = "real", n_mcmc: int = 0,
                   mcmc_seconds: float = 10.0, mcmc_from: str | Path | None = None,
                   stream: MessageStream = STDERR) -> dict[str, Any]:
    """Validate ``model`` on ``n`` held-out simulations observed in ``regime``; write figures and
    ``summary.json`` to ``out``.

    With ``n_mcmc`` > 0 the first ``n_mcmc`` galaxies also get MCMC posteriors on the same forward
    model (at most ``mcmc_seconds`` each, ``threads`` processes) and the summary's
    ``mcmc_reference`` compares the flow's widths with them (:mod:`.reference`); they are saved
    as ``mcmc_reference.npz``, which ``mcmc_from`` reuses for another model on the same held-out set.
    """
    stream = resolve_stream(stream)
    if n_mcmc > n:
        raise ValueError(f"n_mcmc ({n_mcmc}) exceeds the held-out set (n = {n})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    forward = PROVABGSModel()
    theta, z, x = held_out_simulations(model, n, seed, forward=forward, proposal_path=proposal_path, regime=regime)
    ref = load_mcmc_reference(mcmc_from, x, seed) if mcmc_from is not None else None  # fail before sampling
    if stream is not None:
        print(f"validate: {n} held-out simulations (seed {seed}, regime {regime}); sampling {n_samples} draws each",
              file=stream)
    t0 = time.perf_counter()
    post = _sample_with_progress(model, x, n_samples, seed=seed, max_rounds=max_rounds, threads=threads,
                                 stream=stream)
    t_sample = time.perf_counter() - t0
    complete = post.n_filled == n_samples
    samples = post.samples[complete].astype(np.float64)
    truth = theta[complete]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    calib = calibration_summary(samples, truth, BOX_NAMES, model.prior.lower, model.prior.upper, rng)

    # derived properties on a subsample of each posterior (the forward model's SFH per draw)
    k = min(n_derived, n_samples)
    sub = samples[:, :k, :].reshape(-1, 11)
    z_rep = np.repeat(z[complete], k)
    d_post = {name: v.reshape(-1, k) for name, v in derived_properties(forward, sub, z_rep).items()}
    d_true = derived_properties(forward, truth, z[complete])
    recovery, med, lo, hi = {}, {}, {}, {}
    d_samples = np.stack([d_post[name] for name in DERIVED], axis=-1)
    d_truth = np.stack([d_true[name] for name in DERIVED], axis=-1)
    finite = np.all(np.isfinite(d_truth), axis=1) & np.all(np.isfinite(d_samples), axis=(1, 2))
    d_calib = calibration_summary(d_samples[finite], d_truth[finite], DERIVED, np.nanmin(d_truth, 0) - 1,
                                  np.nanmax(d_truth, 0) + 1, rng)
    for name in DERIVED:
        q = np.nanpercentile(d_post[name], [16, 50, 84], axis=1)
        lo[name], med[name], hi[name] = q
        recovery[name] = {
            "median_abs_error": float(np.nanmedian(np.abs(med[name] - d_true[name]))),
            "median_posterior_std": float(np.nanmedian(np.nanstd(d_post[name], axis=1))),
            "median_68_width": float(np.nanmedian(hi[name] - lo[name])),
        }
    figures = {
        "pp": plot_pp(calib.pp_levels, calib.pp_coverage, BOX_NAMES, out / "pp.png", len(truth)).name,
        "sbc": plot_sbc(normalized_ranks(samples, truth), BOX_NAMES, out / "sbc.png").name,
        "tarp": plot_tarp(calib.tarp_levels, {label: calib.tarp_coverage}, out / "tarp.png").name,
        "recovery": plot_recovery(d_true, med, lo, hi, out / "recovery.png").name,
    }
    tolerance = COVERAGE_TOLERANCE[regime]
    summary: dict[str, Any] = {
        "label": label,
        "regime": regime,
        "model_sha256": model.sha256,
        "n_galaxies": n,
        "n_complete": int(complete.sum()),
        "n_samples": n_samples,
        "seed": seed,
        "accept_frac": {"median": float(np.median(post.accept_frac)), "min": float(post.accept_frac.min()),
                        "mean": float(post.accept_frac.mean())},
        "sampling_s": round(t_sample, 2),
        "ms_per_galaxy": round(1000 * t_sample / n, 2),
        "calibration": calib.to_dict(),
        "regime_coverage_tolerance": tolerance,
        "passes_regime_targets": None if tolerance is None else calib.passes(coverage_tolerance=tolerance),
        "derived_calibration": d_calib.to_dict(),
        "recovery": recovery,
        "figures": figures,
    }
    if ref is None and n_mcmc > 0:
        ref = mcmc_reference(x[:n_mcmc], seed=seed, max_seconds=mcmc_seconds, workers=threads, stream=stream)
        save_mcmc_reference(out / "mcmc_reference.npz", ref, x[:n_mcmc], seed)
    if ref is not None:
        summary["mcmc_reference"] = compare_with_mcmc(post.samples[: len(ref.samples)], ref, BOX_NAMES)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    np.savez_compressed(out / "curves.npz", pp_levels=calib.pp_levels, pp_coverage=calib.pp_coverage,
                        tarp_coverage=calib.tarp_coverage, ks_p=calib.ks_pvalues)
    if stream is not None:
        c = summary["calibration"]
        print(f"validate: min SBC KS p {c['min_sbc_ks_p']:.3g}, max |coverage-68%| {c['max_coverage_68_error']:.3f}, "
              f"max |coverage-95%| {c['max_coverage_95_error']:.3f}, TARP max dev {c['tarp_max_deviation']:.3f}; "
              f"median |d log M*| {recovery['log_mstar']['median_abs_error']:.3f}, median sigma(log M*) "
              f"{recovery['log_mstar']['median_posterior_std']:.3f}; {summary['ms_per_galaxy']} ms/galaxy; "
              f"written to {out}", file=stream)
        if "mcmc_reference" in summary:
            r = summary["mcmc_reference"]
            ratios = ", ".join(f"{k} {v['median_std_ratio']:.2f}" if v['median_std_ratio'] is not None else f"{k} -"
                               for k, v in r["parameters"].items())
            print(f"validate: sigma_flow / sigma_MCMC (median over {r['n_galaxies']} galaxies, "
                  f"{r['n_converged']} converged): {ratios}", file=stream)
    return summary


__all__ = ["DERIVED", "X_NAMES", "held_out_simulations", "validate_model"]
