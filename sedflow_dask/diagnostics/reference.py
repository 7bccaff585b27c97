"""MCMC reference posteriors: the flow's widths against real MCMC on the same held-out galaxies.

Calibration alone cannot tell a good estimator from the prior (the prior is calibrated too), and
a narrower estimator is only better if it is not over-confident. The reference is the fallback's
MCMC (:mod:`sedflow_dask.fallback`) on the same forward model, run on the first held-out galaxies
with the same fluxes, errors and redshifts the flow saw; its posterior widths are the target an
amortized estimator should match — neither broader nor narrower. Both target the same posterior:
prior × the Gaussian flux likelihood of the present bands (``sedflow_dask.likelihood``). Only
converged chains enter the comparison.

The MCMC is per galaxy and independent of the batch it shares (float64 model), so the galaxies
are split over ``workers`` processes with identical results.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..console import STDERR, MessageStream, resolve_stream


@dataclass
class MCMCReference:
    """MCMC posteriors of G held-out galaxies (box space).

    Attributes:
        samples: (G, K, 11) float64 draws after burn-in (NaN rows where a chain kept fewer).
        status: (G,) "mcmc" (converged) or "unconverged" (time or step bound hit; draws are still usable).
        ess: (G,) effective sample sizes.
        max_seconds: the per-galaxy wall-clock bound [s] the chains ran under.
    """

    samples: np.ndarray
    status: np.ndarray
    ess: np.ndarray
    max_seconds: float


def _run_chunk(x: np.ndarray, ids: np.ndarray, seed: int, max_seconds: float) -> tuple[np.ndarray, ...]:
    from ..fallback import fallback_model, run_fallback
    from ..posterior.sampling import galaxy_seeds

    res = run_fallback(fallback_model(), x[:, :5], x[:, 5:10], x[:, 10], seeds=galaxy_seeds(seed, ids),
                       max_seconds=max_seconds)
    return res.samples, res.status, res.ess


def mcmc_reference(x: np.ndarray, *, seed: int, max_seconds: float = 10.0, workers: int = 1,
                   stream: MessageStream = STDERR) -> MCMCReference:
    """Run the fallback MCMC on each row of ``x`` = (flux_ugriz, σ_ugriz [nmgy], NaN: absent band; z).

    Galaxy i's chain is seeded from (``seed``, i), as the flow's draws in ``sedflow validate``.
    Takes about ``max_seconds`` × G / ``workers`` seconds.
    """
    stream = resolve_stream(stream)
    x = np.asarray(x, dtype=np.float64)
    g = len(x)
    ids = np.arange(g)
    workers = max(1, min(workers, g))
    if stream is not None:
        print(f"validate: MCMC reference on {g} galaxies ({max_seconds:g} s each at most, {workers} processes)",
              file=stream, flush=True)
    parts = np.array_split(ids, workers)
    if workers == 1:
        results = [_run_chunk(x, ids, seed, max_seconds)]
    else:
        # spawn: the parent holds torch's thread pools, which a forked child can deadlock on
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_run_chunk, [x[p] for p in parts], parts, [seed] * workers,
                                    [max_seconds] * workers))
    samples, status, ess = (np.concatenate([r[k] for r in results]) for k in range(3))
    return MCMCReference(samples=samples, status=status, ess=ess, max_seconds=max_seconds)


def save_mcmc_reference(path: str | Path, reference: MCMCReference, x: np.ndarray, seed: int) -> Path:
    """Write ``reference`` and the inputs it was run on (``x``, ``seed``) to an ``.npz`` file."""
    path = Path(path)
    np.savez_compressed(path, samples=reference.samples.astype(np.float32), status=reference.status,
                        ess=reference.ess, max_seconds=reference.max_seconds, x=x, seed=seed)
    return path


def load_mcmc_reference(path: str | Path, x: np.ndarray, seed: int) -> MCMCReference:
    """Read a :func:`save_mcmc_reference` file, checking it was run on these inputs.

    Raises ValueError naming the file when its galaxies (``x``, float32-exact) or seed differ:
    another held-out set (other ``--n`` or ``--seed``) would compare unrelated posteriors.
    """
    with np.load(path) as f:
        saved_x, saved_seed = f["x"], int(f["seed"])
        ref = MCMCReference(samples=f["samples"].astype(np.float64), status=f["status"], ess=f["ess"],
                            max_seconds=float(f["max_seconds"]))
    x = np.asarray(x, dtype=np.float64)[: len(saved_x)]
    if saved_seed != seed or x.shape != saved_x.shape or not np.array_equal(x, saved_x, equal_nan=True):
        raise ValueError(f"{path}: MCMC reference was run on other galaxies (seed {saved_seed}, {len(saved_x)} rows) "
                         f"than this held-out set (seed {seed}); validate with the same --n and --seed")
    return ref


def compare_with_mcmc(flow_samples: np.ndarray, reference: MCMCReference, names: tuple[str, ...]) -> dict[str, Any]:
    """Posterior widths and centres of the flow against the MCMC, per parameter.

    Args:
        flow_samples: (G, N, 11) the flow's draws for the reference's G galaxies (box space).
        reference: :func:`mcmc_reference` of the same galaxies.
        names: the 11 parameter names.

    Returns:
        A JSON-ready dict: per parameter the median over the galaxies whose chain converged of
        σ_flow / σ_MCMC and of |median_flow − median_MCMC| / σ_MCMC, and the median σ of each;
        counts of galaxies.
    """
    flow = np.asarray(flow_samples, dtype=np.float64)
    if flow.shape[0] != reference.samples.shape[0]:
        raise ValueError(f"{flow.shape[0]} flow posteriors for {reference.samples.shape[0]} MCMC references")
    converged = np.asarray(reference.status) == "mcmc"
    flow, mcmc = flow[converged], reference.samples[converged]
    per: dict[str, dict[str, float | None]]
    if not converged.any():  # nothing to compare with: say so rather than average an empty set
        per = {name: {k: None for k in ("median_std_flow", "median_std_mcmc", "median_std_ratio",
                                         "median_shift_over_std")} for name in names}
    else:
        s_flow, s_mcmc = np.nanstd(flow, axis=1), np.nanstd(mcmc, axis=1)
        shift = np.abs(np.nanmedian(flow, axis=1) - np.nanmedian(mcmc, axis=1)) / s_mcmc
        per = {name: {"median_std_flow": float(np.median(s_flow[:, j])),
                      "median_std_mcmc": float(np.median(s_mcmc[:, j])),
                      "median_std_ratio": float(np.median(s_flow[:, j] / s_mcmc[:, j])),
                      "median_shift_over_std": float(np.median(shift[:, j]))}
               for j, name in enumerate(names)}
    return {"n_galaxies": int(len(reference.samples)), "n_converged": int(converged.sum()),
            "median_ess": float(np.median(reference.ess)), "max_seconds_per_galaxy": reference.max_seconds,
            "parameters": per}


__all__ = ["MCMCReference", "compare_with_mcmc", "load_mcmc_reference", "mcmc_reference", "save_mcmc_reference"]
