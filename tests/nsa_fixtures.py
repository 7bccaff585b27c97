"""Small NSA-schema FITS files and flag companions for the ingest tests, written with fitsio.

Real files: empty HDU 0, a BINTABLE in HDU 1 with NSA's column names and TFORMs (J, D, E, 7E,
7J, 19A, and an irrelevant 7x15 ``PROFMEAN`` with TDIM so that column projection is
exercised), big-endian as FITS stores them. Pathological rows are injected at known places,
each with the ``ingest_reason`` bits it must produce, written down here by construction (not
computed by the code under test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fitsio
import numpy as np
import pandas as pd

from sedflow_dask.survey import sdss_flags as F
from sedflow_dask.survey.nsa import iau_names
from sedflow_dask.survey.sdss import KCORRECT_FLOORS

NONFINITE_FLUX, NONPOSITIVE_FLUX, BAD_IVAR, BAD_SIGMA = 1, 2, 4, 8
Z_INVALID, Z_OUT_OF_RANGE, FLAGS_MISSING, FLAGS_UNCLEAN, DFLAGS_BAD, TOO_FEW_BANDS = 16, 32, 64, 128, 256, 512
ALL_BANDS = 31

FLOORS = np.asarray(KCORRECT_FLOORS)
BACKGROUND = np.array([1.2, 0.35, 0.46, 1.0, 2.2])
K = 2.5 / np.log(10.0)

#: (what is injected, expected bits, bands it leaves unmeasured); each applied to its own rows.
#: A band is measured when its flux is finite (any sign) and its ivar finite and > 0; a galaxy
#: needs 3 measured bands, else TOO_FEW_BANDS with the per-band bits saying why.
PATHOLOGIES: tuple[tuple[str, int, int], ...] = (
    ("nan_flux", 0, 1),
    ("inf_flux", 0, 1),
    ("zero_flux", 0, 0),        # a measurement
    ("negative_flux", 0, 0),    # a measurement
    ("zero_ivar", 0, 1),
    ("negative_ivar", 0, 1),
    ("nan_ivar", 0, 1),
    ("two_nan_flux", 0, 2),     # three bands left: still usable
    ("three_nan_flux", TOO_FEW_BANDS | NONFINITE_FLUX, 3),
    ("three_zero_ivar", TOO_FEW_BANDS | BAD_IVAR, 3),
    ("nan_z", Z_INVALID, 0),
    ("negative_z", Z_OUT_OF_RANGE, 0),
    ("zero_z", Z_OUT_OF_RANGE, 0),
    ("high_z", Z_OUT_OF_RANGE, 0),
    ("nan_flux_and_high_z", Z_OUT_OF_RANGE, 1),
    ("dflags_zero_ivar", 0, 0),  # DFLAGS bit 2 in one ugriz band: DFLAGS_BAD only under dflags_cut
)

#: Defects that fail the default preset (one per unclean row); negative: bits cleared, not set.
DEFECTS = tuple(-bits if name == F.CLEARED_DEFECT else bits for name, bits in F.DEFAULT_PRESET_DEFECTS.items())


@dataclass
class Catalog:
    """Columns of a synthetic NSA (FNugriz arrays) and the truth of each row."""

    nsaid: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    z: np.ndarray
    nmgy: np.ndarray      # (n, 7) float32
    ivar: np.ndarray      # (n, 7) float32
    dflags: np.ndarray    # (n, 7) int32
    reason: np.ndarray    # expected data-validity bits (int)
    bands_used: np.ndarray  # expected bitmask of measured ugriz bands (u = 1 ... z = 16)
    dflags_bad: np.ndarray
    elpetro_nmgy: np.ndarray
    pathology: np.ndarray  # name per row ("" = none)

    @property
    def n(self) -> int:
        return len(self.nsaid)


def make_catalog(n: int, seed: int = 0, *, inject: bool = True) -> Catalog:
    rng = np.random.default_rng(seed)
    nsaid = rng.permutation(n).astype(np.int32) + 1000
    ra = rng.uniform(110.0, 260.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-5)), np.sin(np.radians(70)), n)))
    z = rng.gamma(3.0, 0.012, n).clip(0.002, 0.15).astype(np.float32)
    r = rng.uniform(14.0, 17.7, n)
    g = r + rng.normal(0.7, 0.15, n)
    u = g + rng.normal(1.45, 0.3, n)
    i = r - rng.normal(0.35, 0.08, n)
    zb = i - rng.normal(0.25, 0.10, n)
    mags = np.stack([u, g, r, i, zb], axis=1)
    flux = 10 ** (0.4 * (22.5 - mags))
    sigma = np.sqrt((K * BACKGROUND / flux * np.exp(rng.normal(0, 0.3, (n, 5)))) ** 2 + FLOORS ** 2)
    ivar = 1.0 / (flux * sigma / K) ** 2
    nuv = r + rng.normal(4.0, 1.0, n)
    fuv = nuv + rng.normal(0.5, 0.4, n)
    galex = 10 ** (0.4 * (22.5 - np.stack([fuv, nuv], axis=1)))
    galex_ivar = 1.0 / (galex * 0.04 / K) ** 2
    no_galex = rng.random(n) < 0.3
    galex[no_galex] = 0.0
    galex_ivar[no_galex] = 0.0
    nmgy = np.concatenate([galex, flux], axis=1).astype(np.float32)
    ivar7 = np.concatenate([galex_ivar, ivar], axis=1).astype(np.float32)
    dflags = np.zeros((n, 7), dtype=np.int32)
    dflags[rng.random(n) < 0.05, 0] = 4  # GALEX-band DFLAGS never count
    reason = np.zeros(n, dtype=np.int64)
    bands_used = np.full(n, ALL_BANDS, dtype=np.int64)
    pathology = np.array([""] * n, dtype=object)
    if inject:
        per = max(1, n // 200)
        rows = rng.permutation(n)[: per * len(PATHOLOGIES)].reshape(len(PATHOLOGIES), per)
        for (name, bits, n_lost), rr in zip(PATHOLOGIES, rows):
            # n_lost distinct ugriz bands per row (FNugriz indices 2..6), the first one ``band``
            lost = 2 + np.argsort(rng.random((rr.size, 5)), axis=1)[:, :max(n_lost, 1)]
            band = lost[:, 0]
            if name in ("nan_flux", "nan_flux_and_high_z"):
                nmgy[rr, band] = np.nan
            if name in ("two_nan_flux", "three_nan_flux"):
                nmgy[rr[:, None], lost] = np.nan
            if name == "three_zero_ivar":
                ivar7[rr[:, None], lost] = 0.0
            if name == "inf_flux":
                nmgy[rr, band] = np.inf
            if name == "zero_flux":
                nmgy[rr, band] = 0.0
            if name == "negative_flux":
                nmgy[rr, band] = -3.0
            if name == "zero_ivar":
                ivar7[rr, band] = 0.0
            if name == "negative_ivar":
                ivar7[rr, band] = -1.0
            if name == "nan_ivar":
                ivar7[rr, band] = np.nan
            if name == "nan_z":
                z[rr] = np.nan
            if name == "negative_z":
                z[rr] = -0.001
            if name == "zero_z":
                z[rr] = 0.0
            if name in ("high_z", "nan_flux_and_high_z"):
                z[rr] = 0.25
            if name == "dflags_zero_ivar":
                dflags[rr, band] = 4
            reason[rr] = bits
            if n_lost:
                bands_used[rr] = ALL_BANDS - np.sum(1 << (lost - 2), axis=1)
            pathology[rr] = name
    elpetro = (nmgy * 10 ** (-0.4 * rng.normal(0.1, 0.05, (n, 1)))).astype(np.float32)
    return Catalog(nsaid=nsaid, ra=ra, dec=dec, z=z, nmgy=nmgy, ivar=ivar7, dflags=dflags, reason=reason,
                   bands_used=bands_used,
                   dflags_bad=np.any((dflags[:, 2:] & 7) != 0, axis=1), elpetro_nmgy=elpetro, pathology=pathology)


def nsa_records(cat: Catalog, version: str = "v1", *, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A big-endian record array with NSA columns (v1 or v0 names) plus ``extra`` columns."""
    n = cat.n
    fl, iv = ("SERSIC_NMGY", "SERSIC_NMGY_IVAR") if version == "v1" else ("NMGY", "NMGY_IVAR")
    cols: dict[str, np.ndarray] = {
        "IAUNAME": iau_names(cat.ra, cat.dec),
        "NSAID": cat.nsaid.astype(">i4"),
        "RA": cat.ra.astype(">f8"),
        "DEC": cat.dec.astype(">f8"),
        "Z": cat.z.astype(">f4"),
        "ZDIST": (cat.z + 0.0005).astype(">f4"),
        fl: cat.nmgy.astype(">f4"),
        iv: cat.ivar.astype(">f4"),
        "EXTINCTION": np.full((n, 7), 0.1, dtype=">f4"),
        "DFLAGS": cat.dflags.astype(">i4"),
        "PLATE": np.full(n, 266, dtype=">i4"),
        "FIBERID": np.arange(n, dtype=">i2") % 640,
        "PROFMEAN": np.ones((n, 7, 15), dtype=">f4"),
    }
    if version == "v1":
        cols["ELPETRO_NMGY"] = cat.elpetro_nmgy.astype(">f4")
        cols["ELPETRO_NMGY_IVAR"] = cat.ivar.astype(">f4")
    for k, v in (extra or {}).items():
        cols[k] = v
    dtype = [(k, v.dtype.str if v.dtype.kind != "S" else v.dtype, v.shape[1:]) for k, v in cols.items()]
    rec = np.zeros(n, dtype=dtype)
    for k, v in cols.items():
        rec[k] = v
    return rec


