"""Maps between the prior box and the space the flow models.

"logit" sends each box coordinate to the real line, θ' = logit((θ − lo) / (hi − lo)): a flow
with a Gaussian base then never puts mass outside the box, and a posterior that fills its
whole prior range (often the case for u3 or tburst) becomes a logistic bump instead of a
hard-edged uniform the flow cannot draw. "none" models the box coordinates themselves, as the
paper did, and relies on rejection. Measured on 2,000 held-out simulations with the same
architecture and budget, "none" under-covered (68 % intervals held 51–65 %, SBC KS p down to
1e-17 for u3 and tburst); see the README for the "logit" numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

ThetaTransform = Literal["none", "logit"]
THETA_TRANSFORMS: tuple[str, ...] = ("none", "logit")
#: Unit-interval clip before the logit, so box edges map to finite values (±13.8).
LOGIT_EPS = 1e-6


def to_flow_space(theta_box: np.ndarray, kind: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(N, 11) box coordinates → the flow's coordinates (float64)."""
    theta = np.asarray(theta_box, dtype=np.float64)
    if kind == "none":
        return theta
    u = np.clip((theta - lower) / (upper - lower), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(u) - np.log1p(-u)


def from_flow_space(t: torch.Tensor, kind: str, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """The flow's coordinates → box coordinates (torch, any leading shape)."""
    if kind == "none":
        return t
    return lower + (upper - lower) * torch.sigmoid(t)


def log_abs_det_jacobian(theta_box: np.ndarray, kind: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(N,) log |d θ' / d θ| of :func:`to_flow_space` (0 for "none")."""
    theta = np.asarray(theta_box, dtype=np.float64)
    if kind == "none":
        return np.zeros(theta.shape[0])
    u = np.clip((theta - lower) / (upper - lower), LOGIT_EPS, 1 - LOGIT_EPS)
    return -np.sum(np.log(u) + np.log1p(-u) + np.log(upper - lower), axis=1)
