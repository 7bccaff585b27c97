"""Importance weights of the flow's draws on simulated galaxies in support, on ONE core.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_weights.py [--galaxies 500] [--samples 1000] [--noise NAME] [--model DIR] [--seed 0]
                                       [--real]

Galaxies are drawn from the prior and observed through the noise model the posterior model was
trained with (the shipped noise model whose hash ``model.json`` records; ``--noise`` overrides),
so they are in the flow's support by construction. Each gets ``--samples`` flow draws, their
importance weights against ``sedflow_dask.likelihood`` (``sedflow_dask.infer.partition.
weighed_flow_batch``, as ``sedflow infer`` runs it) and their PSIS resampling.

* ``efficiency``, ``khat``: percentiles of n_eff / S and of the Pareto k̂ over galaxies.
  Goal: median efficiency >= 0.3.
* ``routed_frac_at``: the fraction of galaxies a ``min_efficiency`` threshold would send to the
  fallback (with k̂ > 0.7), for several thresholds; ``status_frac``: the fractions of each
  status with the configured thresholds. Goal: >= 98 % "ok" or "reweighted".
* ``flow_shift_by_efficiency``: per efficiency bin, the median over galaxies of the largest
  |weighted − unweighted mean| / σ over the 11 parameters, and of the largest |log| ratio of
  the weighted to the unweighted width: how far the flow's own posterior is from the target,
  the measurement behind ``ok_efficiency``.
* ``coverage``: pooled over the 11 box parameters, the fraction of truths inside the central
  68 % and 95 % intervals of the flow's draws, of the resampled draws, and of the draws the
  catalog keeps. Reweighting must not break calibration.
* ``--real``: instead of simulations, the first ``--galaxies`` usable galaxies (positive fluxes
  and inverse variances, 0 < z <= 0.2) of the 10,000 real SDSS galaxies shipped in the kcorrect
  wheel (``sedflow_dask.datasets``), as ``sedflow ingest`` would convert them (no flag cuts); no
  truths, so no coverage.
* ``ms_per_galaxy``: wall time per galaxy of the weighed flow (draws with log q, forward model,
  PSIS, resampling) on one core, with ``sgemm_gflops`` of the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
from _common import machine_info, matmul_gflops, torch_threads  # noqa: E402

from sedflow_dask.config import FallbackConfig  # noqa: E402
from sedflow_dask.fallback import FallbackReason, fallback_reasons  # noqa: E402
from sedflow_dask.infer.core import flow_status  # noqa: E402
from sedflow_dask.infer.partition import weighed_flow_batch  # noqa: E402
from sedflow_dask.noise.model import NAMED_NOISE_MODELS, load_noise_model  # noqa: E402
from sedflow_dask.posterior import galaxy_seeds, load_posterior_model  # noqa: E402
from sedflow_dask.prior import SEDPrior  # noqa: E402
from sedflow_dask.sps import PROVABGSModel  # noqa: E402

EFFICIENCY_BINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
PERCENTILES = (1, 2, 10, 25, 50, 75, 90)


def log(msg: str) -> None:
    print(f"[bench_weights] {msg}", file=sys.stderr, flush=True)


def training_noise_name(posterior) -> str | None:
    """The shipped noise model the posterior model was trained with (by ``noise_sha256``), if any."""
    want = posterior.meta.get("noise_sha256")
    return next((name for name in NAMED_NOISE_MODELS if load_noise_model(name).sha256() == want), None)


def simulated_galaxies(sps, noise, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 11) = (mag, σ_m, z), box truths (n, 11)) of prior draws observed through ``noise``."""
    rng = np.random.default_rng(seed)
    theta, z = SEDPrior().sample(4 * n, rng)
    obs = noise.add_noise(sps.photometry(theta, z, space="box", unit="nanomaggies"), rng)
    keep = np.flatnonzero(obs.keep)[:n]
    return np.column_stack([obs.mag[keep], obs.sigma[keep], z[keep]]), theta[keep]


def real_galaxies(n: int) -> np.ndarray:
    """x (n, 11) = (mag, σ_m, z) of the first ``n`` usable galaxies of the kcorrect SDSS catalogue."""
    from sedflow_dask.datasets import read_kcorrect_sdss
    from sedflow_dask.photometry import BANDS, flux_to_mag, sigma_mag_from_ivar

    frame, _ = read_kcorrect_sdss()
    flux = frame[[f"flux_{b}" for b in BANDS]].to_numpy(np.float64)
    ivar = frame[[f"ivar_{b}" for b in BANDS]].to_numpy(np.float64)
    z = frame["z"].to_numpy(np.float64)
    usable = np.all((flux > 0) & (ivar > 0), axis=1) & (z > 0) & (z <= 0.2)
    x = np.column_stack([flux_to_mag(flux), sigma_mag_from_ivar(flux, ivar), z])[usable]
    return x[:n]


def coverage(draws: np.ndarray, truth: np.ndarray, level: float) -> float:
    """Pooled fraction of truths (G, 11) inside the central ``level`` intervals of draws (G, S, 11)."""
    lo, hi = np.nanpercentile(draws, [50 * (1 - level), 50 * (1 + level)], axis=1)
    return float(np.mean((truth >= lo) & (truth <= hi)))


