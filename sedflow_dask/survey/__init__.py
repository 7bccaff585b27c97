"""The vocabulary of surveys: SDSS photometric conventions shared by readers, noise models and mock data."""

from .._lazy import lazy_exports

_EXPORTS = {
    "SDSS_TO_AB": ".sdss",
    "SDSSCorrections": ".sdss",
    "correct_sdss_photometry": ".sdss",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
