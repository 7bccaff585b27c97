"""Catalog readers: one interface (:class:`~.base.CatalogReader`), one reader per kind of catalog.

Each turns a file into the same standard frame (galaxy id, RA/Dec, z, ugriz flux + ivar in AB
nanomaggies) plus a provenance dict of what it did; everything after the reader is shared.
:func:`~.detect.open_catalog` picks the reader (``preset`` auto|nsa|sdss|table) and checks the
file before any work starts.
"""

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .base import PRESETS, CatalogReader, standard_frame
    from .column_map import FLUX_UNITS, MAG_SENTINEL, ColumnMapReader, open_column_map_reader, parse_column_map
    from .detect import detect_preset, open_catalog
    from .nsa import NSAReader, open_nsa_reader
    from .sdss import SDSS_FLUX_KINDS, SDSSReader, open_sdss_reader
    from .tables import TableFile, open_table

_EXPORTS = {
    "CatalogReader": ".base",
    "PRESETS": ".base",
    "standard_frame": ".base",
    "ColumnMapReader": ".column_map",
    "FLUX_UNITS": ".column_map",
    "MAG_SENTINEL": ".column_map",
    "open_column_map_reader": ".column_map",
    "parse_column_map": ".column_map",
    "detect_preset": ".detect",
    "open_catalog": ".detect",
    "NSAReader": ".nsa",
    "open_nsa_reader": ".nsa",
    "SDSS_FLUX_KINDS": ".sdss",
    "SDSSReader": ".sdss",
    "open_sdss_reader": ".sdss",
    "TableFile": ".tables",
    "open_table": ".tables",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
