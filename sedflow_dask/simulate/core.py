"""Simulating SEDflow training data, one chunk at a time (pure numpy/torch, no I/O).

A chunk is ``n`` draws from the prior with its own random stream, keyed on (run seed, chunk
index), so the same seed gives the same rows however the chunks are spread over workers. Each
draw runs through the forward model and is observed through the noise proposal
(``NoiseProposal.observe``: flux errors independent of θ, Gaussian flux noise, band dropout);
draws outside the observable magnitude range are counted and not returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..noise.proposal import NoiseProposal, count_drops
from ..photometry import asinh_mag, colours
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
        flux_obs, flux_err: (n_kept, 5) observed fluxes (any sign) and their 1σ errors [nmgy];
            NaN in absent bands.
        bands_used: (n_kept,) uint8 bitmask of the present bands.
        flux_true: (n_kept, 5) noiseless fluxes [nmgy].
        row: (n_kept,) global draw index (chunk · chunk_rows + draw), unique in a training set.
        draw_outcome: (n_drawn,) int8 per draw: 0 kept, k > 0 dropped by ``DROP_RULES[k - 1]``.
    """

    chunk: int
    theta_box: np.ndarray
    theta: np.ndarray
    z: np.ndarray
    flux_obs: np.ndarray
    flux_err: np.ndarray
    bands_used: np.ndarray
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

    @property
    def amag(self) -> np.ndarray:
        """(n_kept, 5) asinh magnitudes of the observed fluxes (NaN in absent bands)."""
        return asinh_mag(self.flux_obs)


def draws_for_kept(draw_outcome: np.ndarray, n_kept: int) -> int:
    """How many draws of a chunk produce its first ``n_kept`` kept rows."""
    kept_at = np.flatnonzero(np.asarray(draw_outcome) == 0)
    if n_kept > kept_at.size:
        raise ValueError(f"chunk kept only {kept_at.size} rows, {n_kept} requested")
    return 0 if n_kept == 0 else int(kept_at[n_kept - 1]) + 1


def simulate_photometry(model: PROVABGSModel, proposal: NoiseProposal, prior: SEDPrior, n: int,
                        rng: np.random.Generator, *, chunk: int = 0, row_offset: int = 0) -> SimulatedChunk:
    """Draw ``n`` galaxies from the prior and observe them through the noise proposal."""
    theta_box, z = prior.sample(n, rng)
    theta = prior.to_physical(theta_box)
    flux_true = model.photometry(theta, z, space="physical", unit="nanomaggies")
    obs = proposal.observe(flux_true, rng)
    keep = obs.keep
    return SimulatedChunk(
        chunk=chunk,
        theta_box=theta_box[keep],
        theta=theta[keep],
        z=z[keep],
        flux_obs=obs.flux[keep],
        flux_err=obs.sigma_flux[keep],
        bands_used=obs.bands_used[keep],
        flux_true=flux_true[keep],
        row=row_offset + np.flatnonzero(keep).astype(np.int64),
        draw_outcome=obs.outcome,
    )


def lowest_colours(mags: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest values of each ugriz colour and how many values each colour has.

    Returns ((k, 10) sorted ascending, +inf filling colours with fewer than k values; (10,)
    counts). A colour is undefined (skipped) where either band's magnitude is NaN (absent).
    The exact low quantiles of a colour over many chunks need only each chunk's k smallest
    values, so chunks report these instead of their colours.
    """
    c = colours(mags)
    counts = np.sum(np.isfinite(c), axis=0).astype(np.int64)
    c = np.where(np.isfinite(c), c, np.inf)
    k = min(k, c.shape[0])
    if k == 0:
        return np.empty((0, c.shape[1])), counts
    return np.sort(np.partition(c, k - 1, axis=0)[:k], axis=0), counts


def quantile_rank_count(n_total: int, q: float) -> int:
    """How many smallest values :func:`colour_quantiles` needs for quantile ``q`` of ``n_total``."""
    return int(np.floor(q * (n_total - 1))) + 2


def colour_quantiles(lowest: list[np.ndarray], n_total, q: float) -> np.ndarray:
    """(10,) the q-quantile of each colour over ``n_total`` values (a number or (10,) per colour).

    Equals ``np.nanquantile(all_colours, q, axis=0)`` (linear interpolation) exactly when every
    chunk passed its :func:`quantile_rank_count` smallest values.
    """
    pooled = np.sort(np.concatenate(lowest, axis=0), axis=0)
    totals = np.broadcast_to(np.asarray(n_total, dtype=np.int64), (pooled.shape[1],))
    out = np.empty(pooled.shape[1])
    for j, n_j in enumerate(totals):
        h = q * (n_j - 1)
        lo = int(np.floor(h))
        if pooled.shape[0] < lo + 2 and pooled.shape[0] < n_j:
            raise ValueError(f"need the {lo + 2} smallest values of each colour, got {pooled.shape[0]}")
        upper = pooled[min(lo + 1, pooled.shape[0] - 1), j]
        out[j] = pooled[lo, j] + (h - lo) * (upper - pooled[lo, j])
    return out
