"""MCMC fallback for galaxies outside the flow's support: the same forward model, real MCMC.

Pure numerics (numpy/torch through the forward model; no Dask, no I/O). The inference stage
routes a galaxy here when ingestion flagged it out of support, or the flow's posterior-median
χ² exceeds ``max_chi2`` of :class:`sedflow_dask.config.FallbackConfig` (``routing.py``).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from ..likelihood import best_log_mass, chi2, fluxes_from_mags, gaussian_log_likelihood, log_likelihood
    from .autocorr import integrated_time
    from .routing import FallbackReason, fallback_reasons, needs_fallback
    from .sampler import FallbackResult, fallback_model, run_fallback

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "integrated_time": ".autocorr",
    "best_log_mass": "..likelihood",
    "chi2": "..likelihood",
    "fluxes_from_mags": "..likelihood",
    "gaussian_log_likelihood": "..likelihood",
    "log_likelihood": "..likelihood",
    "FallbackReason": ".routing",
    "fallback_reasons": ".routing",
    "needs_fallback": ".routing",
    "FallbackResult": ".sampler",
    "fallback_model": ".sampler",
    "run_fallback": ".sampler",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
