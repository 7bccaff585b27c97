"""NSA ingestion (``sedflow ingest``): NSA FITS → HATS catalog of ``docs/data-contracts.md`` §4.

Pure cores (:mod:`.schema`, :mod:`.flags`, :mod:`.core`) hold no I/O; :mod:`.loaders` reads
the FITS/Parquet inputs in bounded row ranges, :mod:`.join` joins the flags companion by
NSAID on disk, :mod:`.io` writes and reads the HATS catalog, and :mod:`.pipeline` runs the
stage on a Dask client.
"""

from .core import (
    CATALOG_COLUMNS,
    apply_quality_cuts,
    convert_photometry,
    data_validity_reasons,
    flag_out_of_support,
    ingest_frame,
)
from .flags import PRESETS, clean_word, combine_split_words, evaluate_clean, resolve_flag_layout
from .io import ingested_data_files, read_ingested, read_provenance
from .loaders import nsa_dataframe, open_flags_table, open_nsa, read_nsa_rows
from .pipeline import IngestResult, ingest_nsa
from .reasons import CUT_BITS, DATA_VALIDITY_BITS, IngestReason, reason_names
from .schema import NSASchema, detect_schema

__all__ = [
    "CATALOG_COLUMNS", "CUT_BITS", "DATA_VALIDITY_BITS", "PRESETS", "IngestReason", "IngestResult", "NSASchema",
    "apply_quality_cuts", "clean_word", "combine_split_words", "convert_photometry", "data_validity_reasons",
    "detect_schema", "evaluate_clean", "flag_out_of_support", "ingest_frame", "ingest_nsa", "ingested_data_files",
    "nsa_dataframe", "open_flags_table", "open_nsa", "read_ingested", "read_nsa_rows", "read_provenance",
    "reason_names", "resolve_flag_layout",
]
