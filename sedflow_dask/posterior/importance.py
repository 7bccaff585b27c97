"""Importance weights of the flow's draws against the exact target (neural importance sampling).

The flow is a proposal q(θ | x); each draw θ_s gets the weight

    w_s = p(θ_s) L(x | θ_s) / q(θ_s | x),

with p the box prior and L the Gaussian flux likelihood of :mod:`sedflow_dask.likelihood`, both
densities in box coordinates (as is q, see ``PosteriorSamples.log_q``). The weights say galaxy
by galaxy whether the flow was right (Dax et al. 2023, PRL 130 171403, "DINGO-IS"):

* the efficiency n_eff / S, with n_eff = (Σ w)² / Σ w² over all S draws (a draw outside the
  box has weight 0 and counts as wasted): 1 when q equals the posterior;
* the Pareto k̂ of the largest weights (Pareto-smoothed importance sampling, Vehtari et al.
  2024, JMLR 25(72); ArviZ's ``psislw``): above 0.7 the weights' variance is effectively
  infinite and no reweighting can be trusted, whatever n_eff says;
* the evidence Z = p(x) = E_q[w], estimated by the mean weight, with the standard error of
  its logarithm from the delta method, √(1/n_eff − 1/S). Z is a density in the data's units
  (nanomaggies⁻⁵ for five fluxes), so only differences of log Z between models mean anything.

Draws resampled in proportion to the smoothed weights (systematic resampling, the lowest-
variance unbiased scheme) are draws from the target when k̂ is small.

Pure numerics: numpy and ArviZ here; the forward model is called by :func:`weigh_draws` only.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..likelihood import gaussian_log_likelihood
from ..prior import SEDPrior
from ..sps.parameters import BOX_LOWER, BOX_UPPER, N_BOX

#: Above this Pareto k̂ the importance weights are not trusted (Vehtari et al. 2024, §3).
KHAT_LIMIT = 0.7


@dataclass(frozen=True)
class ImportanceWeights:
    """Importance weights of G galaxies' S draws each.

    Attributes:
        log_weights: (G, S) float64 raw log w = log p + log L − log q [natural log]; −inf for a
            draw outside the prior box or missing (NaN draws).
        smoothed: (G, S) PSIS-smoothed log weights normalised to Σ exp = 1 per galaxy (−inf where
            the raw weight is 0); NaN rows for a galaxy without any finite weight.
        efficiency: (G,) n_eff / S of the raw weights, in [0, 1].
        khat: (G,) Pareto shape k̂ of the weights' upper tail (+inf without finite weights).
        log_evidence: (G,) log of the mean raw weight, the estimate of log p(x) (−inf without
            finite weights).
        log_evidence_se: (G,) its standard error (delta method; +inf without finite weights).
    """

    log_weights: np.ndarray
    smoothed: np.ndarray
    efficiency: np.ndarray
    khat: np.ndarray
    log_evidence: np.ndarray
    log_evidence_se: np.ndarray

    def with_rows(self, rows: dict[int, ImportanceWeights]) -> ImportanceWeights:
        """A copy with galaxy g's row taken from the one-galaxy weights ``rows[g]`` (same S)."""
        fields = {f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)}
        for g, one in rows.items():
            for name, values in fields.items():
                values[g] = getattr(one, name)[0]
        return ImportanceWeights(**fields)

    def trusted(self, min_efficiency: float, max_khat: float = KHAT_LIMIT) -> np.ndarray:
        """(G,) True where the reweighted draws can stand for the posterior."""
        with np.errstate(invalid="ignore"):
            return (self.khat <= max_khat) & (self.efficiency >= min_efficiency)


def log_importance_weights(log_prior, log_likelihood, log_q) -> np.ndarray:
    """(..., S) log w = log p(θ) + log L(x | θ) − log q(θ | x); −inf where any term is not finite
    (a draw outside the box has log p = −inf; a missing draw is NaN)."""
    lw = np.asarray(log_prior, dtype=np.float64) + np.asarray(log_likelihood, dtype=np.float64) \
        - np.asarray(log_q, dtype=np.float64)
    return np.where(np.isfinite(lw), lw, -np.inf)


