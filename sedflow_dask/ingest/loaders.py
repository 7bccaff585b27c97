"""Reading the NSA FITS catalog and the SDSS-flags companion table, in bounded pieces.

The NSA is one binary table in HDU 1 (opened by index, never by EXTNAME), GBs in size with
many columns the ingest never needs (``PROFMEAN`` [7, 15] ...). Readers here use ``fitsio``
to read only the projected columns of one row range at a time, convert FITS big-endian data
to native byte order, and never hold the whole file in one process. Every problem with a file
(missing, empty, not FITS, truncated, wrong column dtype or shape) is a ValueError naming the
file and, where it applies, the column and rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS
from ..ranges import row_ranges
from ..survey.nsa import UGRIZ
from .core import DFLAGS_COLUMNS, RAW_COLUMNS, bad_positions
from .flags import FlagLayout, FlagMode, resolve_flag_layout
from .schema import ColumnInfo, FluxKind, NSASchema, check_column_types, detect_schema, name_map

#: Header keywords (HDU 1, then HDU 0) and Parquet metadata keys naming the NSA version.
VERSION_KEYS = ("NSA_VERSION", "NSAVER", "VERSION")
_VERSION_IN_NAME = re.compile(r"v\d+_\d+_\d+[a-z]?")


# -- generic FITS tables -----------------------------------------------------------------------
@dataclass(frozen=True)
class FitsTable:
    """A FITS binary table (HDU 1) described from its header, without reading its rows.

    Attributes:
        path: the file.
        nrows: rows in the table.
        columns: stored column name -> :class:`ColumnInfo` (native dtype, per-row shape).
        header: NSA-version keywords found in HDU 1 or HDU 0 (upper-case key -> value).
        size_bytes, mtime: the file's size and modification time (provenance).
    """

    path: str
    nrows: int
    columns: dict[str, ColumnInfo]
    header: dict[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    mtime: float = 0.0


def check_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path; ValueError naming ``what`` when it is missing, not a file, or empty."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} {p} does not exist")
    if not p.is_file():
        raise ValueError(f"{what} {p} is not a regular file")
    if p.stat().st_size == 0:
        raise ValueError(f"{what} {p} is empty (0 bytes)")
    return p


def inspect_fits_table(path: str | Path, *, what: str = "FITS table") -> FitsTable:
    """Describe HDU 1 of a FITS file; ValueError when it is not a readable binary table.

    Checks: the file exists and is not empty, cfitsio can parse it, HDU 1 is a binary table,
    and the file holds all the bytes its header promises (a truncated download fails here,
    with the number of complete rows it does hold).
    """
    import fitsio

    p = check_file(path, what)
    size = p.stat().st_size
    try:
        with fitsio.FITS(str(p)) as fits:
            if len(fits) < 2:
                if size % 2880:  # FITS files are whole 2880-byte blocks
                    raise ValueError(f"{what} {p} is truncated: no complete HDU 1, and its {size} bytes are not a "
                                     f"whole number of 2880-byte FITS blocks")
                raise ValueError(f"{what} {p} has no HDU 1 (the catalog must be a binary table in HDU 1)")
            hdu = fits[1]
            if hdu.get_exttype() != "BINARY_TBL":
                raise ValueError(f"{what} {p}: HDU 1 is a {hdu.get_exttype()}, not a binary table")
            info = hdu.get_info()
            nrows = int(hdu.get_nrows())
            offsets = hdu.get_offsets()
            dtype, _, _ = hdu.get_rec_dtype()
            header = {}
            for h in (fits[0].read_header(), hdu.read_header()):
                for key in VERSION_KEYS:
                    if key in h:
                        header[key] = h[key]
    except OSError as exc:
        msg = str(exc).strip().splitlines()
        raise ValueError(f"{what} {p} is not a readable FITS file ({msg[-1] if msg else exc})") from None
    if offsets["data_end"] > size:
        row_bytes = int(info.get("rowsize") or dtype.itemsize or 1)
        complete = max(0, (size - offsets["data_start"]) // row_bytes)
        raise ValueError(f"{what} {p} is truncated: its header promises {nrows} rows "
                         f"({offsets['data_end']} bytes) but the file has {size} bytes, "
                         f"{min(complete, nrows)} complete rows")
    columns = {}
    for name in dtype.names:
        dt = dtype[name]
        base = dt.base if dt.base.kind in "SU" else dt.base.newbyteorder("=")
        columns[name] = ColumnInfo(name=name, dtype=np.dtype(base), shape=tuple(dt.shape))
    return FitsTable(path=str(p), nrows=nrows, columns=columns, header=header, size_bytes=size,
                     mtime=p.stat().st_mtime)


def read_fits_rows(table: FitsTable, columns: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows [start, stop) of the named columns of HDU 1, as native-byte-order arrays.

    Only these columns are read (projection); the result never shares memory with fitsio's
    big-endian record buffer.
    """
    import fitsio

    if not 0 <= start <= stop <= table.nrows:
        raise ValueError(f"{table.path}: row range [{start}, {stop}) outside the table's {table.nrows} rows")
    cols = list(dict.fromkeys(columns))
    if stop == start:
        return {c: np.zeros((0, *table.columns[c].shape), dtype=table.columns[c].dtype) for c in cols}
    try:
        with fitsio.FITS(table.path) as fits:
            # a list (even of one column) keeps fitsio on its record path: one row still
            # comes back as shape (1, ...)
            rec = fits[1].read_columns(cols, rows=np.arange(start, stop, dtype=np.int64))
    except OSError as exc:
        raise ValueError(f"{table.path}: reading rows {start}-{stop - 1} failed ({str(exc).strip()})") from None
    out = {}
    for c in cols:
        a = rec[c]
        out[c] = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("="), copy=True))
    return out


