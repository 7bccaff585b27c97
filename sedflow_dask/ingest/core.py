"""The numerical core of ingestion: pure numpy/pandas, no I/O (``docs/nsa-ingest.md`` §3, §5).

Rows are never dropped: every problem becomes a bit of ``ingest_reason``
(:class:`~sedflow_dask.ingest.reasons.IngestReason`), and a row is usable when it is 0. A band
is measured where its flux is finite (any sign) and its ivar finite and > 0; a galaxy with at
least ``MIN_BANDS`` measured bands is usable whatever its other bands hold, and ``bands_used``
says which bands the posterior sees. All arithmetic is float64 whatever the input dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..likelihood import observations_from_catalog
from ..noise.proposal import NoiseProposal
from ..photometry import (
    ASINH_SOFTENING_NMGY,
    BANDS,
    COLOUR_NAMES,
    COLOUR_PAIRS,
    FLUX_COLUMNS,
    IVAR_COLUMNS,
    MAG_COLUMNS,
    MAG_PER_LN,
    N_BANDS,
    SIGMA_COLUMNS,
    asinh_mag,
    band_present,
    bands_used_mask,
    colours,
    flux_to_mag,
    sigma_mag_from_ivar,
)
from ..survey.nsa import DFLAGS_BAD_MASK
from ..survey.sdss import KCORRECT_FLOORS
from .reasons import DATA_VALIDITY_BITS, MIN_BANDS, IngestReason

#: Valid redshifts are Z_MIN < z <= Z_MAX (the training prior, contracts §4).
Z_MIN, Z_MAX = 0.0, 0.2
DFLAGS_COLUMNS = tuple(f"dflags_{b}" for b in BANDS)
#: Columns of the raw frame the loaders produce (float32/float64 as stored, native order).
RAW_COLUMNS = ("nsaid", "ra", "dec", "z", *FLUX_COLUMNS, *IVAR_COLUMNS)
#: Columns of the ingested catalog (``docs/data-contracts.md`` §4), in order; the HATS writer
#: adds ``_healpix_29``.
CATALOG_COLUMNS = ("nsaid", "ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS, *FLUX_COLUMNS, *IVAR_COLUMNS,
                   "ingest_reason", "bands_used", "oos_noise", "oos_color")
CATALOG_DTYPES: dict[str, Any] = {
    "nsaid": np.int64, "ingest_reason": np.int32, "bands_used": np.uint8, "oos_noise": np.bool_, "oos_color": np.bool_,
    **{c: np.float64 for c in ("ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS, *FLUX_COLUMNS, *IVAR_COLUMNS)},
}
#: σ_m may sit this far [mag] below NSA's kcorrect floor before the sanity check complains.
FLOOR_TOLERANCE = 1e-4


def convert_photometry(flux, ivar) -> tuple[np.ndarray, np.ndarray]:
    """(mag, sigma): AB magnitudes m = 22.5 − 2.5 log10 f and σ_m = 2.5 / (ln 10 |f| √w) [mag].

    ``flux`` [nmgy] and ``ivar`` [nmgy⁻²] are (N, 5) ugriz. These are for people reading the
    catalog (the posterior uses the fluxes): magnitudes are NaN where f <= 0 or not finite, a
    flux that is still a measurement; σ_m is NaN where w <= 0 or not finite (float64 throughout).
    """
    f = np.asarray(flux, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    if f.shape != w.shape or f.ndim != 2 or f.shape[1] != N_BANDS:
        raise ValueError(f"flux and ivar must both have shape (N, {N_BANDS}); got {f.shape} and {w.shape}")
    with np.errstate(over="ignore"):  # σ_m overflowing to inf (f = 0, or f √w underflowing) is no error
        mag = np.where(np.isfinite(f), flux_to_mag(f), np.nan)
        return mag, sigma_mag_from_ivar(f, np.where(np.isfinite(w), w, np.nan))


def measured_bands(flux, ivar) -> np.ndarray:
    """(N, 5) bool: the bands that are measurements, flux finite (any sign) and ivar finite and > 0."""
    return band_present(*observations_from_catalog(flux, ivar))


def data_validity_reasons(flux, ivar, z) -> np.ndarray:
    """(N,) int32 bits of the §3 data-validity table.

    TOO_FEW_BANDS: fewer than ``MIN_BANDS`` measured bands (:func:`measured_bands`); beside it,
    why bands were not measured: NONFINITE_FLUX (a flux NaN/±inf) and BAD_IVAR (an ivar <= 0,
    NaN or inf; w = 0 is NSA's "no measurement"). A galaxy with enough measured bands gets no
    per-band bit: ``bands_used`` records which bands it has. Z_INVALID: z NaN/inf.
    Z_OUT_OF_RANGE: finite z outside (0, 0.2]. A zero or negative flux with a valid ivar is a
    measurement and sets nothing.
    """
    f = np.asarray(flux, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    too_few = measured_bands(f, w).sum(axis=1) < MIN_BANDS
    with np.errstate(invalid="ignore"):
        bad_w = ~(np.isfinite(w) & (w > 0))
    reason = np.zeros(zz.shape, dtype=np.int32)
    for bit, bad in (
        (IngestReason.TOO_FEW_BANDS, too_few),
        (IngestReason.NONFINITE_FLUX, too_few & np.any(~np.isfinite(f), axis=1)),
        (IngestReason.BAD_IVAR, too_few & np.any(bad_w, axis=1)),
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


def asinh_colours(flux, sigma_flux) -> tuple[np.ndarray, np.ndarray]:
    """(N, 10) colours of SDSS asinh magnitudes μ_a − μ_b and their 1σ errors [mag] (``COLOUR_PAIRS``).

    ``flux`` and ``sigma_flux`` are (N, 5) [nmgy], NaN in absent bands (the colour is then
    NaN). Per band σ_μ = (2.5 / ln 10) σ_f / √(f² + 4b²), b the band's softening
    (``photometry.ASINH_SOFTENING_NMGY``), the derivative of the asinh magnitude; the two
    bands' errors add in quadrature.
    """
    f = np.asarray(flux, dtype=np.float64)
    s = np.asarray(sigma_flux, dtype=np.float64)
    b = np.asarray(ASINH_SOFTENING_NMGY)
    sigma_mu = MAG_PER_LN * s / np.sqrt(f * f + 4.0 * b * b)
    a, c = np.array(COLOUR_PAIRS).T
    return colours(asinh_mag(f)), np.hypot(sigma_mu[:, a], sigma_mu[:, c])


def colour_outliers(flux, sigma_flux, colour_quantiles, n_sigma: float = 3.0) -> np.ndarray:
    """(N,) True where a colour of two present bands lies below its training quantile by more
    than ``n_sigma`` times its error: μ_a − μ_b < q − n_sigma σ_c (:func:`asinh_colours`).

    The quantiles are those of the training set's noiseless colours, so a noisy colour of a
    low-S/N galaxy scatters below them without its SED being bluer than any the flow has seen;
    only a colour significantly bluer is out of support.
    """
    q = check_colour_quantiles(colour_quantiles)
    c, sigma_c = asinh_colours(flux, sigma_flux)
    with np.errstate(invalid="ignore"):
        return np.any(c < q - n_sigma * sigma_c, axis=1)


def flag_out_of_support(flux, sigma_flux, proposal: NoiseProposal, colour_quantiles, n_sigma: float = 3.0,
                        usable=None) -> tuple[np.ndarray, np.ndarray]:
    """(oos_noise, oos_color), (N,) bool each, of observations against the flow's training set.

    ``flux`` and ``sigma_flux`` are (N, 5) [nmgy], NaN in absent bands
    (``likelihood.observations_from_catalog``). oos_noise: a present band's σ_f outside the
    proposal's [sigma_min, sigma_max] (``NoiseProposal.sigma_out_of_range``), errors the flow
    was never trained on. oos_color: :func:`colour_outliers` against the training set's
    noiseless 0.1th-percentile colours. Both are False outside ``usable`` (default: every row).
    """
    f = np.asarray(flux, dtype=np.float64)
    s = np.asarray(sigma_flux, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != N_BANDS or s.shape != f.shape:
        raise ValueError(f"flux and sigma_flux must both have shape (N, {N_BANDS}); got {f.shape} and {s.shape}")
    q = check_colour_quantiles(colour_quantiles)
    ok = np.ones(f.shape[0], dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    oos_noise = np.zeros(ok.shape, dtype=bool)
    oos_color = np.zeros(ok.shape, dtype=bool)
    if ok.any():
        oos_noise[ok] = proposal.sigma_out_of_range(s[ok])
        oos_color[ok] = colour_outliers(f[ok], s[ok], q, n_sigma)
    return oos_noise, oos_color


def ingest_frame(raw: pd.DataFrame, *, proposal: NoiseProposal, colour_quantiles, n_sigma: float = 3.0,
                 flag_clean=None, flag_found=None, dflags_cut: bool = False,
                 missing_flags: Literal["exclude", "keep"] = "exclude") -> pd.DataFrame:
    """The ingested catalog rows (``CATALOG_COLUMNS``) of a raw frame (``RAW_COLUMNS``).

    Magnitudes, σ, reason bits, the measured bands, quality cuts and out-of-support flags
    (against ``proposal`` and ``colour_quantiles``, colours at ``n_sigma``), one output row per
    input row, in the input order; ``raw`` may also hold ``dflags_u..z``.
    """
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw NSA frame lacks columns {missing}")
    flux = raw[list(FLUX_COLUMNS)].to_numpy(dtype=np.float64)
    ivar = raw[list(IVAR_COLUMNS)].to_numpy(dtype=np.float64)
    z = raw["z"].to_numpy(dtype=np.float64)
    mag, sigma = convert_photometry(flux, ivar)
    reason = data_validity_reasons(flux, ivar, z)
    obs_flux, obs_sigma = observations_from_catalog(flux, ivar)
    dflags = raw[list(DFLAGS_COLUMNS)].to_numpy() if dflags_cut and DFLAGS_COLUMNS[0] in raw.columns else None
    reason = apply_quality_cuts(reason, flag_clean=flag_clean, flag_found=flag_found, dflags=dflags,
                                dflags_cut=dflags_cut, missing_flags=missing_flags)
    oos_noise, oos_color = flag_out_of_support(obs_flux, obs_sigma, proposal, colour_quantiles, n_sigma,
                                               usable=reason == 0)
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
    data["bands_used"] = bands_used_mask(band_present(obs_flux, obs_sigma))
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
    u_r = u_r[np.isfinite(u_r)]  # only galaxies with positive u and r fluxes have a Pogson u - r
    bands_used = catalog["bands_used"].to_numpy(dtype=np.int64)
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
        "valid_u_minus_r": int(u_r.size),
        "valid_u_minus_r_above_0p5": int(np.sum(u_r > 0.5)),
        # usable galaxies whose posterior goes without the band (bands_used bit clear)
        "usable_without": {b: int(np.sum(usable & ((bands_used >> k) & 1 == 0))) for k, b in enumerate(BANDS)},
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

    Median u − r over valid rows with positive u and r fluxes > 0.5 (catches a wrong band order); σ_m >= floor − 1e-4 where
    w > 0 and f > 0; galaxy ids unique; >= 95 % of rows with finite positive r flux; no band without any finite
    flux.
    """
    problems = []
    n = summary["rows"]
    n_ur = summary["valid_u_minus_r"]
    if n_ur and not summary["valid_u_minus_r_above_0p5"] > n_ur / 2:
        problems.append(f"{source}: median u - r of the {n_ur} valid rows with positive u and r fluxes is <= 0.5 mag; "
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
