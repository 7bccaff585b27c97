"""The one interface every catalog reader implements, and the standard frame they all return.

A reader turns one catalog file, a row range at a time, into the *standard frame*:

============  =====================================================================
``nsaid``     int64 galaxy id: the NSAID for the NSA, the id column (``OBJID``,
              ``--columns id=...``) or the 1-based row number otherwise
``ra, dec``   float64, deg
``z``         float64 redshift
``flux_u..z`` float64 AB nanomaggies (extinction-corrected, with kcorrect's error floors)
``ivar_u..z`` float64 inverse variances [nmgy⁻²]; ≤ 0 or non-finite = no measurement
============  =====================================================================

indexed by the row number in the file (0-based). Everything after the reader (reason bits,
flag cuts, out-of-support flags, HATS writing) reads only this frame, so it is the same for
every reader. Readers never drop or reorder rows, and a value they cannot use (a sentinel
magnitude or flux, a null) becomes NaN or a zero ivar, i.e. an unmeasured band downstream,
never an error; a zero or negative flux is a measurement and goes through as it is. A file or
column they cannot read at all is a ValueError naming the file and the column.

Readers are frozen dataclasses: Dask ships them to the workers, which read their own ranges.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ...photometry import FLUX_COLUMNS, IVAR_COLUMNS, N_BANDS
from ..core import RAW_COLUMNS
from ..schema import ColumnInfo, preview_columns
from .tables import TableFile

#: Names of the catalog presets, in the order ``auto`` tries them.
PRESETS: tuple[str, ...] = ("nsa", "sdss", "table")


class CatalogReader(ABC):
    """One catalog file read as standard frames (module docstring), a row range at a time.

    Subclasses set ``preset`` and implement the four abstract members; those with SDSS flag
    support (the NSA) also override :meth:`flag_columns`.
    """

    preset: ClassVar[str]

    @property
    @abstractmethod
    def table(self) -> TableFile:
        """The file being read."""

    @abstractmethod
    def read_frame(self, start: int, stop: int) -> pd.DataFrame:
        """The standard frame of rows [start, stop) (``RAW_COLUMNS``, index = row numbers)."""

    @abstractmethod
    def read_positions(self, start: int, stop: int) -> pd.DataFrame:
        """``nsaid``, ``ra``, ``dec`` of rows [start, stop): what the scan and the HEALPix mapping need."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What the reader did: preset, detected or given, columns read, units, corrections."""

    @property
    def path(self) -> str:
        return self.table.path

    @property
    def nrows(self) -> int:
        return self.table.nrows

    @property
    def source(self) -> str:
        """The file as messages name it."""
        return self.table.source

    @property
    def version(self) -> str | None:
        """The catalog's NSA version where it has one (flags companions are checked against it)."""
        return None

    def flag_columns(self) -> Mapping[str, ColumnInfo] | None:
        """The table's columns where SDSS flag cuts apply (companion or in-table flags); None: no flag cuts."""
        return None

    def read_columns(self, columns: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        """Stored columns of rows [start, stop) as they are (in-table flag words)."""
        return self.table.read(columns, start, stop)

    def statement(self) -> str:
        """One line: which preset, detected or given, and what the reader does to the values."""
        return str(self.provenance()["statement"])


# -- helpers shared by the readers ---------------------------------------------------------------
def normalised(name: str) -> str:
    """A column name compared across exports: upper case, without underscores (``modelFlux_u`` =
    ``MODELFLUX_U``, ``modelFluxIvar_u`` = ``MODELFLUX_IVAR_U``)."""
    return name.upper().replace("_", "")


def name_index(columns: Iterable[str], source: str) -> dict[str, str]:
    """Normalised name -> stored name; ValueError when two stored names normalise alike."""
    out: dict[str, str] = {}
    for c in columns:
        key = normalised(c)
        if key in out:
            raise ValueError(f"{source}: columns {out[key]} and {c} name the same quantity; rename or drop one")
        out[key] = c
    return out


def find_column(table: TableFile, name: str, key: str) -> str:
    """The stored column ``name`` (exact, else the one case-insensitive match) that the column map
    gives for ``key``; ValueError naming the file, the key and the file's columns when absent."""
    if name in table.columns:
        return name
    matches = [c for c in table.columns if c.upper() == name.upper()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{table.source}: --columns {key}={name} matches {', '.join(matches)}; give the exact name")
    raise ValueError(f"{table.source}: --columns {key}={name}: no column {name}; the file has "
                     f"{preview_columns(table.columns)}")


def band_columns(index: Mapping[str, str], columns: Mapping[str, ColumnInfo], base: str) -> tuple[str, ...] | None:
    """Stored names holding ugriz values of ``base``: one (5,) vector column (``MODELFLUX``) or five
    per-band columns (``modelFlux_u`` … ``modelFlux_z``); None when the table has neither."""
    vector = index.get(normalised(base))
    if vector is not None and tuple(columns[vector].shape) == (N_BANDS,):
        return (vector,)
    per_band = tuple(index.get(normalised(base) + b) for b in "UGRIZ")
    return per_band if all(per_band) else None  # type: ignore[return-value]


def ugriz_array(arrays: Mapping[str, np.ndarray], names: Sequence[str], source: str, start: int) -> np.ndarray:
    """(n, 5) float64 from one vector column or five per-band columns (see :func:`band_columns`)."""
    if len(names) == 1:
        return as_float(arrays[names[0]], names[0], source, start).reshape(-1, N_BANDS)
    return np.column_stack([as_float(arrays[c], c, source, start) for c in names])


def as_float(values, column: str, source: str, start: int) -> np.ndarray:
    """float64 of stored values; text that is not a number (``null``, empty) becomes NaN."""
    a = np.asarray(values)
    if a.dtype.kind in "fiu":
        return a.astype(np.float64)
    if a.dtype.kind == "b":
        raise ValueError(f"{source}: column {column} is boolean (row {start} on); expected numbers")
    return pd.to_numeric(pd.Series(a.ravel()), errors="coerce").to_numpy(np.float64).reshape(a.shape)


def as_galaxy_ids(values, column: str, source: str, start: int) -> np.ndarray:
    """int64 galaxy ids; ValueError naming the row of a missing, fractional or too large id."""
    a = np.asarray(values)
    if a.dtype.kind == "i":
        return a.astype(np.int64)
    if a.dtype.kind == "u":
        big = np.flatnonzero(a > np.iinfo(np.int64).max)
        if big.size:
            raise ValueError(f"{source}: column {column} row {start + big[0]} holds {a[big[0]]}, beyond int64; "
                             f"choose another id column (--columns id=COL)")
        return a.astype(np.int64)
    f = as_float(a, column, source, start)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(f) | (f != np.round(f)) | (np.abs(f) >= 2.0**63)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{source}: column {column} row {start + r} is {a[r]!r}, not an integer galaxy id")
    # exact integers beyond 2**53 arrive as text: parse them as Python ints, not via float
    if a.dtype.kind in "OUS":
        try:
            return np.array([int(str(v)) for v in a.ravel()], dtype=np.int64)
        except (ValueError, OverflowError):
            pass
    return f.astype(np.int64)


def row_ids(start: int, stop: int) -> np.ndarray:
    """The 1-based row numbers of rows [start, stop): the galaxy id of a table without an id column."""
    return np.arange(start + 1, stop + 1, dtype=np.int64)


#: Stored flux values that are placeholders for "no measurement" in table exports (CasJobs,
#: TOPCAT, IDL pipelines), not fluxes: a real measurement never lands exactly on them.
FLUX_SENTINELS: tuple[float, ...] = (-9999.0, -999.0, -99.0)


def mask_flux_sentinels(flux, ivar) -> tuple[np.ndarray, np.ndarray]:
    """(flux, ivar) float64 arrays of the same shape, e.g. (n, 5) or (n,), with every stored flux
    equal to a :data:`FLUX_SENTINELS` value turned into NaN with ivar 0; other fluxes, negative
    ones included, unchanged."""
    f = np.array(flux, dtype=np.float64)
    w = np.array(ivar, dtype=np.float64)
    sentinel = np.isin(f, FLUX_SENTINELS)
    return np.where(sentinel, np.nan, f), np.where(sentinel, 0.0, w)


def standard_frame(ids, ra, dec, z, flux, ivar, start: int) -> pd.DataFrame:
    """The standard frame (``RAW_COLUMNS``) of rows starting at ``start`` from (n,) and (n, 5) arrays."""
    f = np.asarray(flux, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    n = len(f)
    data: dict[str, np.ndarray] = {"nsaid": np.asarray(ids, dtype=np.int64),
                                   "ra": np.asarray(ra, dtype=np.float64), "dec": np.asarray(dec, dtype=np.float64),
                                   "z": np.asarray(z, dtype=np.float64)}
    for k, (fc, wc) in enumerate(zip(FLUX_COLUMNS, IVAR_COLUMNS)):
        data[fc] = f[:, k]
        data[wc] = w[:, k]
    return pd.DataFrame({c: data[c] for c in RAW_COLUMNS}, index=pd.RangeIndex(start, start + n, name="row"))


def positions_frame(ids, ra, dec) -> pd.DataFrame:
    """``nsaid`` (int64), ``ra``, ``dec`` (float64) of a row range."""
    return pd.DataFrame({"nsaid": np.asarray(ids, dtype=np.int64), "ra": np.asarray(ra, dtype=np.float64),
                         "dec": np.asarray(dec, dtype=np.float64)})
