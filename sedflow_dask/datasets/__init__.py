"""Real photometry that ships inside installed packages (no network at any time)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "KCORRECT_SDSS": ".kcorrect_sdss",
    "kcorrect_sdss_path": ".kcorrect_sdss",
    "read_kcorrect_sdss": ".kcorrect_sdss",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
