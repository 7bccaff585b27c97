"""Maps between the prior box and the space the flow models.

"probit" sends each box coordinate to the real line through the standard normal quantile,
θ' = Φ⁻¹((θ − lo) / (hi − lo)): the uniform prior becomes exactly the flow's Gaussian base
distribution, so a posterior that is close to its prior (log_gamma1, tau_ism, tburst, u3 on
most galaxies) is close to the identity map, which an affine flow draws exactly. "logit"
sends each box coordinate to the real line by θ' = logit((θ − lo) / (hi − lo)). With either, a
flow never puts mass outside the box, and a posterior that fills its whole prior range becomes
a smooth bump instead of a hard-edged uniform the flow cannot draw. "none" models the box
coordinates themselves, as the paper did, and relies on rejection.

Measured on 2,000 held-out simulations with the same architecture and budget: "none"
under-covered (68 % intervals held 51–65 %, SBC KS p down to 1e-17 for u3 and tburst); "logit"
over-covered the prior-like parameters by 2–4 % at 68 %, because the prior becomes a logistic
whose exponential tails a Gaussian-based affine flow approximates by a broader Gaussian (one
matched in variance, σ = π/√3, covers 71.9 % of the logistic within ±1σ and 94.4 % within
±1.96σ, the pattern measured); "probit" brought u3 from 72.4 to 68.8 % and tau_bc from 71.1 to
67.5 %. The README has the full numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtri

THETA_TRANSFORMS: tuple[str, ...] = ("none", "logit", "probit")
#: Unit-interval clip before the logit/probit, so box edges map to finite values (±13.8 / ±4.75).
LOGIT_EPS = 1e-6
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _unit(theta: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.clip((theta - lower) / (upper - lower), LOGIT_EPS, 1 - LOGIT_EPS)


def to_flow_space(theta_box: np.ndarray, kind: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(N, 11) box coordinates → the flow's coordinates (float64)."""
    theta = np.asarray(theta_box, dtype=np.float64)
    if kind == "none":
        return theta
    u = _unit(theta, lower, upper)
    if kind == "probit":
        return ndtri(u)
    return np.log(u) - np.log1p(-u)


def from_flow_space(t: torch.Tensor, kind: str, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """The flow's coordinates → box coordinates (torch, any leading shape)."""
    if kind == "none":
        return t
    if kind == "probit":
        return lower + (upper - lower) * torch.special.ndtr(t)
    return lower + (upper - lower) * torch.sigmoid(t)


def log_abs_det_from_flow_space(t: torch.Tensor, kind: str, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """log |d θ / d θ'| of :func:`from_flow_space` at the flow's coordinates ``t`` (..., 11) → (...).

    Evaluated at the flow's coordinates, not at the box point, so it stays exact where the box
    coordinate rounds onto an edge (the inverse of :func:`log_abs_det_jacobian` there clips).
    """
    log_span = torch.log(upper - lower).sum()
    if kind == "none":
        return torch.zeros(t.shape[:-1], dtype=t.dtype)
    if kind == "probit":
        return log_span - (0.5 * t * t + _HALF_LOG_2PI).sum(dim=-1)
    return log_span - (torch.nn.functional.softplus(t) + torch.nn.functional.softplus(-t)).sum(dim=-1)


def log_abs_det_jacobian(theta_box: np.ndarray, kind: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(N,) log |d θ' / d θ| of :func:`to_flow_space` (0 for "none")."""
    theta = np.asarray(theta_box, dtype=np.float64)
    if kind == "none":
        return np.zeros(theta.shape[0])
    u = _unit(theta, lower, upper)
    if kind == "probit":
        # dθ'/du = 1 / φ(Φ⁻¹(u))
        t = ndtri(u)
        return np.sum(0.5 * t**2 + _HALF_LOG_2PI - np.log(upper - lower), axis=1)
    return -np.sum(np.log(u) + np.log1p(-u) + np.log(upper - lower), axis=1)