def write_fits(path: str | Path, rec: np.ndarray, header: dict | None = None) -> Path:
    path = Path(path)
    if path.exists():
        path.unlink()
    with fitsio.FITS(str(path), "rw") as fits:
        fits.write(rec, header=header)
    return path


def write_nsa(path: str | Path, cat: Catalog, version: str = "v1", *, extra=None, header=None) -> Path:
    return write_fits(path, nsa_records(cat, version, extra=extra), header=header)


# -- flags -----------------------------------------------------------------------------------
@dataclass
class Flags:
    nsaid: np.ndarray
    objc: np.ndarray        # (n,) int64 object word
    band: np.ndarray        # (n, 5) int64 per-band words
    psferr: np.ndarray      # (n, 5) float32


def make_flags(nsaid: np.ndarray, seed: int = 1, p_fail: float = 0.3) -> Flags:
    rng = np.random.default_rng(seed)
    n = len(nsaid)
    w = np.full(n, F.BINNED1, dtype=np.int64)
    for bit, p in ((F.CHILD, 0.3), (F.BLENDED, 0.1), (F.INTERP, 0.1), (F.COSMIC_RAY, 0.05),
                   (F.INTERP_CENTER, 0.05), (F.EDGE, 0.05), (F.MOVED, 0.05), (F.SATUR_CENTER, 0.15),
                   (F.DEBLEND_NOPEAK, 0.05)):
        w[rng.random(n) < p] |= bit
    # INTERP_CENTER and COSMIC_RAY together are a defect: keep the benign ones apart
    both = (w & F.INTERP_CENTER != 0) & (w & F.COSMIC_RAY != 0)
    w[both] &= ~F.COSMIC_RAY
    failing = rng.random(n) < p_fail
    defect = rng.integers(0, len(DEFECTS), n)
    for k, d in enumerate(DEFECTS):
        sel = failing & (defect == k)
        if d < 0:
            w[sel] &= ~(-d)
        else:
            w[sel] |= d
    band = np.repeat(w[:, None], 5, axis=1)
    # object and per-band words disagree in some rows, in both directions
    move = rng.random(n) < 0.05
    b = rng.integers(0, 5, n)
    band[move, b[move]] |= F.SATURATED                     # object clean, one band not
    drop = (rng.random(n) < 0.05) & ~move & ((w & F.PEAKCENTER) != 0)
    band[drop] &= ~F.PEAKCENTER                            # object unclean, bands clean
    psferr = rng.uniform(0.02, 0.4, (n, 5)).astype(np.float32)
    return Flags(nsaid=np.asarray(nsaid).astype(np.int64), objc=w, band=band, psferr=psferr)


