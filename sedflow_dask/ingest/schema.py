"""NSA catalog schema: which columns a file holds, under which names, and their types.

The names and the FNugriz layout are :mod:`sedflow_dask.survey.nsa`'s (``docs/nsa-ingest.md``
§1.3); this module finds them in a file's columns. Pure functions on column names and
(dtype, shape) descriptions; no file access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..survey.nsa import (
    DEC_COLUMN,
    DFLAGS_COLUMN,
    FLUX_COLUMNS,
    ID_COLUMN,
    N_NSA_BANDS,
    RA_COLUMN,
    Z_COLUMN,
    NSASchemaVersion,
)

FluxKind = Literal["sersic", "elpetro"]


@dataclass(frozen=True)
class ColumnInfo:
    """One table column: its name as stored, numpy dtype (native order) and per-row shape."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...] = ()

    def describe(self) -> str:
        shape = "" if not self.shape else f" with per-row shape {self.shape}"
        return f"{self.dtype}{shape}"


@dataclass(frozen=True)
class NSASchema:
    """Where the quantities SEDflow needs live in one NSA file.

    Attributes:
        version: "v1" (``SERSIC_NMGY``, NSA v1_0_x) or "v0" (``NMGY``, NSA v0_1_x).
        flux_kind: "sersic" or "elpetro".
        flux, ivar: stored names of the 7-band flux [nmgy] and inverse-variance [nmgy⁻²] arrays.
        nsaid, ra, dec, z: stored names of the identity, position [deg] and redshift columns.
        dflags: stored name of the 7-band DFLAGS array, or None when the file has none.
    """

    version: NSASchemaVersion
    flux_kind: FluxKind
    flux: str
    ivar: str
    nsaid: str
    ra: str
    dec: str
    z: str
    dflags: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored names of every column the ingest reads (the projection)."""
        cols = (self.nsaid, self.ra, self.dec, self.z, self.flux, self.ivar)
        return cols + ((self.dflags,) if self.dflags else ())


def name_map(columns: Iterable[str]) -> dict[str, str]:
    """Upper-case name -> stored name (FITS names are case-insensitive; Parquet ones are not)."""
    return {c.upper(): c for c in columns}


def detect_schema(columns: Iterable[str], flux: FluxKind = "sersic", *, source: str = "NSA file") -> NSASchema:
    """The schema of a file from its column names (``nsa-ingest.md`` §1.3 reader rule).

    ``SERSIC_NMGY`` present: v1; otherwise ``NMGY`` present: v0 (its ``NMGY`` is v1's
    ``SERSIC_NMGY``); otherwise, or when a required column is absent, a ValueError naming
    ``source`` and the missing columns. ``flux="elpetro"`` needs the v1 ``ELPETRO_NMGY`` pair.
    """
    names = name_map(columns)
    if flux not in ("sersic", "elpetro"):
        raise ValueError(f"unknown flux kind {flux!r}; expected 'sersic' or 'elpetro'")
    if "SERSIC_NMGY" in names:
        version: NSASchemaVersion = "v1"
    elif "NMGY" in names:
        version = "v0"
    else:
        raise ValueError(f"{source}: no NSA photometry columns: expected SERSIC_NMGY/SERSIC_NMGY_IVAR "
                         f"(NSA v1) or NMGY/NMGY_IVAR (NSA v0); the file has {preview_columns(names.values())}")
    if (version, flux) not in FLUX_COLUMNS:
        raise ValueError(f"{source}: --flux elpetro needs ELPETRO_NMGY/ELPETRO_NMGY_IVAR, which only NSA v1 files "
                         f"have; this is a v0 file (NMGY)")
    flux_col, ivar_col = FLUX_COLUMNS[(version, flux)]
    required = (ID_COLUMN, RA_COLUMN, DEC_COLUMN, Z_COLUMN, flux_col, ivar_col)
    missing = [c for c in required if c not in names]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)} (NSA {version} schema, flux {flux}); "
                         f"the file has {preview_columns(names.values())}")
    return NSASchema(version=version, flux_kind=flux, flux=names[flux_col], ivar=names[ivar_col],
                     nsaid=names[ID_COLUMN], ra=names[RA_COLUMN], dec=names[DEC_COLUMN], z=names[Z_COLUMN],
                     dflags=names.get(DFLAGS_COLUMN))


def check_column_types(schema: NSASchema, columns: Mapping[str, ColumnInfo], *, source: str = "NSA file") -> None:
    """ValueError naming ``source`` and the column when a column has the wrong dtype or shape.

    Flux and ivar: floating (7,) arrays; Z, RA, DEC: floating scalars; NSAID: integer scalar;
    DFLAGS: (7,) integer or floating array (the v0 data model lists it as float32).
    """
    def need(name: str, kinds: str, shape: tuple[int, ...], what: str) -> None:
        info = columns[name]
        if info.dtype.kind not in kinds or tuple(info.shape) != shape:
            shape_txt = "a scalar" if not shape else f"shape {shape}"
            raise ValueError(f"{source}: column {name} is {info.describe()}; expected {what}, {shape_txt} per row")

    need(schema.nsaid, "iu", (), "an integer")
    for col in (schema.ra, schema.dec, schema.z):
        need(col, "f", (), "a floating-point number")
    for col in (schema.flux, schema.ivar):
        need(col, "f", (N_NSA_BANDS,), f"a floating-point FNugriz array ({N_NSA_BANDS} values)")
    if schema.dflags:
        need(schema.dflags, "iuf", (N_NSA_BANDS,), f"an integer FNugriz bitmask array ({N_NSA_BANDS} values)")


def preview_columns(names: Iterable[str], n: int = 12) -> str:
    """"N columns (a, b, ...)": a file's columns in messages."""
    names = list(names)
    head = ", ".join(names[:n])
    return f"{len(names)} columns ({head}{', ...' if len(names) > n else ''})"
