"""The generic table reader: any FITS, Parquet or CSV table read through a column map.

The map (``--columns id=OBJID,ra=RA,dec=DEC,z=Z,flux_u=F_U,ivar_u=W_U,...`` or the
``[ingest.columns]`` table of a config file) names, per standard quantity, the stored column:

- ``ra``, ``dec`` [deg] and ``z``: required; ``id``: optional (else the 1-based row number);
- per ugriz band one of: ``flux_b`` with ``ivar_b`` (inverse variance) or ``fluxerr_b`` (1σ), in
  ``flux_unit`` (nanomaggies, maggies, jy, ujy; ivar in its inverse square), or ``mag_b`` with
  ``magerr_b`` in ``mag_system`` (AB).

The table's photometry is taken as it is: AB, already corrected for Galactic extinction, with
its own errors (no SDSS corrections here; the ingest's sanity check says when errors sit below
kcorrect's floors). Unusable values become unmeasured bands downstream (``bands_used``; a
galaxy with fewer than 3 measured bands gets ``TOO_FEW_BANDS``), never errors: a magnitude
that is NaN or a sentinel (``|m| ≥ 50``: 99, −99, −9999 ...) becomes a NaN flux without an
error; a magnitude error that is ≤ 0, NaN or a sentinel, or a flux error that is ≤ 0 or NaN,
becomes ivar 0; a stored flux equal to a sentinel (−9999, −999, −99) becomes a NaN flux with
ivar 0. Other fluxes, ivars and redshifts go through as they are: a zero or negative flux with
a valid error is a measurement, a zero or negative ivar no measurement, a −9999 z
``Z_OUT_OF_RANGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...photometry import BANDS, N_BANDS, ivar_from_sigma_mag, mag_to_flux
from .base import (
    FLUX_SENTINELS,
    CatalogReader,
    as_float,
    as_galaxy_ids,
    find_column,
    mask_flux_sentinels,
    positions_frame,
    row_ids,
    standard_frame,
)
from .tables import TableFile

#: Multiply a flux in this unit by the factor to get nanomaggies (1 nmgy = 3.631 µJy).
FLUX_UNITS: dict[str, float] = {"nanomaggies": 1.0, "maggies": 1e9, "jy": 1e6 / 3.631, "ujy": 1.0 / 3.631}
MAG_SYSTEMS: tuple[str, ...] = ("ab",)
#: |m| at or beyond this is a sentinel, not a magnitude.
MAG_SENTINEL = 50.0
#: Keys of the column map.
POSITION_KEYS: tuple[str, ...] = ("id", "ra", "dec", "z")
BAND_KEYS: tuple[str, ...] = ("flux", "ivar", "fluxerr", "mag", "magerr")
MAP_KEYS: tuple[str, ...] = POSITION_KEYS + tuple(f"{k}_{b}" for k in BAND_KEYS for b in BANDS)
#: The forms a band's photometry may take: (value key, error key).
BAND_FORMS: tuple[tuple[str, str], ...] = (("flux", "ivar"), ("flux", "fluxerr"), ("mag", "magerr"))
SENTINEL_RULE = (f"magnitudes NaN or |m| >= {MAG_SENTINEL:g} -> NaN flux, ivar 0 (band not measured); "
                 f"magnitude errors <= 0, NaN or >= {MAG_SENTINEL:g} and flux errors <= 0 or NaN -> ivar 0; "
                 f"stored fluxes {', '.join(f'{v:g}' for v in FLUX_SENTINELS)} -> NaN flux, ivar 0; other fluxes "
                 f"(zero and negative ones are measurements), ivars and z as stored")


def parse_column_map(text: str) -> dict[str, str]:
    """``"id=OBJID,ra=RA,..."`` as a dict; ValueError naming a malformed item or unknown key."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        key, sep, col = (s.strip() for s in item.partition("="))
        if not sep or not key or not col:
            raise ValueError(f"--columns item {item!r} is not of the form name=COLUMN")
        if key in out:
            raise ValueError(f"--columns names {key} twice")
        out[key] = col
    check_map_keys(out)
    return out


