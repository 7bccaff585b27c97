"""Posterior inference for a whole catalog (``sedflow infer``) and on-demand re-draws (``sedflow resample``).

Pure numerics in :mod:`.core` and :mod:`.partition`; the output catalog's files in
:mod:`.catalog`; the per-worker models in :mod:`.resources`; Dask orchestration in :mod:`.run`.
"""

from .catalog import InputPixel, input_pixels, partition_path, read_catalog_provenance
from .core import DERIVED_NAMES, QUANTITY_NAMES, STAT_NAMES, STATUSES, summary_columns
from .partition import INPUT_COLUMNS, catalog_schema, infer_flow, partition_table
from .resources import InferenceResources, load_count
from .run import InferSummary, infer_catalog

__all__ = [
    "DERIVED_NAMES", "INPUT_COLUMNS", "InferSummary", "InferenceResources", "InputPixel", "QUANTITY_NAMES",
    "STATUSES", "STAT_NAMES", "catalog_schema", "infer_catalog", "infer_flow", "input_pixels", "load_count",
    "partition_path", "partition_table", "read_catalog_provenance", "summary_columns",
]
