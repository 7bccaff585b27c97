"""Reading an ingested (HATS) catalog back: its data partitions, rows and provenance.

The catalog is usable by ``lsdb.open_catalog``, pyarrow and DuckDB; these read only the data
partitions ``dataset/Norder=*/Dir=*/Npix=*.parquet``. Writing it is :mod:`.writer`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..files import file_sha256
from ..layout import DATA_GLOB

PROVENANCE_FILE = "provenance.json"


def artifact_name(out: str | Path) -> str:
    """A HATS catalog name (letters, digits, ``._-``) from the output directory's name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(out).name) or "catalog"


def ingested_data_files(catalog: str | Path) -> list[Path]:
    """The data partitions of a HATS catalog, sorted."""
    root = Path(catalog)
    files = sorted(root.glob(DATA_GLOB))
    if not files and not (root / "dataset").is_dir():
        raise ValueError(f"{root} is not a HATS catalog (no dataset/ directory)")
    return files


def read_ingested(path: str | Path, columns: Sequence[str] | None = None, filters=None) -> pd.DataFrame:
    """An ingested catalog (or any HATS catalog) as one pandas DataFrame.

    Reads only the data partitions ``dataset/Norder=*/Dir=*/Npix=*.parquet`` with pyarrow, so
    every row counts once. ``columns`` projects; ``filters`` is a pyarrow expression or
    DNF list (``[("ingest_reason", "==", 0)]``) pushed down to the Parquet reader.
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = ingested_data_files(path)
    if not files:
        raise ValueError(f"{path}: the catalog has no data partitions")
    # an explicit file list: no hive partition columns (Norder/Dir/Npix) are added
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    if columns is not None:
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; the catalog has {dataset.schema.names}")
    if filters is not None and not isinstance(filters, ds.Expression):
        filters = pq.filters_to_expression(filters)
    table = dataset.to_table(columns=list(columns) if columns is not None else None, filter=filters)
    return table.to_pandas()


def file_fingerprint(path: str | Path, block: int = 1 << 23) -> dict[str, Any]:
    """sha256 (streamed in 8 MiB blocks), size [bytes] and mtime of a file."""
    p = Path(path)
    st = p.stat()
    return {"path": str(p.resolve()), "sha256": file_sha256(p, block), "size_bytes": st.st_size, "mtime": st.st_mtime}


def read_provenance(catalog: str | Path) -> dict[str, Any]:
    """The ingest provenance stored beside the catalog (``provenance.json``)."""
    p = Path(catalog) / PROVENANCE_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {p}: {exc}") from None
