"""What the flow is conditioned on: x = (asinh magnitudes, log flux errors, band mask, z).

For each ugriz band X, from the observed flux f_X and its 1σ error σ_X [nanomaggies]:

* ``amag_X``: the SDSS asinh magnitude of f_X (``photometry.asinh_mag``), finite for zero and
  negative fluxes, so a faint or negative flux is a measurement the flow reads, not a cut;
* ``log_sigma_X``: log10 σ_X [log10 nmgy], the error in the units the likelihood uses, independent
  of the measured flux (an error in asinh magnitudes would mix the two);
* ``has_X``: 1 if the band was measured, 0 if absent.

Absent bands have NaN ``amag_X`` and ``log_sigma_X``; after standardisation they become 0 (the
training mean), and ``has_X`` tells the flow to ignore them. Then z. Fluxes and errors in, the
same quantities the Gaussian likelihood (``sedflow_dask.likelihood``) reads.
"""

from __future__ import annotations

import numpy as np

from ..photometry import BANDS, N_BANDS, asinh_mag, band_present

INPUT_NAMES: tuple[str, ...] = (*(f"amag_{b}" for b in BANDS), *(f"log_sigma_{b}" for b in BANDS),
                                *(f"has_{b}" for b in BANDS), "z")
N_INPUTS = len(INPUT_NAMES)
#: Columns whose NaN (an absent band) standardises to 0.
MASKABLE = slice(0, 2 * N_BANDS)
INPUT_KIND = "asinh_mag+log_sigma_flux+band_mask+z"


def flow_inputs(flux_nmgy, sigma_flux, z) -> np.ndarray:
    """(G, 16) float64 inputs of galaxies with fluxes and errors (G, 5) [nmgy] and redshifts (G,).

    A band is absent where its flux or error is not finite or the error is not > 0
    (``photometry.band_present``); its two values are NaN and its ``has_`` column 0.
    """
    f = np.atleast_2d(np.asarray(flux_nmgy, dtype=np.float64))
    s = np.atleast_2d(np.asarray(sigma_flux, dtype=np.float64))
    zz = np.asarray(z, dtype=np.float64).reshape(-1)
    if f.shape[1:] != (N_BANDS,) or s.shape != f.shape or zz.shape != (f.shape[0],):
        raise ValueError(f"flux and sigma must have shape (G, {N_BANDS}) and z (G,); "
                         f"got {np.shape(flux_nmgy)}, {np.shape(sigma_flux)}, {np.shape(z)}")
    present = band_present(f, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        amag = np.where(present, asinh_mag(np.where(present, f, 0.0)), np.nan)
        log_sigma = np.where(present, np.log10(np.where(present, s, 1.0)), np.nan)
    return np.column_stack([amag, log_sigma, present.astype(np.float64), zz])


def input_statistics(x) -> tuple[np.ndarray, np.ndarray]:
    """(16,) mean and standard deviation of inputs (N, 16) over present values (NaN ignored)."""
    v = np.asarray(x, dtype=np.float64)
    mean, std = np.nanmean(v, axis=0), np.nanstd(v, axis=0)
    return mean, np.where(std > 0, std, 1.0)


def standardize_inputs(x, mean, std) -> np.ndarray:
    """(G, 16) float32 standardised inputs; absent bands' values become 0."""
    out = (np.asarray(x, dtype=np.float64) - mean) / std
    out[:, MASKABLE] = np.nan_to_num(out[:, MASKABLE], nan=0.0)
    return out.astype(np.float32)


def check_inputs(x) -> np.ndarray:
    """Validate inputs (G, 16): raises ValueError naming the first bad row."""
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != N_INPUTS:
        raise ValueError(f"x must have shape (G, {N_INPUTS}) = {INPUT_NAMES}; got {v.shape} "
                         f"(build it with sedflow_dask.posterior.flow_inputs)")
    has = v[:, 2 * N_BANDS: 3 * N_BANDS]
    values = v[:, MASKABLE]
    ok = np.isfinite(v[:, -1]) & np.all(np.isin(has, (0.0, 1.0)), axis=1) & np.any(has == 1.0, axis=1)
    ok &= np.all(np.isfinite(values) == np.tile(has == 1.0, 2), axis=1)
    if not ok.all():
        row = int(np.argmax(~ok))
        raise ValueError(f"x row {row} is not valid flow input ({int((~ok).sum())} rows): z must be finite, at least "
                         f"one band present, and a band's values finite exactly where has_<band> is 1; "
                         f"route bad inputs around the sampler")
    return v
