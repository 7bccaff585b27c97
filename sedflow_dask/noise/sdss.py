"""The default noise model, derived from published SDSS imaging depths (no NSA file needed).

Model of an NSA Sersic flux error in band X at flux f [nmgy]::

    σ_f² = (a · f5_X / 5)² + f / n_e,X        (sky + Poisson)
    σ_m  = sqrt((ε · 1.0857 σ_f / f)² + floor_X²),   ε ~ LogNormal(0, spread)

f5_X is the flux of the SDSS 5σ point-source limit, ``a`` scales the sky noise of a point-source
aperture to that of an extended galaxy, n_e is photo-electrons per nanomaggy, floor_X the
kcorrect floor NSA folds into every error, and ε the galaxy-to-galaxy spread (size, sky, seeing).
μ(m) is the median of σ_m (ε = 1) and s(m) its standard deviation, by Gauss–Hermite quadrature.
"""

from __future__ import annotations

import numpy as np

from ..photometry import BANDS, MAG_PER_LN, mag_to_flux
from ..survey.sdss import KCORRECT_FLOORS
from .model import BandNoise, NoiseModel

#: SDSS 95 %-completeness point-source limits, ugriz [AB mag] (SDSS imaging documentation,
#: "Magnitude limits": 22.0, 22.2, 22.2, 21.3, 20.5), taken as the 5σ depth.
SDSS_POINT_SOURCE_DEPTHS = (22.0, 22.2, 22.2, 21.3, 20.5)
#: Sky-noise scale from a point-source to a galaxy aperture (sqrt of the area ratio). 1.75
#: reproduces the NSA medians the paper's figures show (σ_r ≈ 0.021 at r = 17.5, σ_z ≈ 0.034–0.04
#: at z = 17, σ_u ≈ 0.055–0.07 at u = 19); an assumption, not a measurement.
EXTENDED_SOURCE_FACTOR = 1.75
#: Photo-electrons per nanomaggy in a 53.9 s SDSS exposure (≈ flux20 × gain / 10; approximate,
#: it only matters for bright galaxies, where the floors dominate anyway).
ELECTRONS_PER_NMGY = (64.0, 820.0, 800.0, 610.0, 110.0)
#: Log-normal spread of the statistical term (galaxy-to-galaxy).
DEFAULT_SPREAD = 0.3
#: Valid magnitude range. Faint end: where the extended-source S/N drops to 5 (derived below).
#: Bright end: the NSA's brightest galaxies, r ≈ 10, with an early-type galaxy's colours
#: (u−r ≈ 2.6, g−r ≈ 0.8, r−i ≈ 0.4, r−z ≈ 0.75) — an assumption.
BRIGHT_LIMITS = (12.6, 10.8, 10.0, 9.6, 9.25)
BIN_WIDTH = 0.2


def sky_sigma_flux(band_index: int, factor: float = EXTENDED_SOURCE_FACTOR) -> float:
    """Sky term of σ_f [nmgy] for a galaxy in one band."""
    return factor * float(mag_to_flux(SDSS_POINT_SOURCE_DEPTHS[band_index])) / 5.0


def faint_limit(band_index: int, snr: float = 5.0, factor: float = EXTENDED_SOURCE_FACTOR) -> float:
    """Magnitude [AB] where the sky-limited S/N of a galaxy equals ``snr``."""
    return float(22.5 - 2.5 * np.log10(snr * sky_sigma_flux(band_index, factor)))


def statistical_sigma_mag(band_index: int, mag: np.ndarray, factor: float = EXTENDED_SOURCE_FACTOR) -> np.ndarray:
    """Sky-plus-Poisson σ_m [mag] at magnitude ``mag``, without floor or spread."""
    f = mag_to_flux(mag)
    var = sky_sigma_flux(band_index, factor) ** 2 + f / ELECTRONS_PER_NMGY[band_index]
    return MAG_PER_LN * np.sqrt(var) / f


def sdss_depth_noise_model(spread: float = DEFAULT_SPREAD, factor: float = EXTENDED_SOURCE_FACTOR,
                           bin_width: float = BIN_WIDTH, n_quadrature: int = 40) -> NoiseModel:
    """Build the default noise model from the SDSS depths (deterministic)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_quadrature)
    weights = weights / weights.sum()
    eps = np.exp(spread * nodes)  # ε ~ LogNormal(0, spread)
    bands = []
    for i, name in enumerate(BANDS):
        lo, hi = BRIGHT_LIMITS[i], faint_limit(i, factor=factor)
        centres = np.arange(lo + bin_width / 2, hi, bin_width)
        stat = statistical_sigma_mag(i, centres, factor)
        floor = KCORRECT_FLOORS[i]
        sig = np.sqrt((eps[None, :] * stat[:, None]) ** 2 + floor**2)
        mean = sig @ weights
        std = np.sqrt(np.maximum((sig - mean[:, None]) ** 2 @ weights, 0.0))
        bands.append(BandNoise(band=name, mag_centres=centres, sigma_median=np.sqrt(stat**2 + floor**2),
                               sigma_scatter=std, mag_range=(lo, hi), floor=floor))
    provenance = {
        "fitted_from": "sdss_depths",
        "method": "sky_plus_poisson",
        "point_source_depths_5sigma": list(SDSS_POINT_SOURCE_DEPTHS),
        "extended_source_factor": factor,
        "electrons_per_nmgy": list(ELECTRONS_PER_NMGY),
        "spread_lognormal": spread,
        "bin_width": bin_width,
        "bright_limits": list(BRIGHT_LIMITS),
        "faint_limits": "extended-source S/N = 5",
        "note": "No NSA file was used: derived from published SDSS depths plus NSA's kcorrect "
                "error floors. Refit with `sedflow noise fit CATALOG` on a real ingested NSA.",
    }
    return NoiseModel(bands=tuple(bands), provenance=provenance)
