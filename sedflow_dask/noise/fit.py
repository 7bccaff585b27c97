"""Fitting the binned noise model to observed magnitudes and errors (pure numpy).

The recipe of ``docs/nsa-ingest.md`` §4: per band, equal-width magnitude bins from
floor(m_min) to ceil(m_max), bins with fewer than ``min_count`` galaxies dropped, the median and
the standard deviation (ddof = 0) of σ_m in each bin, the valid range = the observed range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..photometry import BANDS, KCORRECT_FLOORS, N_BANDS
from .model import BandNoise, NoiseModel


def fit_band_noise(band: str, mags: np.ndarray, sigmas: np.ndarray, *, floor: float,
                   bin_width: float = 0.2, min_count: int = 10) -> BandNoise:
    """Fit one band's μ(m) and s(m) from magnitudes and σ_m of clean galaxies [mag]."""
    m = np.asarray(mags, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    ok = np.isfinite(m) & np.isfinite(s) & (s > 0)
    m, s = m[ok], s[ok]
    if m.size < min_count:
        raise ValueError(f"band {band}: only {m.size} galaxies with finite magnitude and σ > 0; "
                         f"need at least {min_count} to fit the noise model")
    lo, hi = float(m.min()), float(m.max())
    edges = np.arange(np.floor(lo), np.ceil(hi) + bin_width, bin_width)
    idx = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, len(edges) - 2)
    centres, medians, scatters = [], [], []
    for k in range(len(edges) - 1):
        in_bin = s[idx == k]
        if in_bin.size >= min_count:
            centres.append(0.5 * (edges[k] + edges[k + 1]))
            medians.append(float(np.median(in_bin)))
            scatters.append(float(np.std(in_bin)))
    if not centres:
        raise ValueError(f"band {band}: no magnitude bin of width {bin_width} holds {min_count} galaxies")
    return BandNoise(band=band, mag_centres=np.array(centres), sigma_median=np.array(medians),
                     sigma_scatter=np.array(scatters), mag_range=(lo, hi), floor=floor)


def fit_noise_model(mags, sigmas, *, bin_width: float = 0.2, min_count: int = 10,
                    floors: tuple[float, ...] = KCORRECT_FLOORS,
                    provenance: dict[str, Any] | None = None) -> NoiseModel:
    """Fit the ugriz noise model from (N, 5) magnitudes and σ_m of a clean sample [mag]."""
    m = np.asarray(mags, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != N_BANDS or s.shape != m.shape:
        raise ValueError(f"mags and sigmas must both have shape (N, {N_BANDS}); got {m.shape} and {s.shape}")
    bands = tuple(
        fit_band_noise(b, m[:, i], s[:, i], floor=floors[i], bin_width=bin_width, min_count=min_count)
        for i, b in enumerate(BANDS)
    )
    prov = {"method": "binned_fit", "bin_width": bin_width, "min_count": min_count, "n_galaxies": int(m.shape[0])}
    prov.update(provenance or {})
    return NoiseModel(bands=bands, provenance=prov)
