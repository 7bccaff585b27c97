"""Which galaxies the inference stage sends to the MCMC fallback."""

from __future__ import annotations

import enum

import numpy as np

from ..config import FallbackConfig


class FallbackReason(enum.IntFlag):
    """Why the flow's posterior is not trusted for a galaxy (the catalog's ``fallback_reason`` bits).

    The importance weights of the flow's draws against the exact likelihood decide
    (``sedflow_dask.posterior.importance``): too few effective draws (``LOW_EFFICIENCY``) or a
    weight tail too heavy for any reweighting (``HIGH_KHAT``, Pareto k̂ above ``max_khat``).
    Bits 0-3 are reserved and never set: the ingest's out-of-support flags stay in the catalog
    as information (``oos_noise``, ``oos_color``) but do not route, a probit or logit flow's
    in-box fraction is 1 for every finite input, and the χ² of the posterior-median model is
    a proxy the weights replace (it re-checks the MCMC's result instead).
    """

    OOS_NOISE = 1 << 0
    OOS_COLOR = 1 << 1
    LOW_ACCEPT_FRAC = 1 << 2
    HIGH_CHI2 = 1 << 3
    LOW_EFFICIENCY = 1 << 4
    HIGH_KHAT = 1 << 5


def fallback_reasons(efficiency, khat, config: FallbackConfig | None = None) -> np.ndarray:
    """(G,) int32 :class:`FallbackReason` bitmask; 0 = the (reweighted) flow posterior is kept.

    Args:
        efficiency: (G,) importance-sampling efficiency n_eff / S of the flow's draws.
        khat: (G,) Pareto k̂ of their weights.
        config: thresholds ``min_efficiency`` and ``max_khat`` (default 0.7, Vehtari et al. 2024).

    NaN (nothing to judge the flow by) fails both tests.
    """
    cfg = config or FallbackConfig()
    eff = np.asarray(efficiency, dtype=np.float64)
    k = np.asarray(khat, dtype=np.float64)
    bits = np.zeros(np.broadcast_shapes(eff.shape, k.shape), dtype=np.int32)
    with np.errstate(invalid="ignore"):
        for flag, hit in ((FallbackReason.LOW_EFFICIENCY, ~(eff >= cfg.min_efficiency)),
                          (FallbackReason.HIGH_KHAT, ~(k <= cfg.max_khat))):
            bits |= np.where(hit, np.int32(flag), np.int32(0))
    return bits


def needs_fallback(efficiency, khat, config: FallbackConfig | None = None) -> np.ndarray:
    """(G,) True for galaxies whose weights reject the flow (any :func:`fallback_reasons` bit)."""
    return fallback_reasons(efficiency, khat, config) != 0
