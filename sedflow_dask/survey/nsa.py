"""The NASA-Sloan Atlas vocabulary: versions, column names, band layout, DFLAGS and IAU names.

``docs/nsa-ingest.md`` §1: every NSA flux-like column is a 7-element array in FNugriz order
(GALEX FUV, NUV, then SDSS ugriz); SEDflow uses indices 2..6. NSA v1_0_1 names the
extinction-corrected Sersic fluxes ``SERSIC_NMGY``/``SERSIC_NMGY_IVAR``; the v0 files the paper
used name the same quantity ``NMGY``/``NMGY_IVAR``; only v1 has the elliptical-Petrosian
``ELPETRO_NMGY`` pair. The ingest (which reads files) and the mock (which writes them) both take
their names from here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: NSA releases whose layout this package knows (the mock writes either; the ingest reads any
#: file of the same schema).
NSA_VERSIONS: tuple[str, ...] = ("v1_0_1", "v0_1_2")
#: A file's column-name schema: "v1" (NSA v1_0_x, ``SERSIC_NMGY``) or "v0" (v0_1_x, ``NMGY``).
NSASchemaVersion = Literal["v1", "v0"]

#: Entries of every NSA FNugriz array, and the slice of them holding ugriz.
FNUGRIZ: tuple[str, ...] = ("FUV", "NUV", "u", "g", "r", "i", "z")
N_NSA_BANDS = len(FNUGRIZ)
UGRIZ = slice(2, 7)

ID_COLUMN = "NSAID"
RA_COLUMN = "RA"
DEC_COLUMN = "DEC"
Z_COLUMN = "Z"
DFLAGS_COLUMN = "DFLAGS"
#: Galactic extinction A_b / E(B−V) per FNugriz band, as NSA's ``EXTINCTION`` column uses them
#: (dimage ``atlas_kcorrect``).
EXTINCTION_PER_EBV: tuple[float, ...] = (8.29, 8.18, 5.155, 3.793, 2.751, 2.086, 1.479)
#: DFLAGS bits 0-2 (ZERO_IMAGE, ZERO_PROFILE, ZERO_IVAR) make a band unusable under the DFLAGS cut.
DFLAGS_BAD_MASK = 0b111

#: v1 name -> v0 name, for the columns renamed in v1_0_1 (dimage ``petro_v1_0_1``).
V0_NAMES: dict[str, str] = {
    "SERSIC_NMGY": "NMGY",
    "SERSIC_NMGY_IVAR": "NMGY_IVAR",
    "SERSIC_FLUX": "SERSICFLUX",
    "SERSIC_FLUX_IVAR": "SERSICFLUX_IVAR",
    "SERSIC_OK": "OK",
}
#: Columns that exist in v1 files only.
V1_ONLY: frozenset[str] = frozenset({"ELPETRO_NMGY", "ELPETRO_NMGY_IVAR", "IN_DR7_LSS"})

#: (flux [nmgy], ivar [nmgy⁻²]) column names per (schema, flux kind); v0 has no elliptical Petrosian.
FLUX_COLUMNS: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "sersic"): ("SERSIC_NMGY", "SERSIC_NMGY_IVAR"),
    ("v1", "elpetro"): ("ELPETRO_NMGY", "ELPETRO_NMGY_IVAR"),
    ("v0", "sersic"): (V0_NAMES["SERSIC_NMGY"], V0_NAMES["SERSIC_NMGY_IVAR"]),
}


def check_version(nsa_version: str) -> None:
    """ValueError unless ``nsa_version`` is one of :data:`NSA_VERSIONS`."""
    if nsa_version not in NSA_VERSIONS:
        raise ValueError(f"nsa_version must be one of {NSA_VERSIONS}, not {nsa_version!r}")


def schema_version(nsa_version: str) -> NSASchemaVersion:
    """The column-name schema of an NSA release ("v0_1_2" -> "v0", "v1_0_1" -> "v1")."""
    check_version(nsa_version)
    return "v0" if nsa_version.startswith("v0") else "v1"


def column_name(v1_name: str, nsa_version: str) -> str:
    """The name a v1 column has in ``nsa_version`` (v0 files use the pre-v1 names)."""
    return V0_NAMES.get(v1_name, v1_name) if schema_version(nsa_version) == "v0" else v1_name


def iau_names(ra, dec) -> np.ndarray:
    """IAU names ``JHHMMSS.ss±DDMMSS.s`` as NSA's ``IAUNAME`` (S19), truncated, not rounded.

    Args:
        ra, dec: (N,) J2000 position [deg], 0 <= ra < 360, |dec| <= 90.

    Returns:
        (N,) ``S19`` byte strings.
    """
    ra, dec = np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
    cs = np.floor(ra / 15.0 * 360_000).astype(np.int64)       # centiseconds of time
    ds = np.floor(np.abs(dec) * 36_000).astype(np.int64)      # tenths of arcseconds
    out = np.empty((ra.size, 19), np.uint8)

    def put(col: int, values: np.ndarray, width: int) -> None:
        for k in range(width):
            out[:, col + width - 1 - k] = ord("0") + values // 10**k % 10

    out[:, 0] = ord("J")
    put(1, cs // 360_000, 2)
    put(3, cs // 6_000 % 60, 2)
    put(5, cs // 100 % 60, 2)
    out[:, 7] = ord(".")
    put(8, cs % 100, 2)
    out[:, 10] = np.where(dec < 0, ord("-"), ord("+"))
    put(11, ds // 36_000, 2)
    put(13, ds // 600 % 60, 2)
    put(15, ds // 10 % 60, 2)
    out[:, 17] = ord(".")
    put(18, ds % 10, 1)
    return out.view("S19").ravel()
