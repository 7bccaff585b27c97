"""Batched posterior sampling with per-galaxy random streams and bounded rejection.

Each galaxy has its own counter-based stream (Philox keyed on a 64-bit galaxy seed derived from
the run seed and the galaxy's id, ``docs/data-contracts.md`` §7), which supplies the flow's
base-space draws round after round. Galaxies are pushed through the flow together, but what a
galaxy gets depends only on its stream and its own acceptances, never on the batch it sits in.
Draws outside the prior box are rejected; after ``max_rounds`` rounds of ``n_samples``
proposals a galaxy's missing draws stay NaN, and its accepted fraction tells why. Nothing loops
without bound.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime import single_threaded_torch
from .artifact import PosteriorModel
from .flows import base_to_theta
from .inputs import check_inputs


def galaxy_seeds(seed: int, ids) -> np.ndarray:
    """(N,) uint64 per-galaxy seeds derived from the run ``seed`` and galaxy ``ids`` (e.g. NSAID)."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    if seed < 0 or np.any(ids < 0):
        raise ValueError("seed and galaxy ids must be >= 0")
    return np.array([np.random.SeedSequence([seed, int(i)]).generate_state(1, np.uint64)[0] for i in ids],
                    dtype=np.uint64)


def galaxy_stream(galaxy_seed: int, substream: int = 0) -> np.random.Generator:
    """The counter-based random stream of one galaxy.

    ``substream`` k > 0 starts the same key's counter at k · 2¹⁹², a stream disjoint from the
    flow's draws (0) for any practical length: the importance resampling uses 1.
    """
    return np.random.Generator(np.random.Philox(key=int(galaxy_seed), counter=int(substream) << 192))


@dataclass(frozen=True)
class PosteriorSamples:
    """Posterior draws of G galaxies in the 11-dim box space.

    Attributes:
        samples: (G, S, 11) float32; rows a galaxy could not fill are NaN.
        n_accepted: (G,) in-box draws among all proposals (may exceed S).
        n_proposed: (G,) proposals made.
        seeds: (G,) uint64 galaxy seeds used.
        log_q: (G, S) float64 log q(θ_box | x) of each draw [natural log of a density in box
            coordinates], from the pass that drew it (NaN where no draw); None unless requested.
    """

    samples: np.ndarray
    n_accepted: np.ndarray
    n_proposed: np.ndarray
    seeds: np.ndarray
    log_q: np.ndarray | None = None

    @property
    def accept_frac(self) -> np.ndarray:
        """(G,) fraction of proposals inside the prior box."""
        return self.n_accepted / np.maximum(self.n_proposed, 1)

    @property
    def n_filled(self) -> np.ndarray:
        """(G,) draws returned (S unless the cap was hit)."""
        return np.sum(~np.isnan(self.samples[:, :, 0]), axis=1)


def sample_posteriors(model: PosteriorModel, x, n_samples: int, *, seed: int | None = None,
                      ids=None, seeds=None, max_rounds: int = 10, batch_galaxies: int = 64,
                      threads: int | None = None, log_density: bool = False) -> PosteriorSamples:
    """Draw ``n_samples`` posterior samples for each row of ``x`` (G, 16) (:func:`.inputs.flow_inputs`).

    Give per-galaxy ``seeds`` (uint64), or a run ``seed`` and galaxy ``ids`` (default 0..G-1).
    Returns (G, n_samples, 11) box-space draws (NaN where ``max_rounds`` × n_samples proposals
    did not yield enough in-box draws) with accepted counts and fractions. ``threads``: None
    leaves torch's thread setting as the process has it (a Dask worker's, see ``cluster.py``);
    1 runs on one core; > 1 runs groups of galaxies in parallel Python threads, each with
    single-threaded torch. ``log_density``: also return each draw's log q(θ_box | x), computed in
    the same pass through the flow (the importance weights' proposal density).
    """
    x = check_inputs(x)
    if n_samples < 1 or max_rounds < 1 or batch_galaxies < 1:
        raise ValueError("n_samples, max_rounds and batch_galaxies must be >= 1")
    g_total = x.shape[0]
    if seeds is None:
        if seed is None:
            raise ValueError("give seeds, or a run seed (and optionally ids)")
        seeds = galaxy_seeds(seed, np.arange(g_total) if ids is None else ids)
    seeds = np.asarray(seeds, dtype=np.uint64).ravel()
    if seeds.shape[0] != g_total:
        raise ValueError(f"{seeds.shape[0]} seeds for {g_total} galaxies")
    samples = np.full((g_total, n_samples, 11), np.nan, dtype=np.float32)
    n_acc = np.zeros(g_total, dtype=np.int64)
    n_prop = np.zeros(g_total, dtype=np.int64)
    log_q = np.full((g_total, n_samples), np.nan) if log_density else None
    lo_t = torch.tensor(model.prior.lower, dtype=torch.float32)
    hi_t = torch.tensor(model.prior.upper, dtype=torch.float32)
    ctx_all = model.standardize_x(x)
    size = max(1, min(batch_galaxies, -(-g_total // max(1, threads or 1))))
    batches = [np.arange(s, min(s + size, g_total)) for s in range(0, g_total, size)]

    def run(idx: np.ndarray) -> None:
        _sample_batch(model, ctx_all[idx], idx, seeds, n_samples, max_rounds, samples, n_acc, n_prop, lo_t, hi_t,
                      log_q)

    if threads is None or threads <= 1 or len(batches) == 1:
        # threads=1 means one core: torch's default pool spins on all of them, and two such
        # processes side by side ran 6x slower (validate --threads 1, measured)
        with single_threaded_torch() if threads == 1 else contextlib.nullcontext():
            for idx in batches:
                run(idx)
    else:
        with single_threaded_torch(), ThreadPoolExecutor(threads) as pool:
            for fut in [pool.submit(run, idx) for idx in batches]:
                fut.result()
    return PosteriorSamples(samples=samples, n_accepted=n_acc, n_proposed=n_prop, seeds=seeds, log_q=log_q)


def _sample_batch(model, ctx, idx, seeds, n_samples, max_rounds, samples, n_acc, n_prop, lo_t, hi_t,
                  log_q: np.ndarray | None) -> None:
    streams = [galaxy_stream(seeds[g]) for g in idx]
    filled = np.zeros(len(idx), dtype=np.int64)
    active = np.arange(len(idx))
    for _ in range(max_rounds):
        if active.size == 0:
            break
        eps = np.stack([streams[j].standard_normal((n_samples, 11), dtype=np.float32) for j in active], axis=1)
        with torch.no_grad():
            if log_q is None:
                t = base_to_theta(model.estimator, torch.from_numpy(eps), ctx[active])  # (S, A, 11)
            else:
                t, log_q_t = base_to_theta(model.estimator, torch.from_numpy(eps), ctx[active],
                                           with_log_density=True)
                log_q_box = model.log_density_to_box(t, log_q_t)  # (S, A)
            box = model.box_from_standardized(t)
            inside = ((box >= lo_t) & (box <= hi_t)).all(dim=-1) & torch.isfinite(box).all(dim=-1)  # (S, A)
            theta = box.numpy()
        inside = inside.numpy()
        for k, j in enumerate(active):
            g = idx[j]
            ok = np.flatnonzero(inside[:, k])
            n_acc[g] += ok.size
            n_prop[g] += n_samples
            take = ok[: n_samples - filled[j]]
            samples[g, filled[j]: filled[j] + take.size] = theta[take, k]
            if log_q is not None:
                log_q[g, filled[j]: filled[j] + take.size] = log_q_box[take, k]
            filled[j] += take.size
        active = active[filled[active] < n_samples]
