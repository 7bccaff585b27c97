"""The SDSS reader: photometric tables as SkyServer/CasJobs export them (FITS, Parquet or CSV).

Fluxes: ``MODELFLUX``, ``PETROFLUX`` or ``CMODELFLUX`` with their ``_IVAR`` [SDSS nanomaggies],
as (5,) ugriz vectors (FITS, the kcorrect catalogue) or per-band columns (``modelFlux_u`` /
``modelFluxIvar_u``, ``MODELFLUX_U`` / ``MODELFLUX_IVAR_U``; names compare case- and
underscore-blind). ``EXTINCTION`` (vector or ``extinction_u`` …) [mag], a redshift column (``Z``
or ``REDSHIFT``), ``RA``/``DEC`` [deg]; the galaxy id is ``OBJID``, else ``SPECOBJID``, else the
1-based row number. ``--columns id=…,ra=…,dec=…,z=…`` names other columns for these four.

The values are brought onto the NSA's footing by :func:`~sedflow_dask.survey.sdss.correct_sdss_photometry`
(extinction, SDSS→AB offsets, kcorrect floors; each switchable and recorded). A table with
several flux kinds is refused unless one is chosen (``--flux`` / ``ingest.sdss_flux``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...survey.sdss import KCORRECT_FLOORS, SDSS_TO_AB, SDSSCorrections, correct_sdss_photometry
from .base import (
    CatalogReader,
    as_float,
    as_galaxy_ids,
    band_columns,
    find_column,
    mask_flux_sentinels,
    name_index,
    positions_frame,
    row_ids,
    standard_frame,
    ugriz_array,
)
from .tables import TableFile

#: Flux kind -> the SkyServer column stem.
SDSS_FLUX_KINDS: dict[str, str] = {"model": "MODELFLUX", "petro": "PETROFLUX", "cmodel": "CMODELFLUX"}
#: Id columns in order of preference (normalised names).
ID_CANDIDATES: tuple[str, ...] = ("OBJID", "SPECOBJID")
Z_CANDIDATES: tuple[str, ...] = ("Z", "REDSHIFT")
#: Keys of the column map the sdss preset takes.
OVERRIDABLE: tuple[str, ...] = ("id", "ra", "dec", "z")


def sdss_flux_kinds(table: TableFile) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Flux kind -> (flux columns, ivar columns) for each kind the table has complete."""
    index = name_index(table.columns, table.source)
    out = {}
    for kind, stem in SDSS_FLUX_KINDS.items():
        f = band_columns(index, table.columns, stem)
        w = band_columns(index, table.columns, stem + "IVAR")
        if f and w:
            out[kind] = (f, w)
    return out


