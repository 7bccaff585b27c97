"""A second proposal for a galaxy whose flow draws the importance weights reject.

Where the weights of the flow's draws are too heavy-tailed (k̂ above ``max_khat``) or too few
effective (efficiency below ``min_efficiency``), the flow is usually close to the posterior but
too narrow or a little off somewhere: its draws, reweighted, still say where the posterior is,
they cannot be trusted to say how much mass lies there. One round of adaptive importance
sampling (population Monte Carlo, Cappé et al. 2004, J. Comput. Graph. Stat. 13, 907) uses
them to build a broader proposal: a multivariate Student-t fitted to the weighted draws in the
flow's standardised coordinates (where the posterior is closest to Gaussian), its covariance
inflated. Half of a new set of S draws come from it, the other half are the flow's own draws,
and every draw is weighed against the *defensive mixture* both halves form,

    q_mix(θ) = α q_flow(θ) + (1 − α) q_t(θ),

(Hesterberg 1995, Technometrics 37, 185; deterministic-mixture weights, Owen & Zhou 2000, JASA
95, 135). The estimate stays unbiased for the same target, prior × Gaussian flux likelihood;
the flow component bounds the weights wherever the flow was right (w ≤ p L / (α q_flow)) and the
t component's heavy tails bound them where the flow was too narrow. The new weights are judged by
the same thresholds; a galaxy they pass keeps these draws (method ``"mixture"``), one they still
reject goes on to the MCMC fallback.

Pure numpy/torch; one galaxy at a time (the rejected galaxies are a minority of a batch).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from ..sps.parameters import N_BOX
from .artifact import PosteriorModel

#: Fewest finite flow draws with finite weights a t can be fitted to (its mean and covariance).
MIN_FIT_DRAWS = 4 * N_BOX
#: Smallest variance of the t's shape per coordinate, in the flow's standardised coordinates
#: (where the prior's spread is of order 1): far below any posterior width photometry gives.
MIN_SHAPE_VARIANCE = 1e-6


def fit_student_t(points: np.ndarray, weights: np.ndarray, *, df: float, inflation: float
                  ) -> stats._multivariate.multivariate_t_frozen:
    """A multivariate Student-t with ``df`` degrees of freedom at the weighted mean of ``points``
    (N, D) and with shape ``inflation`` × their weighted covariance.

    ``weights`` (N,) are non-negative, not necessarily normalised. A ridge of 1 % of the
    unweighted variances plus ``MIN_SHAPE_VARIANCE`` keeps the shape positive definite when the
    weights sit on few points, or the points on fewer than D dimensions (draws that all share one
    coordinate: then every variance of it is 0).
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = w @ points
    centred = points - mean
    cov = centred.T @ (centred * w[:, None])
    cov = 0.5 * (cov + cov.T)  # exactly symmetric: the weighted product may differ in the last bit
    ridge = np.diag(0.01 * np.var(points, axis=0) + MIN_SHAPE_VARIANCE)
    return stats.multivariate_t(loc=mean, shape=inflation * cov + ridge, df=df)


def mixture_draws(posterior: PosteriorModel, x: np.ndarray, flow_box: np.ndarray, flow_log_q: np.ndarray,
                  fit_box: np.ndarray, fit_log_weights: np.ndarray, rng: np.random.Generator, *, df: float,
                  inflation: float, flow_fraction: float) -> tuple[np.ndarray, np.ndarray] | None:
    """S draws of one galaxy from the defensive mixture and their log q_mix, in box coordinates.

    Args:
        posterior: the flow (its standardisation and density).
        x: (1, 16) the galaxy's flow inputs (``inputs.flow_inputs``).
        flow_box: (S, 11) the flow's draws (NaN rows: missing).
        flow_log_q: (S,) their log q_flow(θ_box | x).
        fit_box, fit_log_weights: (S', 11) draws and (S',) their PSIS-smoothed log weights
            (``ImportanceWeights.smoothed``) the t is fitted to: the flow's draws, or in a later
            round the previous mixture's.
        rng: the galaxy's random stream for the t draws.
        df, inflation: the t's degrees of freedom and covariance inflation.
        flow_fraction: α, the mixture's share of flow draws.

    Returns:
        (box (S, 11) float32, log_q_mix (S,) float64): the first round(α S) finite flow draws,
        then t draws (NaN rows: draws whose density is not finite, weight 0); None when fewer
        than ``MIN_FIT_DRAWS`` fit draws have finite weights or no proper t fits them (the
        galaxy then goes on to the fallback).
    """
    s = flow_box.shape[0]
    fit = np.all(np.isfinite(fit_box), axis=1) & np.isfinite(fit_log_weights)
    if fit.sum() < MIN_FIT_DRAWS:
        return None
    t_fit = posterior.standardize_theta(fit_box[fit]).numpy().astype(np.float64)
    w = np.exp(fit_log_weights[fit] - np.max(fit_log_weights[fit]))
    try:
        t_dist = fit_student_t(t_fit, w, df=df, inflation=inflation)
    except np.linalg.LinAlgError:  # a shape the ridge could not rescue (non-finite points): no t
        return None

    finite = np.all(np.isfinite(flow_box), axis=1) & np.isfinite(flow_log_q)
    n_flow = min(int(round(flow_fraction * s)), int(finite.sum()))
    keep = np.flatnonzero(finite)[:n_flow]
    t_flow = posterior.standardize_theta(flow_box[keep]).numpy().astype(np.float64)
    t_new = np.atleast_2d(t_dist.rvs(size=s - n_flow, random_state=rng)).reshape(s - n_flow, N_BOX)
    t_new_torch = torch.as_tensor(t_new)
    box_new = posterior.box_from_standardized(t_new_torch.to(torch.float32)).numpy()
    ok = np.all(np.isfinite(box_new), axis=1)  # a t draw far out may leave the float32 box map
    box = np.concatenate([flow_box[keep], box_new]).astype(np.float32)

    # each draw under both components: the flow's own log q is known, the t's draws need the flow
    log_t_of_flow = posterior.log_density_to_box(torch.as_tensor(t_flow), torch.as_tensor(t_dist.logpdf(t_flow)))
    log_t_of_new = posterior.log_density_to_box(t_new_torch, torch.as_tensor(t_dist.logpdf(t_new)))
    log_flow_of_new = np.full(s - n_flow, -np.inf)
    if ok.any():
        log_flow_of_new[ok] = posterior.log_prob(box_new[ok].astype(np.float64), x)
    log_flow = np.concatenate([flow_log_q[keep], log_flow_of_new])
    log_t = np.concatenate([np.atleast_1d(log_t_of_flow), np.atleast_1d(log_t_of_new)])
    log_q = np.logaddexp(np.log(flow_fraction) + log_flow, np.log1p(-flow_fraction) + log_t)
    # a draw at the edge of float32's box map has an infinite density there: weight 0, so drop it
    box[n_flow:][~ok] = np.nan
    box[~np.isfinite(log_q)] = np.nan
    return box, log_q
