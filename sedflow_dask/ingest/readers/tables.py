"""Catalog files as tables read in row ranges: FITS (HDU 1, fitsio), Parquet (pyarrow) and CSV (pandas).

The format is told by the file's first bytes, never by its name alone: a file named ``.fits``
that does not start with ``SIMPLE`` (a CSV saved under the wrong name, an HTML error page) is
refused before anything else happens, as is a truncated FITS file or a Parquet file without
its footer. A CSV may open with ``#`` comment lines (SkyServer writes ``#Table1``); its first
other line holds the column names. Values keep their stored dtypes; readers convert them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..loaders import FitsTable, arrow_to_numpy, check_file, inspect_fits_table, parquet_columns, read_fits_rows
from ..schema import ColumnInfo

TableFormat = Literal["fits", "parquet", "csv"]
#: File names that promise a format (checked against the file's first bytes).
_FITS_SUFFIXES = (".fits", ".fit", ".fts")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_BLOCK_ROWS = 1 << 18


@dataclass(frozen=True)
class TableFile:
    """A catalog file described from its header or first lines, without reading its rows.

    Attributes:
        path: the file.
        format: "fits", "parquet" or "csv".
        nrows: data rows.
        columns: stored name -> :class:`ColumnInfo` (per-row shape (5,) for ugriz vectors).
        what: how messages name the file ("catalog", "NSA catalog", ...).
        fits: the FITS description (format "fits").
        row_group_rows: rows in each Parquet row group (format "parquet").
        comment_lines: ``#`` lines before a CSV's header line (format "csv").
    """

    path: str
    format: TableFormat
    nrows: int
    columns: dict[str, ColumnInfo]
    what: str = "catalog"
    fits: FitsTable | None = None
    row_group_rows: tuple[int, ...] = ()
    comment_lines: int = 0

    @property
    def source(self) -> str:
        """The file as messages name it."""
        return f"{self.what} {self.path}"

    def read(self, columns: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows [start, stop) of the named columns, as numpy arrays ((n, 5) for ugriz vectors)."""
        cols = list(dict.fromkeys(columns))
        if not 0 <= start <= stop <= self.nrows:
            raise ValueError(f"{self.source}: row range [{start}, {stop}) outside its {self.nrows} rows")
        if self.fits is not None:
            return read_fits_rows(self.fits, cols, start, stop)
        if self.format == "parquet":
            return self._read_parquet(cols, start, stop)
        return self._read_csv(cols, start, stop)

    def _read_parquet(self, cols: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        bounds = np.concatenate([[0], np.cumsum(self.row_group_rows)])
        groups = [g for g in range(len(self.row_group_rows)) if bounds[g] < stop and bounds[g + 1] > start]
        if not groups:
            table = pq.read_schema(self.path).empty_table().select(cols)
        else:
            try:
                table = pq.ParquetFile(self.path).read_row_groups(groups, columns=cols)
            except (OSError, pa.ArrowException) as exc:
                raise ValueError(f"{self.source}: reading rows {start}-{stop - 1} failed ({exc})") from None
            first = int(bounds[groups[0]])
            table = table.slice(start - first, stop - start)
        return {c: arrow_to_numpy(table.column(c).combine_chunks(), c, self.path, start, what=self.what)
                for c in cols}

    def _read_csv(self, cols: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
        import pandas as pd

        header = self.comment_lines
        # physical line numbers: the comment lines, then the data lines before ``start``
        skip = lambda i: i < header or header < i <= header + start  # noqa: E731
        try:
            frame = pd.read_csv(self.path, skiprows=skip, nrows=stop - start, usecols=cols, skip_blank_lines=False,
                                low_memory=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ValueError(f"{self.source}: reading rows {start}-{stop - 1} failed ({exc})") from None
        if len(frame) != stop - start:
            raise ValueError(f"{self.source}: rows {start}-{stop - 1} gave {len(frame)} rows; the file changed "
                             f"since it was opened, or holds line breaks inside quoted values")
        return {c: frame[c].to_numpy() for c in cols}


def _leading_bytes(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def open_table(path: str | Path, *, what: str = "catalog") -> TableFile:
    """Check and describe a FITS, Parquet or CSV catalog; ValueError naming the file and the problem."""
    p = check_file(path, what)
    head = _leading_bytes(p)
    name = p.name.lower()
    shown = head[:40]
    if head.startswith(b"SIMPLE"):
        fits = inspect_fits_table(p, what=what)
        return TableFile(path=fits.path, format="fits", nrows=fits.nrows, columns=dict(fits.columns), what=what,
                         fits=fits)
    if head.startswith(b"\x1f\x8b"):
        raise ValueError(f"{what} {p} is gzip-compressed; decompress it first (gunzip) so that it can be read "
                         f"in row ranges")
    if name.endswith(_FITS_SUFFIXES):
        raise ValueError(f"{what} {p} is named like a FITS file but is not one: it starts with {shown!r}, not "
                         f"'SIMPLE'{' (a CSV/text file?)' if _is_text(head) else ''}")
    if head.startswith(b"PAR1"):
        return _open_parquet(p, what)
    if name.endswith(_PARQUET_SUFFIXES):
        raise ValueError(f"{what} {p} is named like a Parquet file but is not one: it starts with {shown!r}, "
                         f"not 'PAR1'")
    if not _is_text(head):
        raise ValueError(f"{what} {p} is neither FITS (starts with 'SIMPLE'), Parquet ('PAR1') nor a CSV text "
                         f"file: it starts with {shown!r}")
    return _open_csv(p, what)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a block boundary may cut a multi-byte character
        return exc.start >= len(head) - 3
    return True


def _open_parquet(p: Path, what: str) -> TableFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{what} {p} is not a readable Parquet file ({exc}); a truncated download?") from None
    md = pf.metadata
    groups = tuple(md.row_group(g).num_rows for g in range(md.num_row_groups))
    return TableFile(path=str(p), format="parquet", nrows=md.num_rows, columns=parquet_columns(pf.schema_arrow),
                     what=what, row_group_rows=groups)


def _open_csv(p: Path, what: str) -> TableFile:
    import pandas as pd

    comments = 0
    with open(p, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            comments += 1
    try:
        sample = pd.read_csv(p, skiprows=comments, nrows=1000, skip_blank_lines=False, low_memory=False)
        nrows = sum(len(block) for block in pd.read_csv(p, skiprows=comments, usecols=[0], skip_blank_lines=False,
                                                        chunksize=_CSV_BLOCK_ROWS))
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{what} {p} is not a readable CSV table ({str(exc).strip()})") from None
    if len(sample.columns) < 2:
        raise ValueError(f"{what} {p} is not a CSV table: its header line has {len(sample.columns)} column "
                         f"({', '.join(map(str, sample.columns))}); expected comma-separated column names")
    dup = [c for c in sample.columns if "." in str(c) and str(c).rsplit(".", 1)[0] in sample.columns]
    if dup:
        raise ValueError(f"{what} {p}: column names occur twice in the header ({', '.join(map(str, dup))})")
    columns = {str(c): ColumnInfo(name=str(c), dtype=np.dtype(sample[c].dtype)) for c in sample.columns}
    return TableFile(path=str(p), format="csv", nrows=int(nrows), columns=columns, what=what,
                     comment_lines=comments)
