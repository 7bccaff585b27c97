"""MCMC fallback for galaxies outside the flow's support: the same forward model, real MCMC.

Pure numerics (numpy/torch through the forward model; no Dask, no I/O). The inference stage
routes a galaxy here when ingestion flagged it out of support, or the flow's accepted fraction
or posterior-median χ² fails the thresholds of :class:`sedflow_dask.config.FallbackConfig`.
"""

from .autocorr import integrated_time
from .likelihood import best_log_mass, chi2, fluxes_from_mags, gaussian_log_likelihood, log_likelihood
from .routing import FallbackReason, fallback_reasons, needs_fallback
from .sampler import FallbackResult, fallback_model, run_fallback

__all__ = [
    "FallbackReason", "FallbackResult", "best_log_mass", "chi2", "fallback_model", "fluxes_from_mags", "gaussian_log_likelihood",
    "fallback_reasons", "integrated_time", "log_likelihood", "needs_fallback", "run_fallback",
]