def check_map_keys(columns: Mapping[str, str]) -> None:
    """ValueError naming any key of a column map that is not a standard name."""
    unknown = [k for k in columns if k not in MAP_KEYS]
    if unknown:
        raise ValueError(f"unknown column-map key(s) {', '.join(unknown)}; the keys are id, ra, dec, z and per band "
                         f"b in ugriz flux_b with ivar_b or fluxerr_b, or mag_b with magerr_b")


def has_photometry_keys(columns: Mapping[str, str]) -> bool:
    """Whether a column map names photometry (so it describes a whole table, not a few overrides)."""
    return any(k.split("_")[0] in BAND_KEYS for k in columns)


@dataclass(frozen=True)
class ColumnMapReader(CatalogReader):
    """A table read through a column map (see the module docstring).

    Attributes:
        file: the table.
        columns: standard key -> stored column, checked.
        forms: per band, the (value, error) keys used, in ugriz order.
        flux_unit, mag_system: the units named.
        detected: True when ``--preset auto`` chose this reader (a map with photometry was given).
    """

    file: TableFile
    columns: tuple[tuple[str, str], ...]
    forms: tuple[tuple[str, str], ...]
    flux_unit: str = "nanomaggies"
    mag_system: str = "ab"
    detected: bool = False
    preset = "table"

    @property
    def table(self) -> TableFile:
        return self.file

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.columns)

    def _ids(self, a, start: int, stop: int) -> np.ndarray:
        col = self.mapping.get("id")
        return row_ids(start, stop) if col is None else as_galaxy_ids(a[col], col, self.source, start)

    def read_frame(self, start: int, stop: int) -> pd.DataFrame:
        m = self.mapping
        a = self.file.read(list(m.values()), start, stop)
        src = self.source
        value = {k: as_float(a[c], c, src, start) for k, c in m.items() if k != "id"}
        n = stop - start
        flux = np.empty((n, N_BANDS))
        ivar = np.empty((n, N_BANDS))
        scale = FLUX_UNITS[self.flux_unit]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for k, (b, (vkey, ekey)) in enumerate(zip(BANDS, self.forms)):
                v, e = value[f"{vkey}_{b}"], value[f"{ekey}_{b}"]
                if vkey == "mag":
                    sentinel = ~np.isfinite(v) | (np.abs(v) >= MAG_SENTINEL)
                    flux[:, k] = np.where(sentinel, np.nan, mag_to_flux(np.where(sentinel, 0.0, v)))
                    good = ~sentinel & np.isfinite(e) & (e > 0) & (e < MAG_SENTINEL)
                    ivar[:, k] = np.where(good, ivar_from_sigma_mag(flux[:, k], np.where(good, e, 1.0)), 0.0)
                else:
                    if ekey == "ivar":
                        w = e / scale**2
                    else:
                        sigma = e * scale
                        good = np.isfinite(sigma) & (sigma > 0)
                        w = np.where(good, 1.0 / np.where(good, sigma, 1.0) ** 2, 0.0)
                    # sentinels are judged on the stored value, before the unit scale
                    stored, kept = mask_flux_sentinels(v, w)
                    flux[:, k], ivar[:, k] = stored * scale, kept
        return standard_frame(self._ids(a, start, stop), value["ra"], value["dec"], value["z"], flux, ivar, start)

    def read_positions(self, start: int, stop: int) -> pd.DataFrame:
        m = self.mapping
        cols = [m[k] for k in ("id", "ra", "dec") if k in m]
        a = self.file.read(cols, start, stop)
        return positions_frame(self._ids(a, start, stop), as_float(a[m["ra"]], m["ra"], self.source, start),
                               as_float(a[m["dec"]], m["dec"], self.source, start))

    def provenance(self) -> dict[str, Any]:
        m = self.mapping
        bands = {b: f"{v}+{e}" for b, (v, e) in zip(BANDS, self.forms)}
        units = []
        if any(v == "flux" for v, _ in self.forms):
            units.append(f"fluxes in {self.flux_unit}")
        if any(v == "mag" for v, _ in self.forms):
            units.append(f"{self.mag_system.upper()} magnitudes")
        how = "detected from the column map" if self.detected else "given"
        statement = (f"preset table ({how}): {self.file.format} read through the column map "
                     f"({', '.join(f'{k}={c}' for k, c in self.columns)}); {' and '.join(units)}; ids from "
                     f"{m.get('id', 'the row number (1-based)')}; no corrections (taken as AB, extinction-corrected, "
                     f"with their own errors); sentinels: {SENTINEL_RULE}; no SDSS flag cuts")
        return {"preset": "table", "detected": self.detected, "format": self.file.format, "statement": statement,
                "columns": m, "bands": bands, "flux_unit": self.flux_unit, "mag_system": self.mag_system,
                "id": f"{m['id']} column" if "id" in m else "row number (1-based)", "sentinels": SENTINEL_RULE,
                "corrections": {"extinction": False, "ab_offsets": False, "error_floors": False,
                                "reason": "a generic table's photometry is taken as AB, extinction-corrected, "
                                          "with its own errors"}}


