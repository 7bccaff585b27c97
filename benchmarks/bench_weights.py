"""Importance weights of the flow's draws on simulated galaxies in support, on ONE core.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_weights.py [--galaxies 500] [--samples 1000] [--regime real] [--proposal FILE]
                                       [--model DIR] [--seed 0] [--real]

Galaxies are the held-out simulations of ``sedflow validate`` (``diagnostics.validate.
held_out_simulations``): drawn from the prior and observed, as fluxes and flux errors [nmgy] with
Gaussian flux noise, in one of the observation regimes of ``sedflow_dask.noise.regimes``
(``--regime``, default ``real``: SDSS errors at the galaxy's brightness) through the noise
proposal the posterior model was trained with (``--proposal``; its hash must be the one
``model.json`` records), so ``real`` and ``proposal`` are in the flow's support by construction.
Each gets ``--samples`` flow draws, their importance weights against ``sedflow_dask.likelihood``
(``sedflow_dask.infer.partition.weighed_flow_batch``, as ``sedflow infer`` runs it) and their PSIS
resampling.

* ``efficiency``, ``khat``: percentiles of n_eff / S and of the Pareto k̂ over galaxies, of the
  flow's own draws. Goal: median efficiency >= 0.3.
* ``routed_frac_at``: the fraction of galaxies a ``min_efficiency`` threshold would send on (with
  k̂ > 0.7) by the flow's own weights, for several thresholds; ``flow_routed_frac`` the same at
  the configured thresholds; ``mixture_frac``: galaxies the flow's weights rejected and the
  defensive mixture's accepted (``sedflow_dask.posterior.mixture``); ``status_frac``: the
  fractions of each final status ("routed": to the MCMC fallback). Goal: >= 98 % "ok" or
  "reweighted".
* ``flow_shift_by_efficiency``: per efficiency bin, the median over galaxies of the largest
  |weighted − unweighted mean| / σ over the 11 parameters, and of the largest |log| ratio of
  the weighted to the unweighted width: how far the flow's own posterior is from the target,
  the measurement behind ``ok_efficiency``.
* ``coverage``: pooled over the 11 box parameters, the fraction of truths inside the central
  68 % and 95 % intervals of the flow's own draws, of the resampled draws (the mixture's for the
  galaxies it serves), and of the draws the catalog keeps. Reweighting must not break calibration.
* ``--real``: instead of simulations, the first ``--galaxies`` usable galaxies of the 10,000 real
  SDSS galaxies shipped in the kcorrect wheel (``sedflow_dask.datasets``), read as ``sedflow
  infer`` reads a catalog: fluxes and inverse variances (``likelihood.observations_from_catalog``),
  usable with at least ``MIN_BANDS`` measured bands and 0 < z <= 0.2 (no flag cuts); no truths,
  so no coverage.
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
from sedflow_dask.diagnostics.validate import held_out_simulations  # noqa: E402
from sedflow_dask.fallback import FallbackReason, fallback_reasons  # noqa: E402
from sedflow_dask.infer.core import flow_status  # noqa: E402
from sedflow_dask.infer.partition import MIN_BANDS, weighed_flow_batch  # noqa: E402
from sedflow_dask.noise.regimes import REGIMES  # noqa: E402
from sedflow_dask.photometry import N_BANDS, band_present  # noqa: E402
from sedflow_dask.posterior import galaxy_seeds, load_posterior_model  # noqa: E402
from sedflow_dask.sps import PROVABGSModel  # noqa: E402

EFFICIENCY_BINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
PERCENTILES = (1, 2, 10, 25, 50, 75, 90)


def log(msg: str) -> None:
    print(f"[bench_weights] {msg}", file=sys.stderr, flush=True)


def simulated_galaxies(posterior, sps, n: int, seed: int, regime: str = "real", proposal: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(flux (n, 5), σ (n, 5) [nmgy], NaN in absent bands; z (n,); box truths (n, 11)) of
    held-out prior draws observed in ``regime`` through the model's noise proposal."""
    theta, z, obs = held_out_simulations(posterior, n, seed, forward=sps, proposal_path=proposal, regime=regime)
    return obs[:, :N_BANDS], obs[:, N_BANDS:2 * N_BANDS], z, theta


