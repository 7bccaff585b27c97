"""Posterior inference for a whole catalog (``sedflow infer``) and on-demand re-draws (``sedflow resample``).

Pure numerics in :mod:`.core` and :mod:`.partition`; the output catalog's files in
:mod:`.catalog`; the per-worker models in :mod:`.resources`; Dask orchestration in :mod:`.run`.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .catalog import InputPixel, input_pixels, partition_path, read_catalog_provenance
    from .core import DERIVED_NAMES, QUANTITY_NAMES, STAT_NAMES, STATUSES, summary_columns
    from .partition import INPUT_COLUMNS, catalog_schema, infer_flow, partition_table
    from .resources import InferenceResources, load_count
    from .run import InferSummary, infer_catalog

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "InputPixel": ".catalog",
    "input_pixels": ".catalog",
    "partition_path": ".catalog",
    "read_catalog_provenance": ".catalog",
    "DERIVED_NAMES": ".core",
    "QUANTITY_NAMES": ".core",
    "STAT_NAMES": ".core",
    "STATUSES": ".core",
    "summary_columns": ".core",
    "INPUT_COLUMNS": ".partition",
    "catalog_schema": ".partition",
    "infer_flow": ".partition",
    "partition_table": ".partition",
    "InferenceResources": ".resources",
    "load_count": ".resources",
    "InferSummary": ".run",
    "infer_catalog": ".run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
