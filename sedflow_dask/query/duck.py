"""SQL over a catalog's data partitions with DuckDB.

The catalog (any HATS catalog: the output of ``sedflow infer`` or ``sedflow ingest``) is
registered as a view named ``catalog`` over its data partitions only,
``dataset/Norder=*/Dir=*/Npix=*.parquet`` — never ``_metadata``, ``_common_metadata`` or margin
caches — so every galaxy counts once. DuckDB reads only the columns a query names (the
``samples`` column of draws costs nothing unless selected).

The view adds three columns taken from each file's path, ``Norder``, ``Dir`` and ``Npix``.
Hive partitioning alone cannot give ``Npix`` (``Npix=4.parquet`` is a file name, not a
directory), so they are parsed from DuckDB's ``filename`` column; DuckDB still evaluates
filters on them per file before opening it, so ``WHERE Norder = 1 AND Npix IN (4, 5)`` reads
only those partitions (``EXPLAIN`` shows ``Scanning Files: 2/N``). Filters on ``_healpix_29``
ranges prune row groups through the Parquet statistics instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..layout import DATA_GLOB

#: The view name queries use.
TABLE = "catalog"
#: Partition columns the view adds (parsed from each file's path).
PARTITION_COLUMNS = ("Norder", "Dir", "Npix")
#: hats writes a pixel either as one file ``Npix=n.parquet`` or as a directory ``Npix=n/`` of files.
_DIR_GLOB = "dataset/Norder=*/Dir=*/Npix=*/*.parquet"


class QueryError(ValueError):
    """A query DuckDB refused (its message, with the catalog's path)."""


def data_files(catalog: str | Path) -> list[Path]:
    """The catalog's data partitions (sorted); ValueError when ``catalog`` is not a HATS catalog."""
    root = Path(catalog)
    if not root.is_dir():
        raise ValueError(f"{catalog}: no such catalog directory")
    files = sorted({*root.glob(DATA_GLOB), *root.glob(_DIR_GLOB)})
    files = [f for f in files if f.is_file()]
    if not files:
        raise ValueError(f"{catalog}: not a HATS catalog (no data partitions {DATA_GLOB}); give the catalog "
                         f"directory written by `sedflow infer` or `sedflow ingest`")
    return files


def column_names(catalog: str | Path, files: Sequence[Path] | None = None) -> list[str]:
    """The data's column names: from ``dataset/_common_metadata`` (schema only), else the first partition."""
    common = Path(catalog) / "dataset" / "_common_metadata"
    for path in ([common] if common.is_file() else []) + [(files or data_files(catalog))[0]]:
        try:
            return pq.read_schema(path).names
        except (OSError, pa.ArrowInvalid) as exc:
            error = f"{path}: not a readable Parquet file: {exc}"
    raise ValueError(error)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(files: Sequence[Path], names: Sequence[str] = ()) -> str:
    """``CREATE VIEW catalog`` over ``files`` with the partition columns parsed from the paths.

    ``names``: the data's own column names (a partition column already in the data is kept as is).
    """
    listing = ", ".join(_literal(Path(f).resolve().as_posix()) for f in files)
    # anchored at the end, so a directory named like a partition higher up the path cannot match
    pattern = _literal("/Norder=(\\d+)/Dir=(\\d+)/Npix=(\\d+)(\\.parquet|/[^/]+)$")
    extra = [f"CAST(regexp_extract(filename, {pattern}, {group}) AS {kind}) AS {column}"
             for group, (column, kind) in enumerate(zip(PARTITION_COLUMNS, ("INTEGER", "BIGINT", "BIGINT")), 1)
             if column not in names]
    return (f"CREATE OR REPLACE VIEW {TABLE} AS SELECT * EXCLUDE (filename){''.join(', ' + e for e in extra)} "
            f"FROM read_parquet([{listing}], filename=true, hive_partitioning=false)")


def connect(catalog: str | Path, con=None):
    """A DuckDB connection (new, or ``con``) with ``catalog`` registered as the view ``catalog``."""
    import duckdb

    files = data_files(catalog)
    names = column_names(catalog, files)
    con = con if con is not None else duckdb.connect()
    try:
        con.execute(view_sql(files, names))
    except duckdb.Error as exc:
        raise QueryError(f"{catalog}: cannot open the catalog's partitions: {exc}") from None
    return con


def _relation(con, catalog, sql: str, params):
    import duckdb

    try:
        return con.sql(sql, params=params) if params is not None else con.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(f"query on {catalog} failed: {exc}") from None


def query_arrow(catalog: str | Path, sql: str, *, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
    """Run ``sql`` (which reads the table ``catalog``) and return a pyarrow Table.

    ``params``: values for ``?`` / ``$name`` placeholders. Raises :class:`QueryError` (a
    ValueError) with DuckDB's message and the catalog's path when the query fails, ValueError
    when ``catalog`` is not a catalog.
    """
    import duckdb

    con = connect(catalog)
    try:
        rel = _relation(con, catalog, sql, params)
        if rel is None:  # a statement without a result (SET, CREATE ...)
            return pa.table({})
        try:
            fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
            return fetch()
        except duckdb.Error as exc:
            raise QueryError(f"query on {catalog} failed: {exc}") from None
    finally:
        con.close()


def query_catalog(catalog: str | Path, sql: str, *, params: Sequence[Any] | dict[str, Any] | None = None):
    """Run ``sql`` (which reads the table ``catalog``) and return a pandas DataFrame.

    Example::

        query_catalog("catalogs/demo", "SELECT status, count(*) AS n FROM catalog GROUP BY status")

    Errors as :func:`query_arrow`.
    """
    import duckdb

    con = connect(catalog)
    try:
        rel = _relation(con, catalog, sql, params)
        if rel is None:
            import pandas as pd

            return pd.DataFrame()
        try:
            return rel.df()
        except duckdb.Error as exc:
            raise QueryError(f"query on {catalog} failed: {exc}") from None
    finally:
        con.close()