def open_column_map_reader(table: TableFile, columns: Mapping[str, str], *, flux_unit: str = "nanomaggies",
                           mag_system: str = "ab", detected: bool = False) -> ColumnMapReader:
    """The column-map reader of a described table; ValueError naming the missing key or column."""
    src = table.source
    check_map_keys(columns)
    if flux_unit not in FLUX_UNITS:
        raise ValueError(f"unknown flux unit {flux_unit!r}; expected one of {', '.join(FLUX_UNITS)}")
    if mag_system not in MAG_SYSTEMS:
        raise ValueError(f"unknown magnitude system {mag_system!r}; expected one of {', '.join(MAG_SYSTEMS)}")
    if "ra" not in columns or "dec" not in columns:
        raise ValueError(f"{src}: the column map has no {'ra' if 'ra' not in columns else 'dec'}: the catalog is "
                         f"partitioned on the sky, so every galaxy needs RA/Dec [deg]; name them with "
                         f"--columns ra=COL,dec=COL (or ra/dec in [ingest.columns])")
    if "z" not in columns:
        raise ValueError(f"{src}: the column map has no z; name the redshift column with --columns z=COL")
    forms = []
    for b in BANDS:
        given = [(v, e) for v, e in BAND_FORMS if f"{v}_{b}" in columns and f"{e}_{b}" in columns]
        if len(given) != 1:
            named = [k for k in columns if k.endswith(f"_{b}")]
            what = f"names {', '.join(named)}" if named else "names nothing"
            raise ValueError(f"{src}: band {b}: the column map {what}; give flux_{b} with ivar_{b} or fluxerr_{b}, "
                             f"or mag_{b} with magerr_{b} (exactly one of these forms)")
        forms.append(given[0])
    used = {"id", "ra", "dec", "z"} | {f"{k}_{b}" for b, form in zip(BANDS, forms) for k in form}
    unused = [k for k in columns if k not in used]
    if unused:
        raise ValueError(f"{src}: the column map also names {', '.join(unused)}, which no band form uses")
    resolved = {k: find_column(table, c, k) for k, c in columns.items()}
    for k, c in resolved.items():
        if table.columns[c].shape:
            raise ValueError(f"{src}: --columns {k}={c}: {c} holds {table.columns[c].describe()}; the column map "
                             f"takes one value per row")
    return ColumnMapReader(file=table, columns=tuple(resolved.items()), forms=tuple(forms), flux_unit=flux_unit,
                           mag_system=mag_system, detected=detected)