def run(galaxies: int = 500, samples: int = 1000, noise: str | None = None, model_dir: str | None = None,
        seed: int = 0, batch: int = 32, sgemm_size: int = 1024, real: bool = False) -> dict:
    posterior = load_posterior_model(model_dir)
    noise = noise or training_noise_name(posterior) or "sdss_real"
    sps = PROVABGSModel()
    cfg = FallbackConfig()
    x, truth = (real_galaxies(galaxies), None) if real else simulated_galaxies(sps, load_noise_model(noise), galaxies,
                                                                                seed)
    seeds = galaxy_seeds(seed, np.arange(len(x)))
    with torch_threads(1):
        gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
        weighed_flow_batch(posterior, sps, x[:2], seeds[:2], 50, 10, batch, cfg)  # warm-up (imports)
        log(f"{len(x)} {'real SDSS galaxies' if real else f'galaxies through the noise model {noise!r}'}, "
            f"{samples} draws each, one thread")
        parts, t0 = [], time.perf_counter()
        for s in range(0, len(x), batch):
            parts.append(weighed_flow_batch(posterior, sps, x[s:s + batch], seeds[s:s + batch], samples, 10, batch,
                                            cfg))
        wall = time.perf_counter() - t0
    eff = np.concatenate([p.weights.efficiency for p in parts])
    khat = np.concatenate([p.weights.khat for p in parts])
    flow = np.concatenate([p.samples for p in parts]).astype(np.float64)
    resampled = np.concatenate([p.take(p.samples, p.resampled) for p in parts]).astype(np.float64)
    kept = np.concatenate([p.take(p.samples, p.kept) for p in parts]).astype(np.float64)
    weights = np.exp(np.concatenate([p.weights.smoothed for p in parts]))

    mean_q, sd_q = flow.mean(axis=1), flow.std(axis=1)
    mean_w = np.einsum("gs,gsd->gd", weights, flow)
    sd_w = np.sqrt(np.einsum("gs,gsd->gd", weights, (flow - mean_w[:, None]) ** 2))
    with np.errstate(divide="ignore", invalid="ignore"):  # a galaxy without draws has no widths
        shift = np.max(np.abs(mean_w - mean_q) / sd_q, axis=1)
        width = np.max(np.abs(np.log(sd_w / sd_q)), axis=1)
    by_bin = {}
    for a, b in zip(EFFICIENCY_BINS[:-1], EFFICIENCY_BINS[1:]):
        m = (eff >= a) & (eff < b)
        if m.any():
            by_bin[f"{a:g}-{b:g}"] = {"galaxies": int(m.sum()),
                                      "max_mean_shift_sigma": round(float(np.nanmedian(shift[m])), 3),
                                      "max_abs_log_width_ratio": round(float(np.nanmedian(width[m])), 3)}
    reasons = fallback_reasons(eff, khat, cfg)
    status = flow_status(reasons == 0, eff, cfg.ok_efficiency)
    status[reasons != 0] = "routed"
    names, counts = np.unique(status.astype(str), return_counts=True)
    return {
        "galaxies": int(len(x)),
        "samples_per_galaxy": samples,
        "data": "kcorrect_sdss" if real else f"simulated through {noise}",
        "model_sha256": posterior.sha256,
        "efficiency": {f"p{q}": round(float(np.percentile(eff, q)), 4) for q in PERCENTILES},
        "is_median_efficiency": round(float(np.median(eff)), 4),
        "khat": {f"p{q}": round(float(np.percentile(khat, q)), 3) for q in PERCENTILES},
        "khat_above_limit_frac": round(float(np.mean(khat > cfg.max_khat)), 4),
        "routed_frac_at": {f"{t:g}": round(float(np.mean((eff < t) | (khat > cfg.max_khat))), 4) for t in THRESHOLDS},
        "thresholds": {"min_efficiency": cfg.min_efficiency, "max_khat": cfg.max_khat,
                       "ok_efficiency": cfg.ok_efficiency},
        "status_frac": {str(k): round(float(v / len(x)), 4) for k, v in zip(names, counts)},
        "routed_by_reason": {r.name: int(((reasons & int(r)) != 0).sum()) for r in
                             (FallbackReason.LOW_EFFICIENCY, FallbackReason.HIGH_KHAT)},
        "flow_shift_by_efficiency": by_bin,
        "coverage": None if truth is None else {
            name: {"68": round(coverage(d, truth, 0.68), 4), "95": round(coverage(d, truth, 0.95), 4)}
            for name, d in (("flow", flow), ("resampled", resampled), ("kept", kept))},
        "ms_per_galaxy": round(1000 * wall / len(x), 2),
        "threads": 1,
        "sgemm_gflops": round(gflops, 1),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--noise", default=None, help="a shipped noise model's name (default: the model's own)")
    ap.add_argument("--model", default=None, help="posterior model directory (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sgemm-size", type=int, default=1024)
    ap.add_argument("--real", action="store_true", help="real SDSS galaxies (kcorrect's) instead of simulations")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.galaxies, args.samples, args.noise, args.model, args.seed,
                         sgemm_size=args.sgemm_size, real=args.real), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
