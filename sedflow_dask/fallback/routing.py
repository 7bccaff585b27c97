"""Which galaxies the inference stage sends to the MCMC fallback (issue 5, "Out-of-support galaxies")."""

from __future__ import annotations

import numpy as np

from ..config import FallbackConfig


def needs_fallback(accept_frac, chi2_median, oos_noise=False, oos_color=False,
                   config: FallbackConfig | None = None) -> np.ndarray:
    """(G,) True for galaxies the flow cannot be trusted with.

    Args:
        accept_frac: (G,) the flow's in-box accepted fraction (``PosteriorSamples.accept_frac``).
        chi2_median: (G,) χ² (5 bands, fluxes) of the posterior-median model photometry.
        oos_noise, oos_color: (G,) the ingested catalog's out-of-support flags (or scalars).
        config: thresholds ``min_accept_frac`` (default 0.05) and ``max_chi2`` (default 20.5,
            the 99.9th percentile of χ² with 5 degrees of freedom).

    A NaN accepted fraction or χ² (nothing to judge the flow by) also routes to the fallback.
    """
    cfg = config or FallbackConfig()
    acc = np.asarray(accept_frac, dtype=np.float64)
    c2 = np.asarray(chi2_median, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        poor = ~(acc >= cfg.min_accept_frac) | ~(c2 <= cfg.max_chi2)
    return np.asarray(oos_noise, dtype=bool) | np.asarray(oos_color, dtype=bool) | poor
