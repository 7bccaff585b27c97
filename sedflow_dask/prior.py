"""SEDflow's prior as one typed object: sampling, log-density, support and the physical map.

The inferred parameters are the 11 box coordinates of ``docs/sps-model.md`` §1.2 (uniform on
the box with the paper's stick-breaking simplex); the redshift is a condition, not inferred,
and has its own uniform prior U(z_min, z_max] (the paper's U(0, 0.2) floored at 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from .sps.parameters import (
    BOX_LOWER,
    BOX_NAMES,
    BOX_UPPER,
    N_BOX,
    as_parameter_array,
    box_to_physical,
    draw_box_prior,
)

Simplex = Literal["uniform_sticks", "flat_dirichlet"]


@dataclass(frozen=True)
class SEDPrior:
    """p(θ_box) × p(z) of the training set.

    Attributes:
        z_min, z_max: redshift range, z ~ U(z_min, z_max].
        simplex: "uniform_sticks" (paper: u1, u2, u3 ~ U(0, 1), so p(θ_box) is flat on the box)
            or "flat_dirichlet" (u1 ~ Beta(3, 1), u2 ~ Beta(2, 1): a flat Dirichlet on β).
    """

    z_min: float = 1e-4
    z_max: float = 0.2
    simplex: Simplex = "uniform_sticks"

    def __post_init__(self) -> None:
        if not 0 < self.z_min < self.z_max <= 0.2:
            raise ValueError(f"SEDPrior: need 0 < z_min < z_max <= 0.2; got {self.z_min}, {self.z_max}")
        if self.simplex not in ("uniform_sticks", "flat_dirichlet"):
            raise ValueError(f"SEDPrior.simplex = {self.simplex!r}; expected 'uniform_sticks' or 'flat_dirichlet'")

    names: ClassVar[tuple[str, ...]] = BOX_NAMES
    lower: ClassVar[np.ndarray] = BOX_LOWER
    upper: ClassVar[np.ndarray] = BOX_UPPER

    @classmethod
    def from_config(cls, config) -> SEDPrior:
        """From a :class:`sedflow_dask.config.SimulationConfig`."""
        return cls(z_min=config.z_min, z_max=config.z_max, simplex=config.simplex)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` galaxies: θ_box (n, 11) and z (n,)."""
        return draw_box_prior(n, rng, z_range=(self.z_min, self.z_max), simplex=self.simplex)

    def in_support(self, theta_box) -> np.ndarray:
        """(N,) True where every coordinate lies inside the box (bounds included)."""
        tb = np.asarray(theta_box, dtype=np.float64).reshape(-1, N_BOX)
        return np.all((tb >= BOX_LOWER) & (tb <= BOX_UPPER), axis=1) & np.all(np.isfinite(tb), axis=1)

    def log_prob(self, theta_box) -> np.ndarray:
        """(N,) log p(θ_box) [natural log of a density in box coordinates]; -inf outside."""
        tb = np.asarray(theta_box, dtype=np.float64).reshape(-1, N_BOX)
        inside = self.in_support(tb)
        logp = np.full(tb.shape[0], -float(np.sum(np.log(BOX_UPPER - BOX_LOWER))))
        if self.simplex == "flat_dirichlet":
            with np.errstate(divide="ignore"):
                # Beta(3, 1) on u1 and Beta(2, 1) on u2 replace their U(0, 1) factors.
                logp = logp + np.log(3.0) + 2 * np.log(tb[:, 1]) + np.log(2.0) + np.log(tb[:, 2])
        return np.where(inside, logp, -np.inf)

    def log_prob_redshift(self, z) -> np.ndarray:
        """(N,) log p(z); -inf outside (z_min, z_max]."""
        z = np.asarray(z, dtype=np.float64)
        inside = (z > self.z_min) & (z <= self.z_max)
        return np.where(inside, -np.log(self.z_max - self.z_min), -np.inf)

    def to_physical(self, theta_box) -> np.ndarray:
        """(N, 12) physical parameters of (N, 11) box coordinates (raises outside the box)."""
        return box_to_physical(as_parameter_array(theta_box, N_BOX, "theta_box"))

    def to_dict(self) -> dict[str, Any]:
        """Description stored with every artifact trained or simulated under this prior."""
        return {
            "space": "box",
            "names": list(BOX_NAMES),
            "lower": BOX_LOWER.tolist(),
            "upper": BOX_UPPER.tolist(),
            "transform": "docs/sps-model.md §1.2: stick-breaking u1..u3 -> beta1..beta4, log10 gamma",
            "simplex": self.simplex,
            "redshift": {"distribution": "uniform", "z_min": self.z_min, "z_max": self.z_max},
        }