def reference_clean(word: int, preset: str = "sedflow2022", psferr: float = 0.0) -> bool:
    """The §2.3 predicate with Python integers, one word at a time (an independent oracle)."""
    word = int(word) & 0xFFFFFFFFFFFFFFFF
    reject = 0x8100000C00A4 if preset == "sdss_clean_point" else 0x8100000C00A0
    ok = (word & 0x10000000) != 0 and (word & reject) == 0
    ok = ok and not ((word & 0x100000000000) != 0 and (word & 0x1000) != 0)
    if preset != "sedflow2022":
        ok = ok and ((word & 0x400000000000) == 0 or psferr <= 0.2)
    return ok


def expected_clean(fl: Flags, preset: str = "sedflow2022", mode: str = "object", psf_band: int = 1) -> np.ndarray:
    if mode == "object":
        return np.array([reference_clean(w, preset, e[psf_band]) for w, e in zip(fl.objc, fl.psferr)])
    return np.array([all(reference_clean(w[k], preset, e[k]) for k in range(5)) for w, e in zip(fl.band, fl.psferr)])


def flag_columns(fl: Flags, form: str = "int64", rows=None) -> dict[str, np.ndarray]:
    """Companion columns in one of the forms: int64 | split | perband | perband_split."""
    sel = slice(None) if rows is None else rows
    cols: dict[str, np.ndarray] = {"NSAID": fl.nsaid[sel].astype(">i8")}
    if form == "int64":
        cols["FLAGS"] = fl.objc[sel].astype(">i8")
        cols["FLAGS_UGRIZ"] = fl.band[sel].astype(">i8")
    elif form == "split":
        lo, hi = F.split_word(fl.objc[sel])
        cols["FLAGS1"], cols["FLAGS2"] = lo.astype(">i4"), hi.astype(">i4")
    elif form == "perband":
        for k, b in enumerate("UGRIZ"):
            cols[f"FLAGS_{b}"] = fl.band[sel][:, k].astype(">i8")
    elif form == "perband_split":
        lo, hi = F.split_word(fl.band[sel])
        cols["FLAGS1"], cols["FLAGS2"] = lo.astype(">i4"), hi.astype(">i4")
    else:
        raise ValueError(form)
    for k, b in enumerate("UGRIZ"):
        cols[f"PSFMAGERR_{b}"] = fl.psferr[sel][:, k].astype(">f4")
    return cols