def importance_weights(log_weights) -> ImportanceWeights:
    """PSIS, efficiency and evidence of raw log weights (G, S) [natural log]."""
    lw = np.asarray(log_weights, dtype=np.float64)
    if lw.ndim != 2 or lw.shape[1] < 2:
        raise ValueError(f"log_weights must have shape (G, S >= 2); got {lw.shape}")
    g, s = lw.shape
    lw = np.where(np.isfinite(lw), lw, -np.inf)
    alive = np.isfinite(lw).any(axis=1)
    efficiency = np.zeros(g)
    log_z = np.full(g, -np.inf)
    log_z_se = np.full(g, np.inf)
    khat = np.full(g, np.inf)
    smoothed = np.full((g, s), np.nan)
    if alive.any():
        la = lw[alive]
        total = logsumexp(la, axis=1)
        n_eff = np.exp(2.0 * total - logsumexp(2.0 * la, axis=1))
        efficiency[alive] = n_eff / s
        log_z[alive] = total - np.log(s)
        log_z_se[alive] = np.sqrt(np.maximum(1.0 / n_eff - 1.0 / s, 0.0))
        smoothed[alive], khat[alive] = _psis(la)
    return ImportanceWeights(log_weights=lw, smoothed=smoothed, efficiency=efficiency, khat=khat,
                             log_evidence=log_z, log_evidence_se=log_z_se)


def _psis(log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's Pareto smoothing of (G, S) log weights: (normalised smoothed log weights, k̂ (G,))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ announces its 1.0 refactor on import; k̂ > 0.7 warns too
        import arviz

        # ArviZ normalises by the maximum first: subtracting it here keeps exp() in range either way
        smoothed, khat = arviz.psislw(log_weights - np.max(log_weights, axis=1, keepdims=True), reff=1.0)
    khat = np.asarray(khat, dtype=np.float64).reshape(-1)
    # Equal weights (a proposal equal to the target) leave no tail to fit and ArviZ returns +inf;
    # their tail is bounded, k̂ = −inf.
    finite = np.where(np.isfinite(log_weights), log_weights, np.nan)
    flat = np.nanmax(finite, axis=1) - np.nanmin(finite, axis=1) <= 1e-12
    khat[flat] = -np.inf
    return np.asarray(smoothed, dtype=np.float64), khat


def systematic_resample(log_weights, offsets) -> np.ndarray:
    """(G, S) indices of draws resampled in proportion to normalised log weights (G, S).

    ``offsets`` (G,) in [0, 1) are each galaxy's one uniform variate: draw k is the one whose
    cumulative weight first exceeds (offset + k) / S, so a draw of weight w appears ⌊S w⌋ or
    ⌈S w⌉ times. Rows without finite weights get index -1.
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    g, s = lw.shape
    u = np.asarray(offsets, dtype=np.float64).reshape(g)
    out = np.full((g, s), -1, dtype=np.int64)
    for i in range(g):
        if not np.isfinite(lw[i]).any():
            continue
        w = np.exp(lw[i] - logsumexp(lw[i]))
        cumulative = np.cumsum(w)
        cumulative[-1] = 1.0  # guards against float round-off leaving the last point unreachable
        out[i] = np.minimum(np.searchsorted(cumulative, (u[i] + np.arange(s)) / s, side="right"), s - 1)
    return out


def weigh_draws(sps_model, samples, log_q, z, flux_nmgy, sigma_nmgy, prior=None
                ) -> tuple[ImportanceWeights, np.ndarray]:
    """Importance weights of box-space draws (G, S, 11) with proposal densities ``log_q`` (G, S).

    ``z`` (G,), ``flux_nmgy`` and ``sigma_nmgy`` (G, 5) are the galaxies' data [nanomaggies]
    (:func:`sedflow_dask.likelihood.fluxes_from_mags` converts a catalog's magnitudes). Returns
    the weights and the model fluxes of every draw (G, S, 5) [nmgy] (NaN for missing draws), so
    that the caller can judge the fit without evaluating the forward model again.
    """
    prior = prior or SEDPrior()
    box = np.asarray(samples)
    g, s, _ = box.shape
    flat = box.reshape(g * s, N_BOX).astype(np.float64)
    finite = np.all(np.isfinite(flat), axis=1)
    log_prior = np.full(g * s, -np.inf)
    # float32 draws accepted against the box in float32 may sit one ulp outside it in float64
    clipped = np.clip(flat[finite], BOX_LOWER, BOX_UPPER)
    log_prior[finite] = prior.log_prob(clipped)
    model_flux = np.full((g * s, 5), np.nan)
    zz = np.repeat(np.asarray(z, dtype=np.float64), s)
    if finite.any():
        model_flux[finite] = sps_model.photometry(clipped, zz[finite], space="box", unit="nanomaggies")
    f = np.repeat(np.asarray(flux_nmgy, dtype=np.float64), s, axis=0)
    sig = np.repeat(np.asarray(sigma_nmgy, dtype=np.float64), s, axis=0)
    log_like = np.full(g * s, -np.inf)
    log_like[finite] = gaussian_log_likelihood(model_flux[finite], f[finite], sig[finite])
    lw = log_importance_weights(log_prior, log_like, np.asarray(log_q, dtype=np.float64).reshape(g * s))
    return importance_weights(lw.reshape(g, s)), model_flux.reshape(g, s, 5)
