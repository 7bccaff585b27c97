"""Which galaxies the inference stage sends to the MCMC fallback."""

from __future__ import annotations

import enum

import numpy as np

from ..config import FallbackConfig


class FallbackReason(enum.IntFlag):
    """Why the flow's posterior is not trusted for a galaxy (the catalog's ``fallback_reason`` bits).

    ``LOW_ACCEPT_FRAC`` (4) is reserved and never set. A flow on probit (or logit) coordinates
    maps every draw into the prior box, so its in-box fraction is 1 for any finite input and a
    threshold on it could never fire; a flow whose draws are not finite at all leaves a NaN χ²,
    which ``HIGH_CHI2`` catches.
    """

    OOS_NOISE = 1 << 0
    OOS_COLOR = 1 << 1
    LOW_ACCEPT_FRAC = 1 << 2
    HIGH_CHI2 = 1 << 3


def fallback_reasons(chi2_median, oos_noise=False, oos_color=False,
                     config: FallbackConfig | None = None) -> np.ndarray:
    """(G,) int32 :class:`FallbackReason` bitmask; 0 = the flow's posterior is kept.

    Args:
        chi2_median: (G,) χ² (5 bands, fluxes) of the posterior-median model photometry.
        oos_noise, oos_color: (G,) the ingested catalog's out-of-support flags (or scalars).
        config: threshold ``max_chi2`` (default 20.5, the 99.9th percentile of χ² with 5
            degrees of freedom).

    A NaN χ² (no finite flow draw to judge the flow by) counts as failing its test.
    """
    cfg = config or FallbackConfig()
    c2 = np.asarray(chi2_median, dtype=np.float64)
    shape = np.broadcast_shapes(c2.shape, np.shape(oos_noise), np.shape(oos_color))
    bits = np.zeros(shape, dtype=np.int32)
    with np.errstate(invalid="ignore"):
        for flag, hit in ((FallbackReason.OOS_NOISE, np.asarray(oos_noise, dtype=bool)),
                          (FallbackReason.OOS_COLOR, np.asarray(oos_color, dtype=bool)),
                          (FallbackReason.HIGH_CHI2, ~(c2 <= cfg.max_chi2))):
            bits |= np.where(hit, np.int32(flag), np.int32(0))
    return bits


def needs_fallback(chi2_median, oos_noise=False, oos_color=False,
                   config: FallbackConfig | None = None) -> np.ndarray:
    """(G,) True for galaxies the flow cannot be trusted with (any :func:`fallback_reasons` bit)."""
    return fallback_reasons(chi2_median, oos_noise, oos_color, config) != 0
