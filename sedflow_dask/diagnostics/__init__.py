"""Validation of posterior estimators: SBC, p-p coverage, TARP, recovery, MCMC reference widths, figures."""

from .._lazy import lazy_exports

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "CalibrationSummary": ".calibration",
    "calibration_summary": ".calibration",
    "central_interval_coverage": ".calibration",
    "normalized_ranks": ".calibration",
    "sbc_ks_pvalues": ".calibration",
    "tarp_coverage": ".calibration",
    "MCMCReference": ".reference",
    "compare_with_mcmc": ".reference",
    "mcmc_reference": ".reference",
    "load_mcmc_reference": ".reference",
    "save_mcmc_reference": ".reference",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
