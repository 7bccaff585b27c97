"""Choosing the reader of a catalog file: ``--preset auto|nsa|sdss|table``.

``auto`` looks only at column names: a column map that names photometry means ``table``;
``NSAID`` with ``SERSIC_NMGY`` or ``NMGY`` means ``nsa``; SDSS flux columns (``MODELFLUX`` …)
mean ``sdss``; anything else is refused with what was looked for and how to say it instead.
"""

from __future__ import annotations

from pathlib import Path

from ...config import IngestConfig
from ...survey.sdss import SDSSCorrections
from ..schema import name_map, preview_columns
from .base import PRESETS, CatalogReader
from .column_map import has_photometry_keys, open_column_map_reader
from .nsa import open_nsa_reader
from .sdss import SDSS_FLUX_KINDS, open_sdss_reader, sdss_flux_kinds
from .tables import TableFile, open_table


def detect_preset(table: TableFile, columns: dict[str, str] | None = None) -> str:
    """The preset ``auto`` chooses for a table (see the module docstring); ValueError when none fits."""
    columns = columns or {}
    if has_photometry_keys(columns):
        return "table"
    names = name_map(table.columns)
    if "NSAID" in names and ("SERSIC_NMGY" in names or "NMGY" in names):
        return "nsa"
    if sdss_flux_kinds(table):
        return "sdss"
    if columns:
        return "table"
    raise ValueError(f"{table.source}: cannot tell what kind of catalog this is: no NSA columns (NSAID with "
                     f"SERSIC_NMGY or NMGY), no SDSS fluxes ({', '.join(SDSS_FLUX_KINDS.values())} with _IVAR, as "
                     f"vectors or per band) and no column map. Describe it with --preset table --columns "
                     f"id=..,ra=..,dec=..,z=..,flux_u=..,ivar_u=..,... (or mag_u=..,magerr_u=..); the file has "
                     f"{preview_columns(table.columns)}")


def open_catalog(path: str | Path, config: IngestConfig | None = None) -> CatalogReader:
    """Check a catalog file and open the reader its preset calls for (``config.preset``; auto detects).

    Everything is checked from the file's header or first lines: its format, truncation, the
    columns the reader needs and their kinds; a problem is a ValueError naming the file and,
    where it applies, the column and the option that would fix it. No rows are read.
    """
    config = config or IngestConfig()
    table = open_table(path, what="catalog")
    if table.nrows == 0:
        raise ValueError(f"{table.source} has no rows")
    columns = dict(config.columns)
    preset: str = config.preset
    detected = preset == "auto"
    if detected:
        preset = detect_preset(table, columns)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected auto or one of {', '.join(PRESETS)}")
    if preset != "nsa" and config.dflags_cut:
        raise ValueError(f"{table.source}: ingest.dflags_cut applies to the NSA's DFLAGS only (this is preset {preset})")
    if preset == "nsa":
        if columns:
            raise ValueError(f"{table.source}: the nsa preset reads the NSA's own columns; --columns applies to the "
                             f"sdss and table presets")
        return open_nsa_reader(table, config.photometry, need_dflags=config.dflags_cut, detected=detected)
    if preset == "sdss":
        corrections = SDSSCorrections(extinction=config.extinction, ab_offsets=config.ab_offsets,
                                      error_floors=config.error_floors)
        return open_sdss_reader(table, flux=config.sdss_flux, corrections=corrections, columns=columns,
                                detected=detected)
    if not columns:
        raise ValueError(f"{table.source}: the table preset needs a column map: --columns id=..,ra=..,dec=..,z=..,"
                         f"flux_u=..,ivar_u=..,... (or mag_u=..,magerr_u=..), or [ingest.columns] in the config; "
                         f"the file has {preview_columns(table.columns)}")
    return open_column_map_reader(table, columns, flux_unit=config.flux_unit, mag_system=config.mag_system,
                                  detected=detected)
