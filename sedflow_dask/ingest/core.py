"""The numerical core of NSA ingestion: pure numpy/pandas, no I/O (``docs/nsa-ingest.md`` §3, §5).

Rows are never dropped: every problem becomes a bit of ``ingest_reason``
(:class:`~sedflow_dask.ingest.reasons.IngestReason`), and a row is usable when it is 0.
All arithmetic is float64 whatever the input dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..noise.model import NoiseModel
from ..photometry import (
    BANDS,
    COLOUR_NAMES,
    COLOUR_PAIRS,
    FLUX_COLUMNS,
    IVAR_COLUMNS,
    MAG_COLUMNS,
    N_BANDS,
    SIGMA_COLUMNS,
    colours,
    flux_to_mag,
    sigma_mag_from_ivar,
)
from ..survey.nsa import DFLAGS_BAD_MASK
from ..survey.sdss import KCORRECT_FLOORS
from .reasons import DATA_VALIDITY_BITS, IngestReason

#: Valid redshifts are Z_MIN < z <= Z_MAX (the training prior, contracts §4).
Z_MIN, Z_MAX = 0.0, 0.2
DFLAGS_COLUMNS = tuple(f"dflags_{b}" for b in BANDS)
#: Columns of the raw frame the loaders produce (float32/float64 as stored, native order).
RAW_COLUMNS = ("nsaid", "ra", "dec", "z", *FLUX_COLUMNS, *IVAR_COLUMNS)
#: Columns of the ingested catalog (``docs/data-contracts.md`` §4), in order; the HATS writer
#: adds ``_healpix_29``.
CATALOG_COLUMNS = ("nsaid", "ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS, *FLUX_COLUMNS, *IVAR_COLUMNS,
                   "ingest_reason", "oos_noise", "oos_color")
CATALOG_DTYPES: dict[str, Any] = {
    "nsaid": np.int64, "ingest_reason": np.int32, "oos_noise": np.bool_, "oos_color": np.bool_,
    **{c: np.float64 for c in ("ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS, *FLUX_COLUMNS, *IVAR_COLUMNS)},
}
#: σ_m may sit this far [mag] below NSA's kcorrect floor before the sanity check complains.
FLOOR_TOLERANCE = 1e-4


def convert_photometry(flux, ivar) -> tuple[np.ndarray, np.ndarray]:
    """(mag, sigma): AB magnitudes m = 22.5 − 2.5 log10 f and σ_m = 2.5 / (ln 10 |f| √w) [mag].

    ``flux`` [nmgy] and ``ivar`` [nmgy⁻²] are (N, 5) ugriz; magnitudes are NaN where f <= 0 or
    not finite, σ_m is NaN where w <= 0 or not finite (float64 throughout).
    """
    f = np.asarray(flux, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    if f.shape != w.shape or f.ndim != 2 or f.shape[1] != N_BANDS:
        raise ValueError(f"flux and ivar must both have shape (N, {N_BANDS}); got {f.shape} and {w.shape}")
    with np.errstate(over="ignore"):  # σ_m overflowing to inf is flagged (BAD_SIGMA), not an error
        mag = np.where(np.isfinite(f), flux_to_mag(f), np.nan)
        return mag, sigma_mag_from_ivar(f, np.where(np.isfinite(w), w, np.nan))


def data_validity_reasons(flux, ivar, sigma, z) -> np.ndarray:
    """(N,) int32 bits of the §3 data-validity table (any ugriz band unless noted).

    NONFINITE_FLUX: f is NaN/±inf. NONPOSITIVE_FLUX: finite f <= 0. BAD_IVAR: w <= 0, NaN or
    inf (w = 0 is NSA's "no measurement"). BAD_SIGMA: σ_m not finite although f and w are
    valid (a defensive check; the other bits already explain a NaN σ). Z_INVALID: z NaN/inf.
    Z_OUT_OF_RANGE: finite z outside (0, 0.2].
    """
    f = np.asarray(flux, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    finite_f = np.isfinite(f)
    good_f = finite_f & (f > 0)
    good_w = np.isfinite(w) & (w > 0)
    reason = np.zeros(zz.shape, dtype=np.int32)
    for bit, bad in (
        (IngestReason.NONFINITE_FLUX, np.any(~finite_f, axis=1)),
        (IngestReason.NONPOSITIVE_FLUX, np.any(finite_f & (f <= 0), axis=1)),
        (IngestReason.BAD_IVAR, np.any(~good_w, axis=1)),
        (IngestReason.BAD_SIGMA, np.any(good_f & good_w & ~np.isfinite(s), axis=1)),
        (IngestReason.Z_INVALID, ~np.isfinite(zz)),
        (IngestReason.Z_OUT_OF_RANGE, np.isfinite(zz) & ((zz <= Z_MIN) | (zz > Z_MAX))),
    ):
        reason[bad] |= np.int32(bit)
    return reason


def dflags_bad(dflags) -> np.ndarray:
    """(N,) True where DFLAGS bits 0-2 are set in any ugriz band ((N, 5) array, int or float)."""
    d = np.asarray(dflags)
    if d.dtype.kind == "f":
        # the v0 data model stores DFLAGS as float32; NaN carries no bit
        d = np.nan_to_num(d, nan=0.0).astype(np.int64)
    return np.any((d.astype(np.int64) & DFLAGS_BAD_MASK) != 0, axis=1)


def apply_quality_cuts(reason, *, flag_clean=None, flag_found=None, dflags=None, dflags_cut: bool = False,
                       missing_flags: Literal["exclude", "keep"] = "exclude") -> np.ndarray:
    """``reason`` (int32) with the cut bits added: FLAGS_MISSING, FLAGS_UNCLEAN, DFLAGS_BAD.

    ``flag_clean`` (N,) bool is the flag predicate (None: no flags, cuts off); ``flag_found``
    (N,) bool says whether the companion had the row (None: all found). A missing row gets
    FLAGS_MISSING under ``missing_flags="exclude"`` and no bit under "keep". DFLAGS_BAD needs
    ``dflags_cut`` and (N, 5) ugriz ``dflags``.
    """
    if missing_flags not in ("exclude", "keep"):
        raise ValueError(f"missing_flags must be 'exclude' or 'keep'; got {missing_flags!r}")
    out = np.array(reason, dtype=np.int32, copy=True)
    found = np.ones(out.shape, dtype=bool) if flag_found is None else np.asarray(flag_found, dtype=bool)
    if flag_clean is not None:
        out[found & ~np.asarray(flag_clean, dtype=bool)] |= np.int32(IngestReason.FLAGS_UNCLEAN)
    if missing_flags == "exclude":
        out[~found] |= np.int32(IngestReason.FLAGS_MISSING)
    if dflags_cut:
        if dflags is None:
            raise ValueError("dflags_cut needs the NSA DFLAGS column")
        out[dflags_bad(dflags)] |= np.int32(IngestReason.DFLAGS_BAD)
    return out


def check_colour_quantiles(colour_quantiles) -> np.ndarray:
    """The 10 training colour quantiles [mag] as float64, in ``COLOUR_PAIRS`` order (checked)."""
    q = np.asarray(colour_quantiles, dtype=np.float64)
    if q.shape != (len(COLOUR_PAIRS),) or not np.all(np.isfinite(q)):
        raise ValueError(f"colour quantiles must be {len(COLOUR_PAIRS)} finite numbers in the order "
                         f"{', '.join(COLOUR_NAMES)}; got shape {q.shape}")
    return q


def flag_out_of_support(mags, sigmas, noise_model: NoiseModel, colour_quantiles, n_sigma: float = 3.0,
                        usable=None) -> tuple[np.ndarray, np.ndarray]:
    """(oos_noise, oos_color), (N,) bool each (paper Appendix A, ``nsa-ingest.md`` §5).

    oos_noise: σ_X > μ_X(m_X) + n_sigma · s_X(m_X) in any band (``NoiseModel.noise_outlier``).
    oos_color: any of the 10 colours m_a − m_b (a bluer) below the training set's quantile
    (the 0.1th percentile: "bluer than 99.9 % of the training data"). Both are False outside
    ``usable`` (default: rows with finite magnitudes and σ in every band).
    """
    m = np.asarray(mags, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    q = check_colour_quantiles(colour_quantiles)
    ok = np.all(np.isfinite(m) & np.isfinite(s), axis=1)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool)
    oos_noise = np.zeros(ok.shape, dtype=bool)
    oos_color = np.zeros(ok.shape, dtype=bool)
    if ok.any():
        oos_noise[ok] = noise_model.noise_outlier(m[ok], s[ok], n_sigma=n_sigma)
        oos_color[ok] = np.any(colours(m[ok]) < q, axis=1)
    return oos_noise, oos_color


def ingest_frame(raw: pd.DataFrame, *, noise_model: NoiseModel, colour_quantiles, n_sigma: float = 3.0,
                 flag_clean=None, flag_found=None, dflags_cut: bool = False,
                 missing_flags: Literal["exclude", "keep"] = "exclude") -> pd.DataFrame:
    """The ingested catalog rows (``CATALOG_COLUMNS``) of a raw frame (``RAW_COLUMNS``).

    Magnitudes, σ, reason bits, quality cuts and out-of-support flags, one output row per input
    row, in the input order; ``raw`` may also hold ``dflags_u..z``.
    """
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw NSA frame lacks columns {missing}")
    flux = raw[list(FLUX_COLUMNS)].to_numpy(dtype=np.float64)
    ivar = raw[list(IVAR_COLUMNS)].to_numpy(dtype=np.float64)
    z = raw["z"].to_numpy(dtype=np.float64)
    mag, sigma = convert_photometry(flux, ivar)
    reason = data_validity_reasons(flux, ivar, sigma, z)
    dflags = raw[list(DFLAGS_COLUMNS)].to_numpy() if dflags_cut and DFLAGS_COLUMNS[0] in raw.columns else None
    reason = apply_quality_cuts(reason, flag_clean=flag_clean, flag_found=flag_found, dflags=dflags,
                                dflags_cut=dflags_cut, missing_flags=missing_flags)
    oos_noise, oos_color = flag_out_of_support(mag, sigma, noise_model, colour_quantiles, n_sigma, usable=reason == 0)
    data: dict[str, np.ndarray] = {
        "nsaid": raw["nsaid"].to_numpy(dtype=np.int64),
        "ra": raw["ra"].to_numpy(dtype=np.float64),
        "dec": raw["dec"].to_numpy(dtype=np.float64),
        "z": z,
    }
    for k in range(N_BANDS):
        data[MAG_COLUMNS[k]] = mag[:, k]
    for k in range(N_BANDS):
        data[SIGMA_COLUMNS[k]] = sigma[:, k]
    for k in range(N_BANDS):
        data[FLUX_COLUMNS[k]] = flux[:, k]
    for k in range(N_BANDS):
        data[IVAR_COLUMNS[k]] = ivar[:, k]
    data["ingest_reason"] = reason
    data["oos_noise"] = oos_noise
    data["oos_color"] = oos_color
    return pd.DataFrame(data, index=pd.RangeIndex(len(z)))


def bad_positions(ra, dec) -> np.ndarray:
    """(N,) True where RA is not in [0, 360] deg or Dec not in [-90, 90] deg (NaN included)."""
    r = np.asarray(ra, dtype=np.float64)
    d = np.asarray(dec, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~((r >= 0) & (r <= 360) & (d >= -90) & (d <= 90))


def empty_catalog_frame() -> pd.DataFrame:
    """A zero-row frame with the catalog schema."""
    return pd.DataFrame({c: np.zeros(0, dtype=CATALOG_DTYPES[c]) for c in CATALOG_COLUMNS})


# -- counts and the §3 sanity checks --------------------------------------------------------
def summarise(catalog: pd.DataFrame) -> dict[str, Any]:
    """Additive counts of one piece of an ingested catalog (merge pieces with :func:`merge_summaries`)."""
    reason = catalog["ingest_reason"].to_numpy(dtype=np.int64)
    usable = reason == 0
    valid = (reason & int(DATA_VALIDITY_BITS)) == 0
    mag = catalog[list(MAG_COLUMNS)].to_numpy(dtype=np.float64)
    sigma = catalog[list(SIGMA_COLUMNS)].to_numpy(dtype=np.float64)
    flux = catalog[list(FLUX_COLUMNS)].to_numpy(dtype=np.float64)
    ivar = catalog[list(IVAR_COLUMNS)].to_numpy(dtype=np.float64)
    u_r = mag[valid, 0] - mag[valid, 2]
    floors = np.asarray(KCORRECT_FLOORS)
    with np.errstate(invalid="ignore"):
        # only where σ_m means something: a measured (w > 0), finite positive flux
        below_floor = (ivar > 0) & np.isfinite(flux) & (flux > 0) & np.isfinite(sigma) & (sigma < floors - FLOOR_TOLERANCE)
    oos_noise = catalog["oos_noise"].to_numpy(dtype=bool)
    oos_color = catalog["oos_color"].to_numpy(dtype=bool)
    return {
        "rows": int(len(reason)),
        "usable": int(usable.sum()),
        "reasons": {r.name: int(((reason & int(r)) != 0).sum()) for r in IngestReason},
        "oos_noise": int(oos_noise.sum()),
        "oos_color": int(oos_color.sum()),
        # the paper's disjoint reporting classes: noise first, then colour
        "oos_color_only": int((oos_color & ~oos_noise).sum()),
        "valid": int(valid.sum()),
        "valid_u_minus_r_above_0p5": int(np.sum(u_r > 0.5)),
        "below_floor": {b: int(below_floor[:, k].sum()) for k, b in enumerate(BANDS)},
        "finite_flux": {b: int(np.isfinite(flux[:, k]).sum()) for k, b in enumerate(BANDS)},
        "finite_positive_r_flux": int(np.sum(np.isfinite(flux[:, 2]) & (flux[:, 2] > 0))),
    }


def merge_summaries(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The sum of :func:`summarise` results (nested dicts summed key by key)."""
    def add(a, b):
        if isinstance(a, Mapping):
            return {k: add(a[k], b[k]) for k in a}
        return a + b

    if not parts:
        return summarise(empty_catalog_frame())
    total = dict(parts[0])
    for p in parts[1:]:
        total = add(total, p)
    return total


def sanity_problems(summary: Mapping[str, Any], *, duplicate_nsaids: int = 0, source: str = "NSA file") -> list[str]:
    """The §3 ingest sanity checks that fail, as messages (empty when all pass).

    Median u − r over valid rows > 0.5 (catches a wrong band order); σ_m >= floor − 1e-4 where
    w > 0 and f > 0; galaxy ids unique; >= 95 % of rows with finite positive r flux; no band without any finite
    flux.
    """
    problems = []
    n = summary["rows"]
    if summary["valid"] and not summary["valid_u_minus_r_above_0p5"] > summary["valid"] / 2:
        problems.append(f"{source}: median u - r of the {summary['valid']} valid rows is <= 0.5 mag; "
                        f"are the bands in FNugriz order (ugriz = indices 2..6)?")
    for b, k in summary["below_floor"].items():
        if k:
            floor = KCORRECT_FLOORS[BANDS.index(b)]
            problems.append(f"{source}: {k} rows have sigma_{b} below NSA's kcorrect error floor {floor} mag; "
                            f"is the ivar column the floored NSA one?")
    if duplicate_nsaids:
        problems.append(f"{source}: {duplicate_nsaids} galaxy ids (nsaid: NSAID, id column or row) occur more than once")
    if n and summary["finite_positive_r_flux"] < 0.95 * n:
        problems.append(f"{source}: only {summary['finite_positive_r_flux']} of {n} rows have a finite positive "
                        f"r-band flux (expected >= 95 %)")
    for b, k in summary["finite_flux"].items():
        if n and k == 0:
            problems.append(f"{source}: band {b} has no finite flux in any of the {n} rows (all NaN/inf)")
    return problems
