"""Interpolation weights on an SSP table's age and metallicity axes (pure numpy, §7.3).

Ages are interpolated linearly in log10(age) between bracketing table ages (FSPS ``sfh_weight``,
``interpolation_type = 0``); ages at or below the youngest node take that node. Metallicity is
interpolated linearly in the table coordinate ζ = log10(Z / Z_sun), in flux.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseWeights:
    """Row-sparse interpolation weights: value = sum_s weight[..., s] * node[index[..., s]]."""

    index: np.ndarray   # int64 (..., S)
    weight: np.ndarray  # float64 (..., S)


def age_point_weights(log_age_nodes: np.ndarray, age_yr: np.ndarray) -> SparseWeights:
    """Weights (S = 2) of the two table ages bracketing each ``age_yr`` [yr], linear in log age.

    Raises ValueError for ages beyond the oldest node (the model never needs them).
    """
    age_yr = np.asarray(age_yr, dtype=np.float64)
    if np.any(age_yr > 10.0 ** log_age_nodes[-1] * (1 + 1e-12)):
        raise ValueError(f"SSP age beyond the table's oldest node ({10 ** log_age_nodes[-1]:.4g} yr)")
    x = np.log10(np.maximum(age_yr, 10.0 ** log_age_nodes[0]))
    lo = np.clip(np.searchsorted(log_age_nodes, x, side="right") - 1, 0, log_age_nodes.size - 2)
    w_hi = (x - log_age_nodes[lo]) / (log_age_nodes[lo + 1] - log_age_nodes[lo])
    w_hi = np.clip(w_hi, 0.0, 1.0)
    return SparseWeights(np.stack([lo, lo + 1], axis=-1), np.stack([1 - w_hi, w_hi], axis=-1))


def cumulative_age_weights(log_age_nodes: np.ndarray, t_yr: np.ndarray) -> np.ndarray:
    """G(t) = ∫_0^t h(t') dt' for the log-age hat functions h of every node; shape t.shape + (A,) [yr].

    Exact: between nodes the hats are linear in ln t, and ∫ ln t dt = t ln t − t. Below the
    youngest node all weight is on that node, so G_0(t) = t there.
    """
    t = np.asarray(t_yr, dtype=np.float64)
    ln_nodes = np.log(10.0) * log_age_nodes
    nodes = np.exp(ln_nodes)
    n = nodes.size
    if np.any(t > nodes[-1] * (1 + 1e-12)):
        raise ValueError(f"SSP age beyond the table's oldest node ({nodes[-1]:.4g} yr)")

    def piece(a, b, ln_lo, ln_hi):
        # ∫_a^b of the rising hat (ln s − ln_lo)/L and the falling hat (ln_hi − ln s)/L.
        span = ln_hi - ln_lo
        s_ln = lambda s: s * np.log(s) - s  # noqa: E731
        rise = (s_ln(b) - s_ln(a) - (b - a) * ln_lo) / span
        fall = ((b - a) * ln_hi - (s_ln(b) - s_ln(a))) / span
        return rise, fall

    # Cumulative integrals at the nodes (A nodes x A hats).
    g_nodes = np.zeros((n, n))
    g_nodes[0, 0] = nodes[0]
    for m in range(n - 1):
        rise, fall = piece(nodes[m], nodes[m + 1], ln_nodes[m], ln_nodes[m + 1])
        g_nodes[m + 1] = g_nodes[m]
        g_nodes[m + 1, m] += fall
        g_nodes[m + 1, m + 1] += rise

    flat = t.reshape(-1)
    out = np.zeros((flat.size, n))
    young = flat <= nodes[0]
    out[young, 0] = flat[young]
    below = np.clip(np.searchsorted(nodes, flat, side="right") - 1, 0, n - 2)  # node below each age
    rest = ~young
    mr = below[rest]
    out[rest] = g_nodes[mr]
    rise, fall = piece(nodes[mr], np.maximum(flat[rest], nodes[mr]), ln_nodes[mr], ln_nodes[mr + 1])
    rows = np.nonzero(rest)[0]
    out[rows, mr] += fall
    out[rows, mr + 1] += rise
    return out.reshape(t.shape + (n,))


def age_average_weights(log_age_nodes: np.ndarray, t_lo_yr: np.ndarray, t_hi_yr: np.ndarray) -> np.ndarray:
    """Dense weights (..., A) of the time average of the interpolated SSP over [t_lo, t_hi] [yr].

    Zero-width intervals fall back to point weights at t_lo.
    """
    t_lo = np.asarray(t_lo_yr, dtype=np.float64)
    t_hi = np.asarray(t_hi_yr, dtype=np.float64)
    width = t_hi - t_lo
    g = cumulative_age_weights(log_age_nodes, t_hi) - cumulative_age_weights(log_age_nodes, t_lo)
    safe = np.where(width > 0, width, 1.0)
    dense = g / safe[..., None]
    point = width <= 0
    if np.any(point):
        pw = age_point_weights(log_age_nodes, t_lo[point])
        dense_pt = np.zeros(pw.index.shape[:-1] + (log_age_nodes.size,))
        np.put_along_axis(dense_pt, pw.index, pw.weight, axis=-1)
        dense[point] = dense_pt
    return dense


def dense_to_sparse(dense: np.ndarray, tol: float = 0.0) -> SparseWeights:
    """Compact dense (..., A) weights to the smallest common number of non-zero slots S."""
    nz = np.abs(dense) > tol
    s = max(int(nz.sum(axis=-1).max(initial=0)), 1)
    order = np.argsort(~nz, axis=-1, kind="stable")[..., :s]
    weight = np.take_along_axis(dense, order, axis=-1)
    weight = np.where(np.take_along_axis(nz, order, axis=-1), weight, 0.0)
    return SparseWeights(order, weight)


def metallicity_weights(zeta_nodes: np.ndarray, zeta: np.ndarray, extrapolate: bool = False) -> SparseWeights:
    """Weights (S = 2) of the two table metallicities bracketing ζ, linear in ζ.

    Outside the grid the end node is used (clamp), or, with ``extrapolate=True``, the two end
    nodes are extrapolated linearly as FSPS does (weights may leave [0, 1]).
    """
    zeta = np.asarray(zeta, dtype=np.float64)
    j = np.clip(np.searchsorted(zeta_nodes, zeta, side="right") - 1, 0, zeta_nodes.size - 2)
    frac = (zeta - zeta_nodes[j]) / (zeta_nodes[j + 1] - zeta_nodes[j])
    if not extrapolate:
        frac = np.clip(frac, 0.0, 1.0)
    return SparseWeights(np.stack([j, j + 1], axis=-1), np.stack([1 - frac, frac], axis=-1))
