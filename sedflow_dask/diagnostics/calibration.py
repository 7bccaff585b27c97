"""Calibration metrics of posterior samples against known truths (pure numpy/scipy).

All functions take ``samples`` (G, S, D) — NaN rows are ignored per galaxy — and ``truth``
(G, D). A calibrated estimator puts the truth at a uniform rank among its samples (SBC, Talts
et al. 2018), covers it in a fraction α of its central α intervals (p-p / coverage), and has
TARP expected coverage equal to the credibility level (Lemos et al. 2023).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Credibility levels of the p-p curve.
PP_LEVELS = np.linspace(0.0, 1.0, 51)


def ranks(samples: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, D) SBC ranks (samples below the truth) and (G,) the valid sample count per galaxy."""
    s = np.asarray(samples, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    valid = ~np.isnan(s[:, :, 0])
    below = (s < t[:, None, :]) & valid[:, :, None]
    return below.sum(axis=1), valid.sum(axis=1)


def normalized_ranks(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(G, D) ranks mapped to (0, 1): (rank + 0.5) / (n + 1) ~ U(0, 1) when calibrated."""
    r, n = ranks(samples, truth)
    return (r + 0.5) / (n[:, None] + 1.0)


def sbc_ks_pvalues(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(D,) Kolmogorov–Smirnov p-values of the normalised ranks against U(0, 1)."""
    u = normalized_ranks(samples, truth)
    return np.array([stats.kstest(u[:, d], "uniform").pvalue for d in range(u.shape[1])])


def central_interval_coverage(samples: np.ndarray, truth: np.ndarray, levels=PP_LEVELS) -> np.ndarray:
    """(L, D) fraction of galaxies whose truth lies in the central ``level`` credible interval."""
    u = normalized_ranks(samples, truth)
    levels = np.asarray(levels, dtype=np.float64)
    # the truth is inside the central α interval iff its rank quantile is within α/2 of 1/2
    inside = np.abs(u[None, :, :] - 0.5) <= levels[:, None, None] / 2
    return inside.mean(axis=1)


def tarp_coverage(samples: np.ndarray, truth: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  rng: np.random.Generator, levels=PP_LEVELS) -> np.ndarray:
    """(L,) TARP expected coverage probability at each credibility level.

    Parameters are scaled to the unit box; one reference point per galaxy is drawn uniformly
    in it; f_g is the fraction of samples closer to the reference than the truth is.
    """
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    s = (np.asarray(samples, dtype=np.float64) - lo) / (hi - lo)
    t = (np.asarray(truth, dtype=np.float64) - lo) / (hi - lo)
    ref = rng.uniform(size=t.shape)
    d_samples = np.sqrt(((s - ref[:, None, :]) ** 2).sum(axis=-1))  # (G, S), NaN for missing rows
    d_truth = np.sqrt(((t - ref) ** 2).sum(axis=-1))
    valid = ~np.isnan(d_samples)
    f = ((d_samples < d_truth[:, None]) & valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    levels = np.asarray(levels, dtype=np.float64)
    return (f[None, :] < levels[:, None]).mean(axis=1)


@dataclass(frozen=True)
class CalibrationSummary:
    """The calibration numbers of one estimator on one held-out set."""

    names: tuple[str, ...]
    ks_pvalues: np.ndarray
    coverage_68: np.ndarray
    coverage_95: np.ndarray
    pp_levels: np.ndarray
    pp_coverage: np.ndarray
    tarp_levels: np.ndarray
    tarp_coverage: np.ndarray

    @property
    def tarp_max_deviation(self) -> float:
        return float(np.max(np.abs(self.tarp_coverage - self.tarp_levels)))

    def passes(self, ks_threshold: float = 0.001, coverage_tolerance: float = 0.03) -> bool:
        """The calibration targets: every KS p > threshold, 68 %/95 % coverage within tolerance."""
        return bool(np.all(self.ks_pvalues > ks_threshold)
                    and np.all(np.abs(self.coverage_68 - 0.68) <= coverage_tolerance)
                    and np.all(np.abs(self.coverage_95 - 0.95) <= coverage_tolerance))

    def to_dict(self) -> dict:
        return {
            "parameters": {n: {"sbc_ks_p": float(self.ks_pvalues[i]), "coverage_68": float(self.coverage_68[i]),
                               "coverage_95": float(self.coverage_95[i])} for i, n in enumerate(self.names)},
            "min_sbc_ks_p": float(self.ks_pvalues.min()),
            "max_coverage_68_error": float(np.max(np.abs(self.coverage_68 - 0.68))),
            "max_coverage_95_error": float(np.max(np.abs(self.coverage_95 - 0.95))),
            "tarp_max_deviation": self.tarp_max_deviation,
            "passes_targets": self.passes(),
        }


def calibration_summary(samples: np.ndarray, truth: np.ndarray, names, lower, upper,
                        rng: np.random.Generator) -> CalibrationSummary:
    """SBC, p-p coverage and TARP of one estimator's samples against the truths."""
    cov = central_interval_coverage(samples, truth, [0.68, 0.95])
    return CalibrationSummary(
        names=tuple(names),
        ks_pvalues=sbc_ks_pvalues(samples, truth),
        coverage_68=cov[0], coverage_95=cov[1],
        pp_levels=PP_LEVELS, pp_coverage=central_interval_coverage(samples, truth),
        tarp_levels=PP_LEVELS, tarp_coverage=tarp_coverage(samples, truth, lower, upper, rng),
    )