def _version_of(header: dict[str, Any], path: str) -> str | None:
    for key in VERSION_KEYS:
        if key in header and str(header[key]).strip():
            return str(header[key]).strip()
    m = _VERSION_IN_NAME.search(Path(path).name)
    return m.group(0) if m else None


# -- the NSA catalog -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NSAFile:
    """An NSA catalog file, checked and described (nothing read beyond its headers).

    Attributes:
        table: the FITS table.
        schema: where the needed quantities are (v1/v0, Sersic/elpetro).
        version: the NSA version (``NSA_VERSION``/``VERSION`` keyword, else ``v1_0_1``-like
            text in the file name), or None when unknown.
    """

    table: FitsTable
    schema: NSASchema
    version: str | None

    @property
    def path(self) -> str:
        return self.table.path

    @property
    def nrows(self) -> int:
        return self.table.nrows


def open_nsa(path: str | Path, flux: FluxKind = "sersic", *, need_dflags: bool = False) -> NSAFile:
    """Check and describe an NSA FITS catalog (v1 or v0 schema); ValueError naming the problem."""
    return describe_nsa(inspect_fits_table(path, what="NSA catalog"), flux, need_dflags=need_dflags)


def describe_nsa(table: FitsTable, flux: FluxKind = "sersic", *, need_dflags: bool = False) -> NSAFile:
    """The NSA schema of an inspected FITS table; ValueError naming missing or mistyped columns."""
    source = f"NSA catalog {table.path}"
    schema = detect_schema(table.columns, flux, source=source)
    check_column_types(schema, table.columns, source=source)
    if need_dflags and not schema.dflags:
        raise ValueError(f"{source}: ingest.dflags_cut needs the DFLAGS column, which the file lacks")
    if table.nrows == 0:
        raise ValueError(f"{source}: HDU 1 has no rows")
    return NSAFile(table=table, schema=schema, version=_version_of(table.header, table.path))


def raw_frame(nsa: NSAFile, arrays: dict[str, np.ndarray], start: int) -> pd.DataFrame:
    """The raw frame (``RAW_COLUMNS`` [+ ``dflags_*``]) of arrays read from ``nsa``.

    ugriz are indices 2..6 of the FNugriz arrays; values keep their stored dtype; the index
    is the row number in the file.
    """
    s = nsa.schema
    n = len(arrays[s.nsaid])
    data: dict[str, np.ndarray] = {"nsaid": arrays[s.nsaid].astype(np.int64), "ra": arrays[s.ra],
                                   "dec": arrays[s.dec], "z": arrays[s.z]}
    flux, ivar = arrays[s.flux][:, UGRIZ], arrays[s.ivar][:, UGRIZ]
    for k, (fc, ic) in enumerate(zip(FLUX_COLUMNS, IVAR_COLUMNS)):
        data[fc] = flux[:, k]
        data[ic] = ivar[:, k]
    data = {c: data[c] for c in RAW_COLUMNS}
    if s.dflags and s.dflags in arrays:
        d = arrays[s.dflags][:, UGRIZ]
        for k, c in enumerate(DFLAGS_COLUMNS):
            data[c] = d[:, k]
    return pd.DataFrame(data, index=pd.RangeIndex(start, start + n, name="row"))


