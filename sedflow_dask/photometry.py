"""SDSS ugriz photometry conventions shared by every stage: bands, units and conversions.

Fluxes are AB nanomaggies (1 nmgy = 1e-9 maggy, so m = 22.5 - 2.5 log10 f), magnitude errors
are the first-order σ_m = (2.5 / ln 10) σ_f / f, as SEDflow and the NSA use
(``docs/nsa-ingest.md`` §3). All arithmetic is float64 whatever the input dtype.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")
N_BANDS = len(BANDS)
#: Magnitude zero point of nanomaggies.
NMGY_ZEROPOINT = 22.5
#: 2.5 / ln(10): d(mag) / d(ln flux).
MAG_PER_LN = 2.5 / np.log(10.0)
#: The 10 ugriz colours (bluer band first), in the order every stage uses.
COLOUR_PAIRS: tuple[tuple[int, int], ...] = tuple(combinations(range(N_BANDS), 2))
COLOUR_NAMES: tuple[str, ...] = tuple(f"{BANDS[a]}-{BANDS[b]}" for a, b in COLOUR_PAIRS)

MAG_COLUMNS = tuple(f"mag_{b}" for b in BANDS)
SIGMA_COLUMNS = tuple(f"sigma_{b}" for b in BANDS)
FLUX_COLUMNS = tuple(f"flux_{b}" for b in BANDS)
IVAR_COLUMNS = tuple(f"ivar_{b}" for b in BANDS)


def flux_to_mag(flux_nmgy) -> np.ndarray:
    """AB magnitude of a flux in nanomaggies (NaN where flux <= 0 or not finite)."""
    f = np.asarray(flux_nmgy, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = NMGY_ZEROPOINT - 2.5 * np.log10(f)
    return np.where(f > 0, m, np.nan)


def mag_to_flux(mag) -> np.ndarray:
    """Flux in nanomaggies of an AB magnitude."""
    return 10.0 ** (0.4 * (NMGY_ZEROPOINT - np.asarray(mag, dtype=np.float64)))


def sigma_mag_from_flux(flux_nmgy, sigma_flux) -> np.ndarray:
    """σ_m [mag] from a flux and its 1σ error (both nanomaggies)."""
    f = np.asarray(flux_nmgy, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return MAG_PER_LN * np.asarray(sigma_flux, dtype=np.float64) / np.abs(f)


def sigma_flux_from_mag(flux_nmgy, sigma_mag) -> np.ndarray:
    """1σ flux error [nmgy] of a flux [nmgy] with magnitude error σ_m [mag]."""
    return np.asarray(flux_nmgy, dtype=np.float64) * np.asarray(sigma_mag, dtype=np.float64) / MAG_PER_LN


def sigma_mag_from_ivar(flux_nmgy, ivar) -> np.ndarray:
    """σ_m [mag] from a flux [nmgy] and its inverse variance [nmgy⁻²] (NaN where ivar <= 0)."""
    w = np.asarray(ivar, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_f = np.where(w > 0, 1.0 / np.sqrt(np.where(w > 0, w, 1.0)), np.nan)
    return sigma_mag_from_flux(flux_nmgy, sigma_f)


def ivar_from_sigma_mag(flux_nmgy, sigma_mag) -> np.ndarray:
    """Inverse variance [nmgy⁻²] of a flux [nmgy] with magnitude error σ_m [mag]."""
    return 1.0 / sigma_flux_from_mag(flux_nmgy, sigma_mag) ** 2


def colours(mags) -> np.ndarray:
    """(N, 10) colours m_a - m_b for :data:`COLOUR_PAIRS` of (N, 5) ugriz magnitudes."""
    m = np.asarray(mags, dtype=np.float64)
    a, b = np.array(COLOUR_PAIRS).T
    return m[:, a] - m[:, b]


#: SDSS's asinh-magnitude softening b per band [nanomaggies] (Lupton, Gunn & Szalay 1999;
#: b = 1.4, 0.9, 1.2, 1.8, 7.4 × 10⁻¹⁰ maggies for ugriz, the photoObj convention): about the
#: 1σ sky noise of a point source, so the asinh magnitude is the ordinary one above ~10 b and
#: stays finite and monotonic through zero and negative fluxes.
ASINH_SOFTENING_NMGY: tuple[float, ...] = (0.14, 0.09, 0.12, 0.18, 0.74)


def asinh_mag(flux_nmgy) -> np.ndarray:
    """(..., 5) SDSS asinh magnitudes of ugriz fluxes [nmgy] (any sign; NaN stays NaN).

    μ = −(2.5 / ln 10) [asinh(f / 2b) + ln b], with f and b in maggies.
    """
    f = np.asarray(flux_nmgy, dtype=np.float64)
    b = np.asarray(ASINH_SOFTENING_NMGY)
    return -MAG_PER_LN * (np.arcsinh(f / (2.0 * b)) + np.log(b * 1e-9))


def asinh_mag_to_flux(mu) -> np.ndarray:
    """(..., 5) fluxes [nmgy] of SDSS asinh magnitudes (the inverse of :func:`asinh_mag`)."""
    b = np.asarray(ASINH_SOFTENING_NMGY)
    return 2.0 * b * np.sinh(-np.asarray(mu, dtype=np.float64) / MAG_PER_LN - np.log(b * 1e-9))


def band_present(flux_nmgy, sigma_flux) -> np.ndarray:
    """(N, 5) bool: a band is a measurement where its flux is finite (any sign) and its error finite and > 0."""
    f = np.asarray(flux_nmgy, dtype=np.float64)
    s = np.asarray(sigma_flux, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(f) & np.isfinite(s) & (s > 0)


def bands_used_mask(present) -> np.ndarray:
    """(N,) uint8 bitmask of present bands: bit k for band ``BANDS[k]`` (u = 1, g = 2, r = 4, i = 8, z = 16)."""
    p = np.asarray(present, dtype=bool)
    return (p * (1 << np.arange(N_BANDS))).sum(axis=-1).astype(np.uint8)


def present_from_mask(bands_used) -> np.ndarray:
    """(N, 5) bool of a :func:`bands_used_mask` bitmask."""
    return ((np.asarray(bands_used, dtype=np.int64)[..., None] >> np.arange(N_BANDS)) & 1).astype(bool)