def _describe(kind: str, cols: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    f, w = cols
    show = (lambda c: c[0] if len(c) == 1 else f"{c[0]}..{c[-1]}")  # noqa: E731
    return f"{kind} ({show(f)}, {show(w)})"


@dataclass(frozen=True)
class SDSSReader(CatalogReader):
    """An SDSS export (see the module docstring).

    Attributes:
        file: the table.
        flux_kind: "model", "petro" or "cmodel".
        flux, ivar: stored flux and ivar columns (one vector column or five per-band ones).
        extinction: stored extinction columns (empty when the correction is off).
        id_column: stored id column, or None (1-based row numbers).
        ra, dec, z: stored position and redshift columns.
        corrections: the corrections applied.
        detected: True when ``--preset auto`` chose this reader.
    """

    file: TableFile
    flux_kind: str
    flux: tuple[str, ...]
    ivar: tuple[str, ...]
    ra: str
    dec: str
    z: str
    id_column: str | None = None
    extinction: tuple[str, ...] = ()
    corrections: SDSSCorrections = field(default_factory=SDSSCorrections)
    detected: bool = False
    preset = "sdss"

    @property
    def table(self) -> TableFile:
        return self.file

    def _ids(self, arrays, start: int, stop: int):
        if self.id_column is None:
            return row_ids(start, stop)
        return as_galaxy_ids(arrays[self.id_column], self.id_column, self.source, start)

    def read_frame(self, start: int, stop: int) -> pd.DataFrame:
        cols = [*((self.id_column,) if self.id_column else ()), self.ra, self.dec, self.z, *self.flux, *self.ivar,
                *self.extinction]
        a = self.file.read(cols, start, stop)
        src = self.source
        flux = ugriz_array(a, self.flux, src, start)
        ivar = ugriz_array(a, self.ivar, src, start)
        ext = ugriz_array(a, self.extinction, src, start) if self.extinction else None
        f, w = correct_sdss_photometry(*mask_flux_sentinels(flux, ivar), ext, self.corrections)
        return standard_frame(self._ids(a, start, stop), as_float(a[self.ra], self.ra, src, start),
                              as_float(a[self.dec], self.dec, src, start), as_float(a[self.z], self.z, src, start),
                              f, w, start)

    def read_positions(self, start: int, stop: int) -> pd.DataFrame:
        cols = [*((self.id_column,) if self.id_column else ()), self.ra, self.dec]
        a = self.file.read(cols, start, stop)
        return positions_frame(self._ids(a, start, stop), as_float(a[self.ra], self.ra, self.source, start),
                               as_float(a[self.dec], self.dec, self.source, start))

    def provenance(self) -> dict[str, Any]:
        c = self.corrections
        done = []
        if c.extinction:
            done.append(f"Galactic extinction from {'/'.join(self.extinction[:1])}{'..' if len(self.extinction) > 1 else ''}")
        if c.ab_offsets:
            done.append("SDSS->AB offsets (" + ", ".join(f"{b} {d:+.2f}" for b, d in zip("ugriz", SDSS_TO_AB) if d)
                        + " mag)")
        if c.error_floors:
            done.append("kcorrect error floors (" + ", ".join(f"{v:g}" for v in KCORRECT_FLOORS) + " mag)")
        off = [name for name, on in (("extinction", c.extinction), ("AB offsets", c.ab_offsets),
                                     ("error floors", c.error_floors)) if not on]
        how = f"detected from {self.flux[0]}" if self.detected else "given"
        statement = (f"preset sdss ({how}): {self.flux_kind} fluxes {self.flux[0]}{'..' if len(self.flux) > 1 else ''} "
                     f"[SDSS nmgy] in {self.file.format}, ids from "
                     f"{self.id_column or 'the row number (1-based)'}; applied: {'; '.join(done) or 'nothing'}"
                     f"{'; switched off: ' + ', '.join(off) if off else ''}; no SDSS flag cuts")
        return {"preset": "sdss", "detected": self.detected, "format": self.file.format, "statement": statement,
                "flux": self.flux_kind, "flux_column": self.flux[0] if len(self.flux) == 1 else list(self.flux),
                "ivar_column": self.ivar[0] if len(self.ivar) == 1 else list(self.ivar),
                "id": f"{self.id_column} column" if self.id_column else "row number (1-based)",
                "columns": {"id": self.id_column, "ra": self.ra, "dec": self.dec, "z": self.z,
                            "flux": list(self.flux), "ivar": list(self.ivar), "extinction": list(self.extinction)},
                "units": "SDSS nanomaggies (before the corrections)", "corrections": c.provenance()}


def open_sdss_reader(table: TableFile, *, flux: str = "", corrections: SDSSCorrections = SDSSCorrections(),
                     columns: Mapping[str, str] | None = None, detected: bool = False) -> SDSSReader:
    """The SDSS reader of a described table; ValueError naming what is missing or ambiguous."""
    src = table.source
    columns = dict(columns or {})
    extra = sorted(set(columns) - set(OVERRIDABLE))
    if extra:
        raise ValueError(f"{src}: the sdss preset takes only {', '.join(OVERRIDABLE)} in --columns "
                         f"(got {', '.join(extra)}); use --preset table for a full column map")
    kinds = sdss_flux_kinds(table)
    if flux:
        if flux not in SDSS_FLUX_KINDS:
            raise ValueError(f"unknown SDSS flux kind {flux!r}; expected one of {', '.join(SDSS_FLUX_KINDS)}")
        if flux not in kinds:
            stem = SDSS_FLUX_KINDS[flux]
            raise ValueError(f"{src}: --flux {flux} needs {stem} and {stem}_IVAR (ugriz vectors or per-band "
                             f"columns); the table has {', '.join(_describe(k, v) for k, v in kinds.items()) or 'no SDSS fluxes'}")
    elif len(kinds) > 1:
        raise ValueError(f"{src} is ambiguous: it has {len(kinds)} kinds of SDSS fluxes, "
                         f"{'; '.join(_describe(k, v) for k, v in kinds.items())}. Choose one with "
                         f"--flux {'|'.join(kinds)} (ingest.sdss_flux)")
    elif not kinds:
        raise ValueError(f"{src}: no SDSS fluxes: expected MODELFLUX, PETROFLUX or CMODELFLUX with its _IVAR, as "
                         f"ugriz vectors or per-band columns (modelFlux_u, modelFluxIvar_u, ...)")
    else:
        flux = next(iter(kinds))
    f_cols, w_cols = kinds[flux]
    index = name_index(table.columns, src)

    def pick(key: str, candidates: tuple[str, ...], required: str | None) -> str | None:
        if key in columns:
            return find_column(table, columns[key], key)
        found = [index[c] for c in candidates if c in index]
        if key == "id":
            return found[0] if found else None
        if len(found) > 1:
            raise ValueError(f"{src}: several {key} columns ({', '.join(found)}); name one with --columns {key}=COL")
        if not found and required:
            raise ValueError(required)
        return found[0] if found else None

    ra = pick("ra", ("RA",), None)
    dec = pick("dec", ("DEC",), None)
    if ra is None or dec is None:
        raise ValueError(f"{src}: no RA/Dec columns (looked for RA and DEC): the catalog is partitioned on the sky, "
                         f"so every galaxy needs a position [deg]; name the columns with --columns ra=COL,dec=COL "
                         f"(or ra/dec in [ingest.columns])")
    z = pick("z", Z_CANDIDATES, f"{src}: no redshift column (looked for Z, z, REDSHIFT); name it with "
                                f"--columns z=COL (or z in [ingest.columns])")
    id_column = pick("id", ID_CANDIDATES, None)
    extinction: tuple[str, ...] = ()
    if corrections.extinction:
        ext = band_columns(index, table.columns, "EXTINCTION")
        if ext is None:
            raise ValueError(f"{src}: no EXTINCTION column (a (5,) vector or extinction_u..z) for the Galactic "
                             f"extinction correction; pass --no-extinction (ingest.extinction = false) if the "
                             f"fluxes are already corrected")
        extinction = ext
    return SDSSReader(file=table, flux_kind=flux, flux=f_cols, ivar=w_cols, ra=ra, dec=dec, z=z,  # type: ignore[arg-type]
                      id_column=id_column, extinction=extinction, corrections=corrections, detected=detected)
