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
