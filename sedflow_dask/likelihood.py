"""The observation model: a Gaussian likelihood on ugriz fluxes times the box prior.

One definition of the target posterior p(θ | x) ∝ p(θ) L(x | θ) for every stage that needs it:
the importance weights of the flow's draws (``sedflow_dask.posterior.importance``), the MCMC
fallback (``sedflow_dask.fallback``) and the validation's MCMC reference.

Data are fluxes f_X [nanomaggies] with 1σ errors σ_X [nanomaggies] (five bands, independent).
From a catalog's magnitudes and σ_m use :func:`fluxes_from_mags`: the same first-order
conversion the NSA and SEDflow use (``sedflow_dask.photometry``), so the MCMC sees the errors
the flow is conditioned on, kcorrect floors included. Raw NSA ``flux``/``ivar`` would give
σ_f = ivar^(-1/2) without the floors; we do not use them.

    log L(θ) = -½ Σ_X ((f_X - F_X(θ, z)) / σ_X)² - Σ_X ln σ_X - (n/2) ln 2π,

summed over the n bands present, with F_X(θ, z) = ``PROVABGSModel.photometry(θ, z, space="box",
unit="nanomaggies")`` at the galaxy's fixed redshift. A band is absent where its flux or σ is
NaN (``photometry.band_present``): it contributes nothing, exactly as the training set's band
dropout hides it from the flow. Fluxes may be zero or negative: they are measurements.

This is the density the training set is drawn from: the noise proposal draws σ independently
of θ and observes f = F(θ, z) + σ ε (``noise/proposal.py``), so prior × this likelihood is the
posterior the flow learns, the one the importance weights and the MCMC fallback evaluate.

Model fluxes are exactly proportional to the formed mass 10^log_mstar, so for the other ten
parameters the best log-mass has a closed form (:func:`best_log_mass`); the sampler uses it to
remove the mass–light degeneracy (see ``sedflow_dask.fallback.sampler``).
"""

from __future__ import annotations

import numpy as np

from .photometry import N_BANDS, mag_to_flux, sigma_flux_from_mag
from .prior import SEDPrior
from .sps.parameters import N_BOX

#: log_mstar [log10 M_sun] at which the sampler evaluates the model before rescaling.
REFERENCE_LOG_MASS = 10.0
_LOG_2PI = float(np.log(2.0 * np.pi))


def fluxes_from_mags(mag, sigma_mag) -> tuple[np.ndarray, np.ndarray]:
    """(flux [nmgy], σ_flux [nmgy]) of AB magnitudes and their errors σ_m [mag], each (G, 5)."""
    flux = mag_to_flux(mag)
    return flux, sigma_flux_from_mag(flux, sigma_mag)


