"""Validation of posterior estimators: SBC, p-p coverage, TARP, recovery, figures."""

from .calibration import (
    CalibrationSummary,
    calibration_summary,
    central_interval_coverage,
    normalized_ranks,
    sbc_ks_pvalues,
    tarp_coverage,
)

__all__ = [
    "CalibrationSummary", "calibration_summary", "central_interval_coverage", "normalized_ranks",
    "sbc_ks_pvalues", "tarp_coverage",
]