def write_flags_fits(path, fl: Flags, form: str = "int64", rows=None, nsa_version: str | None = "v1_0_1") -> Path:
    cols = flag_columns(fl, form, rows)
    n = len(cols["NSAID"])
    rec = np.zeros(n, dtype=[(k, v.dtype.str, v.shape[1:]) for k, v in cols.items()])
    for k, v in cols.items():
        rec[k] = v
    header = {"NSA_VERSION": nsa_version} if nsa_version else None
    return write_fits(path, rec, header=header)


def write_flags_parquet(path, fl: Flags, form: str = "int64", rows=None, nsa_version: str | None = "v1_0_1",
                        row_group_size: int | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = flag_columns(fl, form, rows)
    arrays = {}
    for k, v in cols.items():
        v = v.astype(v.dtype.newbyteorder("="))
        if v.ndim == 2:
            arrays[k.lower()] = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])
        else:
            arrays[k.lower()] = pa.array(v)
    table = pa.table(arrays)
    if nsa_version:
        table = table.replace_schema_metadata({"NSA_VERSION": nsa_version})
    pq.write_table(table, path, row_group_size=row_group_size)
    return Path(path)


def truth_frame(cat: Catalog) -> pd.DataFrame:
    return pd.DataFrame({"nsaid": cat.nsaid.astype(np.int64), "reason": cat.reason, "pathology": cat.pathology,
                         "dflags_bad": cat.dflags_bad})
