"""Parquet helpers every writer shares: atomic files and the ``sedflow`` metadata key.

A file is written under a temporary name in its final directory and renamed into place, so a
killed writer leaves either the old file, the new one, or a ``*.tmp`` that readers ignore.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: Schema-metadata key holding a JSON document of sedflow provenance.
METADATA_KEY = b"sedflow"


def with_sedflow_metadata(schema: pa.Schema, metadata: dict[str, Any]) -> pa.Schema:
    """``schema`` with ``metadata`` stored as JSON under the ``sedflow`` key."""
    merged = dict(schema.metadata or {})
    merged[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    return schema.with_metadata(merged)


def write_table_atomic(table: pa.Table, path: str | Path, metadata: dict[str, Any] | None = None,
                       compression: str = "snappy", **kwargs: Any) -> Path:
    """Write ``table`` to ``path`` atomically, with ``metadata`` under the ``sedflow`` key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if metadata is not None:
        table = table.replace_schema_metadata(with_sedflow_metadata(table.schema, metadata).metadata)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp, compression=compression, **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_sedflow_metadata(path: str | Path) -> dict[str, Any]:
    """The ``sedflow`` metadata of a Parquet file (its footer only is read)."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{path} has no 'sedflow' metadata: not written by sedflow_dask")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt 'sedflow' metadata: {exc}") from None
