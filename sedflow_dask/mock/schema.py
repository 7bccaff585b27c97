"""Column layout of the mock NSA catalog and its flag companions (``docs/nsa-ingest.md`` §1.3, §2.5).

Names, TFORMs and shapes follow the real files (the names and the FNugriz layout are
:mod:`sedflow_dask.survey.nsa`'s), FITS integers and floats are stored big-endian, and the
catalog sits in HDU 1 behind an empty primary HDU. ``PROFMEAN`` (7 x 15 E, TDIM '(15,7)') is
an irrelevant 2-D column whose only job is to make column projection matter.
"""

from __future__ import annotations

import numpy as np

from ..photometry import BANDS
from ..survey.nsa import N_NSA_BANDS, V1_ONLY, check_version, column_name, schema_version

PROFMEAN_SHAPE = (N_NSA_BANDS, 15)

# (v1 name, numpy big-endian type, shape). Order mimics the real file loosely; PROFMEAN sits
# between the photometry columns so a reader cannot get away with reading a contiguous block.
_CATALOG_V1: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("NSAID", ">i4", ()),
    ("IAUNAME", "S19", ()),
    ("RA", ">f8", ()),
    ("DEC", ">f8", ()),
    ("ISDSS", ">i4", ()),
    ("PLATE", ">i4", ()),
    ("MJD", ">i4", ()),
    ("FIBERID", ">i4", ()),
    ("RUN", ">i2", ()),
    ("CAMCOL", "u1", ()),
    ("FIELD", ">i2", ()),
    ("RERUN", "S3", ()),
    ("Z", ">f4", ()),
    ("ZSRC", "S8", ()),
    ("ZDIST", ">f4", ()),
    ("EXTINCTION", ">f4", (N_NSA_BANDS,)),
    ("SERSIC_FLUX", ">f4", (N_NSA_BANDS,)),
    ("SERSIC_FLUX_IVAR", ">f4", (N_NSA_BANDS,)),
    ("PROFMEAN", ">f4", PROFMEAN_SHAPE),
    ("SERSIC_NMGY", ">f4", (N_NSA_BANDS,)),
    ("SERSIC_NMGY_IVAR", ">f4", (N_NSA_BANDS,)),
    ("SERSIC_OK", ">i2", ()),
    ("ELPETRO_NMGY", ">f4", (N_NSA_BANDS,)),
    ("ELPETRO_NMGY_IVAR", ">f4", (N_NSA_BANDS,)),
    ("DFLAGS", ">i4", (N_NSA_BANDS,)),
    ("IN_DR7_LSS", "u1", ()),
)

#: Expected TFORM of each v1 column as fitsio writes it (tests compare headers with this).
TFORMS_V1: dict[str, str] = {
    "NSAID": "J", "IAUNAME": "19A", "RA": "D", "DEC": "D", "ISDSS": "J", "PLATE": "J", "MJD": "J",
    "FIBERID": "J", "RUN": "I", "CAMCOL": "B", "FIELD": "I", "RERUN": "3A", "Z": "E", "ZSRC": "8A",
    "ZDIST": "E", "EXTINCTION": "7E", "SERSIC_FLUX": "7E", "SERSIC_FLUX_IVAR": "7E", "PROFMEAN": "105E",
    "SERSIC_NMGY": "7E", "SERSIC_NMGY_IVAR": "7E", "SERSIC_OK": "I", "ELPETRO_NMGY": "7E",
    "ELPETRO_NMGY_IVAR": "7E", "DFLAGS": "7J", "IN_DR7_LSS": "B",
}

#: Flag-companion columns (also what ``flags_inside`` adds to the catalog).
FLAG_WORD_COLUMNS: tuple[str, ...] = ("FLAGS", *(f"FLAGS_{b.upper()}" for b in BANDS))
PSFMAGERR_COLUMNS: tuple[str, ...] = tuple(f"PSFMAGERR_{b.upper()}" for b in BANDS)


def catalog_dtype(nsa_version: str, flags_inside: bool = False) -> np.dtype:
    """Big-endian structured dtype of one catalog row in ``nsa_version``."""
    check_version(nsa_version)
    v0 = schema_version(nsa_version) == "v0"
    fields: list[tuple] = []
    for name, typ, shape in _CATALOG_V1:
        if v0 and name in V1_ONLY:
            continue
        stored = column_name(name, nsa_version)
        fields.append((stored, typ, shape) if shape else (stored, typ))
    if flags_inside:
        fields += [(c, ">i8") for c in FLAG_WORD_COLUMNS]
        fields += [(c, ">f4") for c in PSFMAGERR_COLUMNS]
        fields.append(("OBJID", ">i8"))
    return np.dtype(fields)


def flags_dtype(split: bool = False) -> np.dtype:
    """Companion row: NSAID, OBJID, the 64-bit words (or their int32 halves) and PSF errors.

    The split form holds each word as the flat files' two 32-bit halves, each reinterpreted as a
    signed int32 (so MOVED, bit 31, makes FLAGS1 negative): FLAGS1/FLAGS2 for the object word
    (bits 0-31 / 32-63) and FLAGS1_U/FLAGS2_U ... FLAGS1_Z/FLAGS2_Z for the bands.
    """
    fields: list[tuple[str, str]] = [("NSAID", ">i4"), ("OBJID", ">i8")]
    if split:
        fields += [("FLAGS1", ">i4"), ("FLAGS2", ">i4")]
        for b in BANDS:
            fields += [(f"FLAGS1_{b.upper()}", ">i4"), (f"FLAGS2_{b.upper()}", ">i4")]
    else:
        fields += [(c, ">i8") for c in FLAG_WORD_COLUMNS]
    fields += [(c, ">f4") for c in PSFMAGERR_COLUMNS]
    return np.dtype(fields)
