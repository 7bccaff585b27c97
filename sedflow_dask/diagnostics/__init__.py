"""Validation of posterior estimators: SBC, p-p coverage, TARP, recovery, MCMC reference widths, a mock's
catalog against its truths, the real-galaxy report, figures."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .calibration import (
        CalibrationSummary,
        calibration_summary,
        central_interval_coverage,
        normalized_ranks,
        sbc_ks_pvalues,
        tarp_coverage,
    )
    from .real_report import RealReport, kcorrect_masses, load_report_frame
    from .reference import MCMCReference, compare_with_mcmc, load_mcmc_reference, mcmc_reference, save_mcmc_reference
    from .truth import TruthValidation, catalog_with_truth, truth_validation

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
