"""Per-galaxy posterior summaries, fit quality and statuses (pure numerics: numpy, no I/O).

What the output catalog holds for each galaxy (``docs/data-contracts.md`` §6): for each of the
12 physical parameters and 5 derived properties, the mean, standard deviation and the 2.5, 16,
50, 84 and 97.5th percentiles over its posterior draws; the χ² of the posterior-median model
photometry against the data; and one status.

The status vocabulary (decided here, from numbers computed elsewhere):

* ``ok``: the flow's draws, checked by their importance weights against the exact likelihood,
  needed almost no correction (efficiency >= ``ok_efficiency``); the reweighted draws are kept.
* ``reweighted``: the weights are trustworthy (k̂ <= ``max_khat``, efficiency >=
  ``min_efficiency``) but the flow was visibly off; the reweighted draws correct it.
* ``mcmc``: the weights rejected the flow and the MCMC fallback converged, its posterior-median
  model within ``max_chi2`` of the best fit its walkers found.
* ``unconverged``: the fallback ran to its cap (or settled off the best fit); its draws are kept.
* ``skipped``: the weights rejected the flow but the fallback did not run on it
  (``--no-fallback`` or ``--max-fallback``); the flow's unweighted draws are kept.
* ``cut`` / ``bad_input``: from ingestion; no posterior.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..ingest.reasons import CUT_BITS, DATA_VALIDITY_BITS
from ..likelihood import chi2
from ..sps.derived import DERIVED_NAMES  # per draw: log10 M_sun formed and surviving, log10 M_sun/yr, log10 Z_MW, Gyr
from ..sps.parameters import BOX_LOWER, BOX_UPPER, N_BOX, PHYSICAL_NAMES, box_to_physical

#: Every quantity summarised per galaxy: the 12 physical parameters, then the derived ones.
QUANTITY_NAMES: tuple[str, ...] = (*PHYSICAL_NAMES, *DERIVED_NAMES)
#: Summary statistics, as column-name suffixes.
STAT_NAMES: tuple[str, ...] = ("mean", "std", "p02_5", "p16", "p50", "p84", "p97_5")
_PERCENTILES = (2.5, 16.0, 50.0, 84.0, 97.5)

#: Statuses, in precedence order (the first that applies wins).
STATUSES: tuple[str, ...] = ("bad_input", "cut", "skipped", "unconverged", "mcmc", "reweighted", "ok")
#: Where a row's draws come from: the flow as drawn, the flow's draws resampled by their
#: importance weights, the draws of the flow's defensive mixture (``posterior.mixture``)
#: resampled by theirs, or the MCMC fallback.
METHODS: tuple[str, ...] = ("flow", "importance", "mixture", "mcmc")


def flow_status(trusted, efficiency, ok_efficiency: float) -> np.ndarray:
    """(G,) object: "ok" / "reweighted" where the weights are ``trusted``, None (routed) elsewhere."""
    eff = np.asarray(efficiency, dtype=np.float64)
    status = np.full(eff.shape, None, dtype=object)
    keep = np.asarray(trusted, dtype=bool)
    status[keep] = np.where(eff[keep] >= ok_efficiency, "ok", "reweighted")
    return status


def fallback_status(converged, chi2_median, chi2_best, max_chi2: float) -> np.ndarray:
    """(G,) object: "mcmc" where the chain converged and its posterior-median model fits within
    ``max_chi2`` of the best χ² its walkers reached, else "unconverged" (NaN χ² fails)."""
    with np.errstate(invalid="ignore"):
        fits = np.asarray(chi2_median, dtype=np.float64) <= np.asarray(chi2_best, dtype=np.float64) + max_chi2
    return np.where(np.asarray(converged, dtype=bool) & fits, "mcmc", "unconverged").astype(object)


def summary_columns() -> list[str]:
    """``<quantity>_<stat>`` column names in catalog order."""
    return [f"{q}_{s}" for q in QUANTITY_NAMES for s in STAT_NAMES]


def posterior_quantities(sps_model, theta_box, z, indices=None) -> np.ndarray:
    """(G, K, 17) physical parameters and derived properties of box-space draws (G, S, 11).

    ``z`` (G,) is each galaxy's redshift. ``indices`` (G, K) picks, per galaxy, which of its S
    draws to describe (e.g. an importance resampling, with repeats; -1 gives NaN); each distinct
    draw goes through the forward model once. None: all S draws in order. NaN draws (a galaxy
    that hit the rejection cap) stay NaN. Draws are clipped into the prior box first: float32
    draws accepted against the box in float32 may sit one ulp outside it in float64.
    """
    box = np.asarray(theta_box)
    g, s, _ = box.shape
    if indices is None:
        indices = np.broadcast_to(np.arange(s), (g, s))
    indices = np.asarray(indices, dtype=np.int64)
    k = indices.shape[1]
    picked, where = [], np.full((g, k), -1, dtype=np.int64)
    n_distinct = 0
    for i in range(g):
        valid = indices[i] >= 0
        distinct, inverse = np.unique(indices[i][valid], return_inverse=True)
        picked.append(box[i, distinct])
        where[i, valid] = n_distinct + inverse
        n_distinct += distinct.size
    flat = np.concatenate(picked).astype(np.float64) if picked else np.empty((0, N_BOX))
    zz = np.concatenate([np.full(len(rows), float(zi)) for rows, zi in zip(picked, np.asarray(z, dtype=np.float64))]) \
        if picked else np.empty(0)
    ok = np.all(np.isfinite(flat), axis=1)
    values = np.full((flat.shape[0] + 1, len(QUANTITY_NAMES)), np.nan)  # the last row answers index -1
    if ok.any():
        phys = box_to_physical(np.clip(flat[ok], BOX_LOWER, BOX_UPPER), validate=False)
        derived = sps_model.derived_properties(phys, zz[ok])
        rows = np.flatnonzero(ok)
        values[rows, : len(PHYSICAL_NAMES)] = phys
        for j, name in enumerate(DERIVED_NAMES):
            values[rows, len(PHYSICAL_NAMES) + j] = derived[name]
    return values[where]


def summarize_draws(values) -> np.ndarray:
    """(G, Q, 7) mean, std and percentiles (STAT_NAMES order) of draws ``values`` (G, S, Q).

    NaN draws are ignored; a galaxy without any finite draw gets NaN. A draw without star
    formation in the last Gyr has log_sfr_1gyr = -inf: percentiles keep it, the mean is then
    -inf and the std NaN.
    """
    with np.errstate(invalid="ignore"):
        return _summarize(np.asarray(values, dtype=np.float64))


def _summarize(v: np.ndarray) -> np.ndarray:
    g, _, q = v.shape
    out = np.full((g, q, len(STAT_NAMES)), np.nan)
    nan_rows = np.isnan(v).any(axis=(1, 2))
    full = ~nan_rows
    if full.any():
        vf = v[full]
        out[full, :, 0] = vf.mean(axis=1)
        out[full, :, 1] = vf.std(axis=1)
        out[full, :, 2:] = np.moveaxis(np.percentile(vf, _PERCENTILES, axis=1), 0, -1)
    for i in np.flatnonzero(nan_rows):  # rare: only galaxies that hit the rejection cap
        vi = v[i][~np.isnan(v[i]).any(axis=1)]
        if vi.shape[0]:
            out[i, :, 0] = vi.mean(axis=0)
            out[i, :, 1] = vi.std(axis=0)
            out[i, :, 2:] = np.percentile(vi, _PERCENTILES, axis=0).T
    return out


#: Draws per galaxy (evenly spaced through its posterior) whose model photometry gives the
#: posterior-median model fluxes of the χ² test.
N_CHI2_DRAWS = 100


def median_model_chi2(sps_model, theta_box, z, flux_nmgy, sigma_nmgy, n_draws: int = N_CHI2_DRAWS) -> np.ndarray:
    """(G,) χ² over the 5 bands of the posterior-median model fluxes against the data.

    The posterior-median model flux of a band is the median over ``n_draws`` posterior draws
    (box space, (G, S, 11)) of the model's flux in that band at the galaxy's redshift: the
    centre of the posterior predictive, which for a well-fitted galaxy lies within the noise
    of the data (χ² of order 5 or less). The model at the coordinate-wise median of the
    parameters is no such thing: in 11 dimensions with a mass–light ridge it often misses the
    data by far (median χ² ≈ 24 on in-support mock galaxies, against 1.7 for this statistic).
    The data are fluxes and flux errors (G, 5) [nanomaggies] (NaN: absent band, skipped), as in
    the fallback's likelihood. NaN for a galaxy without draws.
    """
    draws = stored_draws(theta_box, n_draws).astype(np.float64)  # (G, K, 11)
    g, k, _ = draws.shape
    flat = draws.reshape(g * k, N_BOX)
    ok = np.all(np.isfinite(flat), axis=1)
    model_flux = np.full((g * k, 5), np.nan)
    if ok.any():
        zz = np.repeat(np.asarray(z, dtype=np.float64), k)[ok]
        model_flux[ok] = sps_model.photometry(np.clip(flat[ok], BOX_LOWER, BOX_UPPER), zz, space="box",
                                              unit="nanomaggies")
    return median_flux_chi2(model_flux.reshape(g, k, 5), flux_nmgy, sigma_nmgy)


def median_flux_chi2(model_flux, flux_nmgy, sigma_nmgy) -> np.ndarray:
    """(G,) χ² of the median over draws of model fluxes (G, K, 5) [nmgy] against data (G, 5).

    The statistic of :func:`median_model_chi2`, for draws whose model fluxes are already known
    (the importance weights needed them). NaN draws are ignored; NaN for a galaxy without any.
    """
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN galaxies
        median_flux = np.nanmedian(np.asarray(model_flux, dtype=np.float64), axis=1)
    return chi2(median_flux, flux_nmgy, sigma_nmgy)


def stored_draws(theta_box, k: int) -> np.ndarray:
    """(G, k, 11) float32: k draws evenly spaced through each galaxy's S draws (all if k >= S)."""
    box = np.asarray(theta_box)
    s = box.shape[1]
    idx = np.linspace(0, s - 1, k).round().astype(np.int64) if k < s else np.arange(s)
    return box[:, idx].astype(np.float32)


def input_status(ingest_reason) -> np.ndarray:
    """(G,) object array: "bad_input" / "cut" from the ingest bits, else None (to be inferred)."""
    reason = np.asarray(ingest_reason, dtype=np.int64)
    status = np.full(reason.shape, None, dtype=object)
    status[(reason & int(CUT_BITS)) != 0] = "cut"
    status[(reason & int(DATA_VALIDITY_BITS)) != 0] = "bad_input"
    return status
