"""The NSA reader: v1_0_1 ``SERSIC_NMGY``/``ELPETRO_NMGY`` or v0 ``NMGY`` FNugriz arrays, ugriz = 2..6.

NSA fluxes are already what the models expect (AB nanomaggies, corrected for Galactic
extinction, with kcorrect's error floors in their inverse variances), so this reader applies
no correction. It is the one reader with SDSS flag cuts: a companion keyed by NSAID, or flag
columns inside the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..loaders import NSAFile, describe_nsa, read_fits_rows, read_nsa_rows
from ..schema import ColumnInfo, FluxKind
from .base import CatalogReader, positions_frame
from .tables import TableFile

#: What the NSA preset records about the corrections it does not apply.
NSA_CORRECTIONS: dict[str, Any] = {
    "extinction": False, "ab_offsets": False, "error_floors": False,
    "reason": "NSA fluxes are already AB, corrected for Galactic extinction, with kcorrect's error floors",
}


@dataclass(frozen=True)
class NSAReader(CatalogReader):
    """An NSA FITS catalog (see the module docstring).

    Attributes:
        nsa: the checked file and its schema.
        detected: True when ``--preset auto`` chose this reader.
    """

    nsa: NSAFile
    detected: bool = False
    preset = "nsa"

    @property
    def table(self) -> TableFile:
        t = self.nsa.table
        return TableFile(path=t.path, format="fits", nrows=t.nrows, columns=t.columns, what="NSA catalog", fits=t)

    @property
    def version(self) -> str | None:
        return self.nsa.version

    def read_frame(self, start: int, stop: int) -> pd.DataFrame:
        return read_nsa_rows(self.nsa, start, stop)

    def read_positions(self, start: int, stop: int) -> pd.DataFrame:
        s = self.nsa.schema
        a = read_fits_rows(self.nsa.table, [s.nsaid, s.ra, s.dec], start, stop)
        return positions_frame(a[s.nsaid], a[s.ra], a[s.dec])

    def flag_columns(self) -> Mapping[str, ColumnInfo]:
        return self.nsa.table.columns

    def provenance(self) -> dict[str, Any]:
        s = self.nsa.schema
        how = "detected from NSAID and " + s.flux if self.detected else "given"
        statement = (f"preset nsa ({how}): NSA {s.version} schema{f' ({self.nsa.version})' if self.nsa.version else ''}, "
                     f"{s.flux_kind} fluxes {s.flux}/{s.ivar} [AB nmgy], ids from {s.nsaid}; no corrections "
                     f"(NSA fluxes already carry extinction, AB and kcorrect floors)")
        return {"preset": "nsa", "detected": self.detected, "format": "fits", "statement": statement,
                "nsa_schema": s.version, "nsa_version": self.nsa.version, "flux": s.flux_kind, "flux_column": s.flux,
                "ivar_column": s.ivar, "id": f"{s.nsaid} column",
                "columns": {"id": s.nsaid, "ra": s.ra, "dec": s.dec, "z": s.z, "flux": s.flux, "ivar": s.ivar},
                "corrections": dict(NSA_CORRECTIONS)}


def open_nsa_reader(table: TableFile, flux: FluxKind = "sersic", *, need_dflags: bool = False,
                    detected: bool = False) -> NSAReader:
    """The NSA reader of a described table (FITS only); ValueError naming missing or mistyped columns."""
    if table.format != "fits" or table.fits is None:
        raise ValueError(f"{table.source} is {table.format}; the nsa preset reads the NSA's FITS files only "
                         f"(use --preset table with --columns for other tables)")
    return NSAReader(nsa=describe_nsa(table.fits, flux, need_dflags=need_dflags), detected=detected)
