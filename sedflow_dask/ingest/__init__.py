"""Catalog ingestion (``sedflow ingest``): NSA, SDSS exports or any table → HATS catalog of
``docs/data-contracts.md`` §4.

Pure cores (:mod:`.schema`, :mod:`.flags`, :mod:`.core`) hold no I/O; :mod:`.readers` turn
catalog files (NSA, SDSS export, column map) into one standard frame, read in bounded row
ranges; :mod:`.loaders` reads FITS tables and the flags companion, :mod:`.join` joins the
companion by NSAID on disk, :mod:`.io` writes and reads the HATS catalog, and
:mod:`.pipeline` runs the stage on a Dask client (:func:`.pipeline.ingest_catalog`).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .core import (
        CATALOG_COLUMNS,
        apply_quality_cuts,
        convert_photometry,
        data_validity_reasons,
        flag_out_of_support,
        ingest_frame,
    )
    from .flags import PRESETS, clean_word, evaluate_clean, resolve_flag_layout
    from .io import ingested_data_files, read_ingested, read_provenance
    from .loaders import nsa_dataframe, open_flags_table, open_nsa, read_nsa_rows
    from .pipeline import IngestPlan, IngestResult, SupportReference, ingest_catalog, plan_ingest
    from .readers.base import CatalogReader
    from .readers.detect import open_catalog
    from .reasons import CUT_BITS, DATA_VALIDITY_BITS, IngestReason, reason_names
    from .schema import NSASchema, detect_schema

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "CATALOG_COLUMNS": ".core",
    "apply_quality_cuts": ".core",
    "convert_photometry": ".core",
    "data_validity_reasons": ".core",
    "flag_out_of_support": ".core",
    "ingest_frame": ".core",
    "PRESETS": ".flags",
    "clean_word": ".flags",
    "evaluate_clean": ".flags",
    "resolve_flag_layout": ".flags",
    "ingested_data_files": ".io",
    "read_ingested": ".io",
    "read_provenance": ".io",
    "nsa_dataframe": ".loaders",
    "open_flags_table": ".loaders",
    "open_nsa": ".loaders",
    "read_nsa_rows": ".loaders",
    "IngestPlan": ".pipeline",
    "IngestResult": ".pipeline",
    "plan_ingest": ".pipeline",
    "SupportReference": ".pipeline",
    "ingest_catalog": ".pipeline",
    "CatalogReader": ".readers.base",
    "open_catalog": ".readers.detect",
    "CUT_BITS": ".reasons",
    "DATA_VALIDITY_BITS": ".reasons",
    "IngestReason": ".reasons",
    "reason_names": ".reasons",
    "NSASchema": ".schema",
    "detect_schema": ".schema",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