def check_observations(flux_nmgy, sigma_nmgy, z, z_max: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and return float64 fluxes (G, 5), errors (G, 5) [nmgy] and redshifts (G,).

    An absent band has NaN flux or σ; both are returned as NaN. Raises ValueError naming the
    first bad row: no band present, an infinite flux or σ, σ <= 0, z outside (0, z_max].
    Negative fluxes are legal data (faint galaxies) and stay.
    """
    f = np.asarray(flux_nmgy, dtype=np.float64)
    s = np.asarray(sigma_nmgy, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    if f.ndim == 1:
        f, s, zz = f[None], s[None], zz.reshape(1)
    if f.ndim != 2 or f.shape[1] != N_BANDS or s.shape != f.shape or zz.shape != (f.shape[0],):
        raise ValueError(f"flux and sigma must have shape (G, {N_BANDS}) and z (G,); "
                         f"got {np.shape(flux_nmgy)}, {np.shape(sigma_nmgy)}, {np.shape(z)}")
    absent = np.isnan(f) | np.isnan(s)
    f, s = np.where(absent, np.nan, f), np.where(absent, np.nan, s)
    with np.errstate(invalid="ignore"):
        bad_sigma = ~absent & ~(np.isfinite(s) & (s > 0))
    for name, bad in (("no band has a flux and an error", np.all(absent, axis=1)),
                      ("a flux is infinite", np.any(np.isinf(f), axis=1)),
                      ("a sigma is not finite and positive", np.any(bad_sigma, axis=1)),
                      (f"z is not in (0, {z_max}]", ~(np.isfinite(zz) & (zz > 0) & (zz <= z_max)))):
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f"fallback input row {row}: {name} (flux={f[row].tolist()}, sigma={s[row].tolist()}, "
                             f"z={float(zz[row])!r}; {int(bad.sum())} such rows)")
    return f, s, zz


def best_log_mass(unit_flux, flux_nmgy, sigma_nmgy, unit_log_mass: float = REFERENCE_LOG_MASS) -> np.ndarray:
    """Least-squares log_mstar [log10 M_sun] of model fluxes scaled from ``unit_flux``.

    ``unit_flux`` (..., 5) [nmgy] is the model at log_mstar = ``unit_log_mass``; the amplitude
    A* = Σ w f F / Σ w F² (w = σ⁻², 0 in absent bands) minimises χ², and the result is
    ``unit_log_mass + log10 A*`` (-inf where A* <= 0, i.e. the data are anticorrelated with every
    positive model).
    """
    w, f = _weights_and_data(flux_nmgy, sigma_nmgy)
    unit = np.asarray(unit_flux, dtype=np.float64)
    amp = np.sum(w * f * unit, axis=-1) / np.sum(w * unit * unit, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return unit_log_mass + np.where(amp > 0, np.log10(np.where(amp > 0, amp, 1.0)), -np.inf)


def _weights_and_data(flux_nmgy, sigma_nmgy) -> tuple[np.ndarray, np.ndarray]:
    """(σ⁻², flux) with both 0 in absent (NaN) bands, so sums over bands skip them."""
    f = np.asarray(flux_nmgy, dtype=np.float64)
    s = np.asarray(sigma_nmgy, dtype=np.float64)
    present = ~(np.isnan(f) | np.isnan(s))
    return np.where(present, 1.0 / np.where(present, s, 1.0) ** 2, 0.0), np.where(present, f, 0.0)


def gaussian_log_likelihood(model_flux, flux_nmgy, sigma_nmgy) -> np.ndarray:
    """(...,) log L of model fluxes (..., 5) given data and errors (..., 5) [nmgy]; natural log.

    Absent (NaN) bands are skipped; the normalisation counts the present bands only.
    """
    f = np.asarray(flux_nmgy, dtype=np.float64)
    s = np.asarray(sigma_nmgy, dtype=np.float64)
    present = ~(np.isnan(f) | np.isnan(s))
    if present.all():
        r = (f - model_flux) / s
        return -0.5 * np.sum(r * r, axis=-1) - np.sum(np.log(s), axis=-1) - 0.5 * N_BANDS * _LOG_2PI
    s1 = np.where(present, s, 1.0)
    r = np.where(present, (np.where(present, f, 0.0) - model_flux) / s1, 0.0)
    return (-0.5 * np.sum(r * r, axis=-1) - np.sum(np.log(s1), axis=-1)
            - 0.5 * np.sum(present, axis=-1) * _LOG_2PI)


def log_likelihood(model, theta_box, z, flux_nmgy, sigma_nmgy) -> np.ndarray:
    """(N,) Gaussian log-likelihood [natural log] of box parameters ``theta_box`` (N, 11).

    ``z`` (N,) are the galaxies' redshifts, ``flux_nmgy`` and ``sigma_nmgy`` (N, 5) their data
    [nanomaggies] (broadcastable (5,) for one galaxy). Rows outside the prior box, where the
    forward model is undefined, give -inf; non-finite θ or bad data raise ValueError.
    """
    tb = np.asarray(theta_box, dtype=np.float64).reshape(-1, N_BOX)
    if not np.all(np.isfinite(tb)):
        raise ValueError(f"theta_box row {int(np.argmax(~np.all(np.isfinite(tb), axis=1)))} is not finite")
    n = tb.shape[0]
    f, s, zz = check_observations(np.broadcast_to(flux_nmgy, (n, N_BANDS)),
                                  np.broadcast_to(sigma_nmgy, (n, N_BANDS)), np.broadcast_to(z, (n,)))
    out = np.full(n, -np.inf)
    inside = SEDPrior().in_support(tb)
    if inside.any():
        model_flux = model.photometry(tb[inside], zz[inside], space="box", unit="nanomaggies")
        out[inside] = gaussian_log_likelihood(model_flux, f[inside], s[inside])
    return out


def chi2(model_flux, flux_nmgy, sigma_nmgy) -> np.ndarray:
    """(...,) χ² of model fluxes against data (both [nmgy], last axis the 5 bands; absent (NaN) bands skipped)."""
    w, f = _weights_and_data(flux_nmgy, sigma_nmgy)
    r = f - np.asarray(model_flux, dtype=np.float64)
    return np.sum(w * r * r, axis=-1)


def observations_from_catalog(flux_nmgy, ivar) -> tuple[np.ndarray, np.ndarray]:
    """(flux, σ) (G, 5) [nmgy] of a catalog's fluxes and inverse variances [nmgy⁻²].

    A band is absent (both NaN) where its flux is not finite or its ivar not finite and > 0;
    zero and negative fluxes stay.
    """
    f = np.asarray(flux_nmgy, dtype=np.float64)
    w = np.asarray(ivar, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        present = np.isfinite(f) & np.isfinite(w) & (w > 0)
        return np.where(present, f, np.nan), np.where(present, 1.0 / np.sqrt(np.where(present, w, 1.0)), np.nan)
