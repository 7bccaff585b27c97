"""Validation of posterior estimators: SBC, p-p coverage, TARP, recovery, MCMC reference widths, a mock's
catalog against its truths, the real-galaxy report, figures."""

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
    "RealReport": ".real_report",
    "kcorrect_masses": ".real_report",
    "load_report_frame": ".real_report",
    "TruthValidation": ".truth",
    "catalog_with_truth": ".truth",
    "truth_validation": ".truth",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
