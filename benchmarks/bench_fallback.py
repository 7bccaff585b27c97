"""MCMC fallback speed on out-of-support galaxies, on ONE core.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_fallback.py [--galaxies 16] [--dtype float64] [--max-seconds 10] [--seed 0]

Galaxies are drawn from the prior, observed through the default noise model and pushed out of
the flow's support: even rows get one band's σ inflated ×10 (a noise outlier), odd rows u and
g fluxes ×2 (bluer than the training colours). ``run_fallback`` then runs them all in one
batched call (walkers of up to 16 galaxies per model call) with torch on one thread.

* ``fallback_s_per_galaxy``: wall seconds of the call / galaxies. Goal: <= 10 with
  ``fallback_ess`` >= 1,000 (the effective sample size L·W/τ of each galaxy's kept chain).
* ``status``: counts of "mcmc" (converged: ESS >= target and >= 50 τ) and "timeout".
* ``evals_per_s``: forward-model evaluations per second across the run.
* ``sgemm_gflops``: one-thread float32 matmul speed in the same run, to compare machines.
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
import torch  # noqa: E402

from _common import machine_info, matmul_gflops  # noqa: E402
from sedflow_dask.config import FallbackConfig, SPSConfig  # noqa: E402
from sedflow_dask.fallback import fallback_model, fluxes_from_mags, run_fallback  # noqa: E402
from sedflow_dask.noise import load_noise_model  # noqa: E402
from sedflow_dask.photometry import sigma_mag_from_flux  # noqa: E402
from sedflow_dask.posterior import galaxy_seeds  # noqa: E402
from sedflow_dask.prior import SEDPrior  # noqa: E402
from sedflow_dask.sps import PROVABGSModel  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench_fallback] {msg}", file=sys.stderr, flush=True)


def out_of_support_galaxies(model, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` simulated galaxies made out of support: σ ×10 in one band (even rows), u, g ×2 (odd rows)."""
    rng = np.random.default_rng(seed)
    theta, z = SEDPrior().sample(8 * n, rng)
    obs = load_noise_model().add_noise(model.photometry(theta, z, space="box", unit="nanomaggies"), rng)
    keep = np.flatnonzero(obs.keep)[:n]
    flux, sigma = fluxes_from_mags(obs.mag[keep], obs.sigma[keep])
    even = np.arange(n) % 2 == 0
    sigma[even, rng.integers(0, 5, n)[even]] *= 10.0
    flux[~even, :2] *= 2.0
    sigma[~even, :2] *= 2.0  # same σ_m: the catalog's errors scale with its fluxes
    return {"flux": flux, "sigma": sigma, "z": z[keep], "theta": theta[keep], "ids": keep,
            "sigma_mag": sigma_mag_from_flux(flux, sigma)}


def run(galaxies: int = 16, dtype: str = "float64", max_seconds: float = 10.0, seed: int = 0,
        sgemm_size: int = 1024) -> dict:
    torch.set_num_threads(1)
    gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    model = fallback_model() if dtype == "float64" else PROVABGSModel(config=SPSConfig(dtype="float32"))
    data = out_of_support_galaxies(model, galaxies, seed)
    cfg = FallbackConfig(max_seconds_per_galaxy=max_seconds)
    run_fallback(model, data["flux"][:1], data["sigma"][:1], data["z"][:1], seeds=np.array([1], np.uint64),
                 max_steps=20)  # warm-up
    log(f"{galaxies} out-of-support galaxies, {cfg.n_walkers} walkers, {dtype} model, one thread, "
        f"bound {max_seconds:g} s per galaxy")
    t0 = time.perf_counter()
    res = run_fallback(model, data["flux"], data["sigma"], data["z"], seeds=galaxy_seeds(seed, data["ids"]),
                       config=cfg)
    wall = time.perf_counter() - t0
    statuses, counts = np.unique(res.status, return_counts=True)
    med = np.median(res.samples[:, :, 0], axis=1)
    return {
        "fallback_galaxies": galaxies,
        "fallback_s_per_galaxy": round(wall / galaxies, 3),
        "fallback_wall_s": round(wall, 2),
        "fallback_ess": {"median": round(float(np.median(res.ess)), 1), "min": round(float(res.ess.min()), 1)},
        "accept_frac": {"median": round(float(np.median(res.accept_frac)), 4),
                        "min": round(float(res.accept_frac.min()), 4)},
        "status": {str(k): int(v) for k, v in zip(statuses, counts)},
        "tau_max": {"median": round(float(np.median(res.tau.max(axis=1))), 1),
                    "max": round(float(res.tau.max()), 1)},
        "steps": {"median": int(np.median(res.n_steps)), "max": int(res.n_steps.max())},
        "evals_per_s": round(float(res.n_evals.sum() / wall)),
        "log_mstar_abs_err": {"median": round(float(np.median(np.abs(med - data["theta"][:, 0]))), 3)},
        "chi2_min": {"median": round(float(np.median(res.chi2_min)), 2)},
        "n_walkers": res.n_walkers,
        "max_seconds_per_galaxy": max_seconds,
        "dtype": dtype,
        "threads": 1,
        "sgemm_gflops": round(gflops, 1),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=16)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.galaxies, args.dtype, args.max_seconds, args.seed), indent=1))


if __name__ == "__main__":
    main()