def read_nsa_rows(nsa: NSAFile, start: int, stop: int, *, extra_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Rows [start, stop) of the NSA as a raw frame (only the schema's columns are read)."""
    arrays = read_fits_rows(nsa.table, [*nsa.schema.columns, *extra_columns], start, stop)
    return raw_frame(nsa, arrays, start)


def check_positions(ra: np.ndarray, dec: np.ndarray, start: int, source: str) -> None:
    """ValueError naming the rows whose RA/Dec cannot be placed on the sky (HEALPix needs them)."""
    bad = bad_positions(ra, dec)
    if bad.any():
        rows = np.flatnonzero(bad)
        ex = "; ".join(f"row {start + r}: RA={float(ra[r])}, DEC={float(dec[r])}" for r in rows[:3])
        raise ValueError(f"{source}: columns RA/DEC hold {rows.size} non-finite or out-of-range positions "
                         f"({ex}{', ...' if rows.size > 3 else ''}); the catalog is partitioned on the sky, "
                         f"so every row needs RA in [0, 360] and DEC in [-90, 90] deg")


def nsa_dataframe(nsa: NSAFile, partition_rows: int = 100_000):
    """The NSA raw frame as a lazy Dask DataFrame, one partition per row range.

    Divisions are the row numbers, so partition k holds rows [k p, (k+1) p).
    """
    import dask.dataframe as dd

    ranges = row_ranges(nsa.nrows, partition_rows)
    meta = read_nsa_rows(nsa, 0, 0)
    divisions = tuple(s for s, _ in ranges) + (nsa.nrows - 1,)
    return dd.from_map(_read_range, ranges, nsa=nsa, meta=meta, divisions=divisions,
                       label="read-nsa", enforce_metadata=False)


def _read_range(rng: tuple[int, int], nsa: NSAFile) -> pd.DataFrame:
    return read_nsa_rows(nsa, rng[0], rng[1])


# -- the SDSS flags companion table --------------------------------------------------------------
@dataclass(frozen=True)
class FlagsTable:
    """A flags companion (FITS HDU 1 or Parquet) keyed by NSAID, checked and described.

    Attributes:
        path, format: the file and "fits" or "parquet".
        nrows: rows.
        nsaid: stored name of the NSAID column.
        layout: which columns give the flag words for the run's preset and mode.
        version: the ``NSA_VERSION`` it was built against (header or metadata), or None.
        parts: independent read units: (start, stop) row ranges (FITS) or tuples of row-group
            indices (Parquet).
        size_bytes, mtime: provenance.
    """

    path: str
    format: Literal["fits", "parquet"]
    nrows: int
    nsaid: str
    layout: FlagLayout
    version: str | None
    parts: tuple[tuple[int, ...], ...]
    size_bytes: int = 0
    mtime: float = 0.0
    fits: FitsTable | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.nsaid, *self.layout.columns)


def parquet_columns(schema) -> dict[str, ColumnInfo]:
    """Column name -> :class:`ColumnInfo` of an Arrow schema (list columns as (5,) ugriz arrays)."""
    import pyarrow as pa

    out = {}
    for f in schema:
        t = f.type
        shape: tuple[int, ...] = ()
        if pa.types.is_fixed_size_list(t):
            shape, t = (t.list_size,), t.value_type
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            shape, t = (5,), t.value_type  # checked row by row when read
        try:
            dtype = np.dtype(t.to_pandas_dtype())
        except (NotImplementedError, TypeError):
            dtype = np.dtype(object)
        out[f.name] = ColumnInfo(name=f.name, dtype=dtype, shape=shape)
    return out


def _parquet_version(metadata: dict[bytes, bytes] | None) -> str | None:
    import json

    for k, v in (metadata or {}).items():
        key = k.decode(errors="replace")
        if key.upper() in VERSION_KEYS:
            return v.decode(errors="replace").strip() or None
        if key == "sedflow":
            try:
                doc = json.loads(v)
            except ValueError:
                continue
            for name in ("nsa_version", "NSA_VERSION"):
                if isinstance(doc, dict) and doc.get(name):
                    return str(doc[name])
    return None


def open_flags_table(path: str | Path, *, mode: FlagMode = "object", preset: str = "sedflow2022",
                     bands: tuple[str, ...] = ("u", "g", "r", "i", "z"), psf_err_band: str = "g",
                     partition_rows: int = 100_000) -> FlagsTable:
    """Check and describe a flags companion: FITS (binary table in HDU 1) or Parquet.

    It must have an integer ``NSAID`` column and the flag words the preset and mode need
    (:func:`~sedflow_dask.ingest.flags.resolve_flag_layout`).
    """
    p = check_file(path, "flags table")
    with open(p, "rb") as fh:
        magic = fh.read(6)
    fmt: Literal["fits", "parquet"]
    parts: tuple[tuple[int, ...], ...]
    if magic.startswith(b"SIMPLE"):
        table = inspect_fits_table(p, what="flags table")
        fmt, nrows, cols, version = "fits", table.nrows, table.columns, _version_of(table.header, "")
        parts = tuple(row_ranges(nrows, partition_rows))
        size, mtime, fits_table = table.size_bytes, table.mtime, table
    elif magic.startswith(b"PAR1"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(p)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ValueError(f"flags table {p} is not a readable Parquet file ({exc})") from None
        fmt, nrows = "parquet", pf.metadata.num_rows
        cols = parquet_columns(pf.schema_arrow)
        version = _parquet_version(pf.schema_arrow.metadata)
        groups, parts_l, acc = [], [], 0
        for g in range(pf.metadata.num_row_groups):
            groups.append(g)
            acc += pf.metadata.row_group(g).num_rows
            if acc >= partition_rows:
                parts_l.append(tuple(groups))
                groups, acc = [], 0
        if groups:
            parts_l.append(tuple(groups))
        parts = tuple(parts_l)
        st = p.stat()
        size, mtime, fits_table = st.st_size, st.st_mtime, None
    else:
        raise ValueError(f"flags table {p} is neither FITS nor Parquet (it starts with {magic!r})")
    source = f"flags table {p}"
    names = name_map(cols)
    if "NSAID" not in names:
        raise ValueError(f"{source}: missing column NSAID (the key to the NSA catalog)")
    nsaid = names["NSAID"]
    if cols[nsaid].dtype.kind not in "iu" or cols[nsaid].shape:
        raise ValueError(f"{source}: column {nsaid} is {cols[nsaid].describe()}; expected integer NSAIDs")
    if nrows == 0:
        raise ValueError(f"{source} has no rows")
    layout = resolve_flag_layout(cols, mode=mode, preset=preset, bands=bands, psf_err_band=psf_err_band,
                                 source=source)
    return FlagsTable(path=str(p), format=fmt, nrows=nrows, nsaid=nsaid, layout=layout, version=version,
                      parts=parts, size_bytes=size, mtime=mtime, fits=fits_table)


def iter_flags_rows(table: FlagsTable, part: tuple[int, ...], batch_rows: int = 100_000
                    ) -> Iterator[dict[str, np.ndarray]]:
    """The needed columns (NSAID + the layout's) of one part, in batches of <= ``batch_rows``.

    Per-band list columns come back as (n, 5) arrays; a list of another length is a
    ValueError naming the file, column and row.
    """
    cols = list(table.columns)
    if table.fits is not None:
        start, stop = part
        for s in range(start, stop, batch_rows):
            yield read_fits_rows(table.fits, cols, s, min(s + batch_rows, stop))
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(table.path)
    first_row = sum(pf.metadata.row_group(g).num_rows for g in range(part[0]))
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=list(part), columns=cols):
        yield {c: arrow_to_numpy(batch.column(c), c, table.path, first_row) for c in cols}
        first_row += batch.num_rows


def arrow_to_numpy(col, name: str, path: str, first_row: int, what: str = "flags table") -> np.ndarray:
    """A numpy array of one Arrow column: list columns as (n, 5) ugriz arrays, float nulls as NaN.

    A list of another length, or a null in a non-float column, is a ValueError naming ``what``,
    the file, the column and the row (counted from ``first_row``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != 5)
        if bad.size:
            raise ValueError(f"{what} {path}: column {name} row {first_row + bad[0]} has "
                             f"{lengths[bad[0]]} entries; expected 5 (ugriz)")
        values = pc.list_flatten(col)
        if pa.types.is_floating(values.type):
            values = pc.fill_null(values, float("nan"))
        return np.asarray(values.to_numpy(zero_copy_only=False)).reshape(-1, 5)
    if col.null_count and not pa.types.is_floating(col.type):  # float nulls become NaN
        row = first_row + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{what} {path}: column {name} row {row} is null")
    return col.to_numpy(zero_copy_only=False)
