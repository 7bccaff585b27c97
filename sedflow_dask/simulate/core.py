"""Simulating SEDflow training data, one chunk at a time (pure numpy/torch, no I/O).

A chunk is ``n`` draws from the prior with its own random stream, keyed on (run seed, chunk
index), so the same seed gives the same rows however the chunks are spread over workers. Each
draw runs through the forward model and the noise model; rows the paper's rules reject are
counted per rule (``NoiseModel.add_noise``) and not returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..noise.model import NoiseModel, count_drops
from ..photometry import colours
from ..prior import SEDPrior
from ..sps.model import PROVABGSModel


def chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    """The random stream of one chunk: independent of every other (seed, chunk) pair."""
    if seed < 0 or chunk < 0:
        raise ValueError(f"seed and chunk must be >= 0; got {seed}, {chunk}")
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(chunk,)))


@dataclass(frozen=True)
class SimulatedChunk:
    """The kept rows of one chunk and what happened to every draw.

    Attributes:
        chunk: chunk index.
        theta_box: (n_kept, 11) box coordinates.
        theta: (n_kept, 12) physical parameters.
        z: (n_kept,) redshift.
        mag, sigma: (n_kept, 5) noisy AB magnitudes and assigned σ_m [mag].
        flux_true: (n_kept, 5) noiseless fluxes [nmgy].
        row: (n_kept,) global draw index (chunk · chunk_rows + draw), unique in a training set.
        draw_outcome: (n_drawn,) int8 per draw: 0 kept, k > 0 dropped by ``DROP_RULES[k - 1]``.
    """

    chunk: int
    theta_box: np.ndarray
    theta: np.ndarray
    z: np.ndarray
    mag: np.ndarray
    sigma: np.ndarray
    flux_true: np.ndarray
    row: np.ndarray
    draw_outcome: np.ndarray

    @property
    def n_drawn(self) -> int:
        return int(self.draw_outcome.size)

    @property
    def n_kept(self) -> int:
        return int(self.z.size)

    @property
    def drop_counts(self) -> dict[str, int]:
        return count_drops(self.draw_outcome)


def draws_for_kept(draw_outcome: np.ndarray, n_kept: int) -> int:
    """How many draws of a chunk produce its first ``n_kept`` kept rows."""
    kept_at = np.flatnonzero(np.asarray(draw_outcome) == 0)
    if n_kept > kept_at.size:
        raise ValueError(f"chunk kept only {kept_at.size} rows, {n_kept} requested")
    return 0 if n_kept == 0 else int(kept_at[n_kept - 1]) + 1


def simulate_photometry(model: PROVABGSModel, noise: NoiseModel, prior: SEDPrior, n: int,
                        rng: np.random.Generator, *, chunk: int = 0, row_offset: int = 0) -> SimulatedChunk:
    """Draw ``n`` galaxies from the prior and observe them through the noise model."""
    theta_box, z = prior.sample(n, rng)
    theta = prior.to_physical(theta_box)
    flux_true = model.photometry(theta, z, space="physical", unit="nanomaggies")
    obs = noise.add_noise(flux_true, rng)
    keep = obs.keep
    return SimulatedChunk(
        chunk=chunk,
        theta_box=theta_box[keep],
        theta=theta[keep],
        z=z[keep],
        mag=obs.mag[keep],
        sigma=obs.sigma[keep],
        flux_true=flux_true[keep],
        row=row_offset + np.flatnonzero(keep).astype(np.int64),
        draw_outcome=obs.outcome,
    )


def lowest_colours(mags: np.ndarray, k: int) -> np.ndarray:
    """(min(k, N), 10) the ``k`` smallest values of each ugriz colour, sorted ascending.

    The exact low quantiles of a colour over many chunks need only each chunk's k smallest
    values, so chunks report these instead of their colours.
    """
    c = colours(mags)
    k = min(k, c.shape[0])
    if k == 0:
        return np.empty((0, c.shape[1]))
    return np.sort(np.partition(c, k - 1, axis=0)[:k], axis=0)


def quantile_rank_count(n_total: int, q: float) -> int:
    """How many smallest values :func:`colour_quantiles` needs for quantile ``q`` of ``n_total``."""
    return int(np.floor(q * (n_total - 1))) + 2


def colour_quantiles(lowest: list[np.ndarray], n_total: int, q: float) -> np.ndarray:
    """(10,) the q-quantile of each colour over ``n_total`` rows, from chunks' lowest values.

    Equals ``np.quantile(all_colours, q, axis=0)`` (linear interpolation) exactly when every
    chunk passed its :func:`quantile_rank_count` smallest values.
    """
    pooled = np.sort(np.concatenate(lowest, axis=0), axis=0)
    h = q * (n_total - 1)
    lo = int(np.floor(h))
    if pooled.shape[0] < lo + 2 and pooled.shape[0] < n_total:
        raise ValueError(f"need the {lo + 2} smallest values of each colour, got {pooled.shape[0]}")
    upper = pooled[min(lo + 1, pooled.shape[0] - 1)]
    return pooled[lo] + (h - lo) * (upper - pooled[lo])