def real_galaxies(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flux (n, 5), σ (n, 5) [nmgy], NaN in unmeasured bands; z (n,)) of the first ``n`` usable
    galaxies of the kcorrect SDSS catalogue."""
    from sedflow_dask.datasets import read_kcorrect_sdss
    from sedflow_dask.likelihood import observations_from_catalog
    from sedflow_dask.photometry import BANDS

    frame, _ = read_kcorrect_sdss()
    flux, sigma = observations_from_catalog(frame[[f"flux_{b}" for b in BANDS]].to_numpy(np.float64),
                                            frame[[f"ivar_{b}" for b in BANDS]].to_numpy(np.float64))
    z = frame["z"].to_numpy(np.float64)
    usable = np.flatnonzero((band_present(flux, sigma).sum(axis=1) >= MIN_BANDS) & (z > 0) & (z <= 0.2))[:n]
    return flux[usable], sigma[usable], z[usable]


def coverage(draws: np.ndarray, truth: np.ndarray, level: float) -> float:
    """Pooled fraction of truths (G, 11) inside the central ``level`` intervals of draws (G, S, 11)."""
    lo, hi = np.nanpercentile(draws, [50 * (1 - level), 50 * (1 + level)], axis=1)
    return float(np.mean((truth >= lo) & (truth <= hi)))


def run(galaxies: int = 500, samples: int = 1000, regime: str = "real", model_dir: str | None = None,
        seed: int = 0, batch: int = 32, sgemm_size: int = 1024, real: bool = False,
        proposal: str | None = None) -> dict:
    posterior = load_posterior_model(model_dir)
    sps = PROVABGSModel()
    cfg = FallbackConfig()
    truth: np.ndarray | None = None
    if real:
        flux, sigma, z = real_galaxies(galaxies)
    else:
        flux, sigma, z, truth = simulated_galaxies(posterior, sps, galaxies, seed, regime, proposal)
    n = len(z)
    seeds = galaxy_seeds(seed, np.arange(n))
    with torch_threads(1):
        gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
        weighed_flow_batch(posterior, sps, flux[:2], sigma[:2], z[:2], seeds[:2], 50, 10, batch, cfg)  # warm-up
        log(f"{n} {'real SDSS galaxies' if real else f'held-out galaxies observed in regime {regime!r}'}, "
            f"{samples} draws each, one thread")
        parts, t0 = [], time.perf_counter()
        for s in range(0, n, batch):
            rows = slice(s, s + batch)
            parts.append(weighed_flow_batch(posterior, sps, flux[rows], sigma[rows], z[rows], seeds[rows], samples, 10,
                                            batch, cfg))
        wall = time.perf_counter() - t0
    # the flow's own weights (before the mixture), and the ones each galaxy ends with
    eff = np.concatenate([p.flow_weights.efficiency for p in parts])
    khat = np.concatenate([p.flow_weights.khat for p in parts])
    final_eff = np.concatenate([p.weights.efficiency for p in parts])
    final_khat = np.concatenate([p.weights.khat for p in parts])
    flow = np.concatenate([p.flow_samples for p in parts]).astype(np.float64)
    resampled = np.concatenate([p.take(p.samples, p.resampled) for p in parts]).astype(np.float64)
    kept = np.concatenate([p.take(p.samples, p.kept) for p in parts]).astype(np.float64)
    weights = np.exp(np.concatenate([p.flow_weights.smoothed for p in parts]))

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
    mixture = np.concatenate([p.mixture for p in parts])
    flow_routed = fallback_reasons(eff, khat, cfg) != 0
    reasons = fallback_reasons(final_eff, final_khat, cfg)
    status = flow_status(reasons == 0, final_eff, cfg.ok_efficiency)
    status[mixture & (reasons == 0)] = "reweighted"
    status[reasons != 0] = "routed"
    names, counts = np.unique(status.astype(str), return_counts=True)
    return {
        "galaxies": n,
        "samples_per_galaxy": samples,
        "data": "kcorrect_sdss" if real else f"held-out simulations, regime {regime}",
        "bands_present_frac": round(float(band_present(flux, sigma).mean()), 4),
        "model_sha256": posterior.sha256,
        "efficiency": {f"p{q}": round(float(np.percentile(eff, q)), 4) for q in PERCENTILES},
        "is_median_efficiency": round(float(np.median(eff)), 4),
        "khat": {f"p{q}": round(float(np.percentile(khat, q)), 3) for q in PERCENTILES},
        "khat_above_limit_frac": round(float(np.mean(khat > cfg.max_khat)), 4),
        "routed_frac_at": {f"{t:g}": round(float(np.mean((eff < t) | (khat > cfg.max_khat))), 4) for t in THRESHOLDS},
        "thresholds": {"min_efficiency": cfg.min_efficiency, "max_khat": cfg.max_khat,
                       "ok_efficiency": cfg.ok_efficiency},
        "status_frac": {str(k): round(float(v / n), 4) for k, v in zip(names, counts)},
        "flow_routed_frac": round(float(flow_routed.mean()), 4),
        "mixture_frac": round(float(mixture.mean()), 4),
        "routed_by_reason": {r.name: int(((reasons & int(r)) != 0).sum()) for r in
                             (FallbackReason.LOW_EFFICIENCY, FallbackReason.HIGH_KHAT)},
        "flow_shift_by_efficiency": by_bin,
        "coverage": None if truth is None else {
            name: {"68": round(coverage(d, truth, 0.68), 4), "95": round(coverage(d, truth, 0.95), 4)}
            for name, d in (("flow", flow), ("resampled", resampled), ("kept", kept))},
        "ms_per_galaxy": round(1000 * wall / n, 2),
        "threads": 1,
        "sgemm_gflops": round(gflops, 1),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--regime", default="real", choices=REGIMES,
                    help="how the simulated galaxies are observed (sedflow_dask.noise.regimes; default real)")
    ap.add_argument("--proposal", default=None, metavar="FILE",
                    help="the noise proposal the model was trained with (default: the shipped one)")
    ap.add_argument("--model", default=None, help="posterior model directory (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sgemm-size", type=int, default=1024)
    ap.add_argument("--real", action="store_true", help="real SDSS galaxies (kcorrect's) instead of simulations")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.galaxies, args.samples, args.regime, args.model, args.seed,
                         sgemm_size=args.sgemm_size, real=args.real, proposal=args.proposal), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
