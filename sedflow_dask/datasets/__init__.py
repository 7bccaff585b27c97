"""Real photometry that ships inside installed packages (no network at any time)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .kcorrect_sdss import KCORRECT_SDSS, kcorrect_sdss_path, read_kcorrect_sdss

_EXPORTS = {
    "KCORRECT_SDSS": ".kcorrect_sdss",
    "kcorrect_sdss_path": ".kcorrect_sdss",
    "read_kcorrect_sdss": ".kcorrect_sdss",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
