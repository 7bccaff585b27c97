"""The posterior-model artifact (``docs/data-contracts.md`` §5): save, load, verify.

A directory with ``weights.pt`` (a torch state_dict, loaded with ``weights_only=True``, never
a pickle of objects) and ``model.json`` (architecture, standardisation, prior, provenance).
Loading needs nothing else: the network is rebuilt from ``model.json`` and filled from the
weights, whose sha256 ``model.json`` records.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..files import check_format, file_sha256, read_json
from ..prior import SEDPrior
from ..sps.parameters import BOX_LOWER, BOX_NAMES, BOX_UPPER
from .flows import N_THETA, build_flow
from .inputs import INPUT_KIND, INPUT_NAMES, N_INPUTS, standardize_inputs
from .transforms import (
    THETA_TRANSFORMS,
    from_flow_space,
    log_abs_det_from_flow_space,
    log_abs_det_jacobian,
    to_flow_space,
)

if TYPE_CHECKING:
    from sbi.neural_nets.estimators import ConditionalDensityEstimator

FORMAT = "sedflow_dask.posterior_model"
FORMAT_VERSION = 2
X_NAMES: tuple[str, ...] = INPUT_NAMES
WEIGHTS = "weights.pt"
MODEL_JSON = "model.json"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "models" / "default"


@dataclass
class PosteriorModel:
    """A trained q(θ_box | x) with its standardisation and provenance.

    Attributes:
        estimator: the sbi density estimator (in standardised coordinates).
        theta_mean, theta_std: (11,) standardisation of θ in the flow's space.
        x_mean, x_std: (16,) standardisation of x (``posterior.inputs``: asinh magnitudes, log10 σ_f,
            band mask, z), over present bands.
        meta: the ``model.json`` content.
        theta_transform: "none" (the flow models box coordinates), "logit" or "probit" (each
            box coordinate's logit or normal quantile; see :mod:`.transforms`).
    """

    estimator: ConditionalDensityEstimator
    theta_mean: np.ndarray
    theta_std: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    theta_transform: str = "none"

    @property
    def prior(self) -> SEDPrior:
        red = self.meta.get("prior", {}).get("redshift", {})
        return SEDPrior(z_min=red.get("z_min", 1e-4), z_max=red.get("z_max", 0.2),
                        simplex=self.meta.get("prior", {}).get("simplex", "uniform_sticks"))

    @property
    def sha256(self) -> str:
        """Hash of the weights file content (``model.json`` field ``weights_sha256``)."""
        return str(self.meta.get("weights_sha256", ""))

    def standardize_x(self, x: np.ndarray) -> torch.Tensor:
        """Inputs (G, 16) (``posterior.flow_inputs``) → the flow's float32 context; absent bands → 0."""
        return torch.from_numpy(standardize_inputs(x, self.x_mean, self.x_std))

    def standardize_theta(self, theta_box: np.ndarray) -> torch.Tensor:
        """Box coordinates → the flow's standardised coordinates."""
        flow = to_flow_space(theta_box, self.theta_transform, BOX_LOWER, BOX_UPPER)
        return torch.as_tensor((flow - self.theta_mean) / self.theta_std, dtype=torch.float32)

    def box_from_standardized(self, t: torch.Tensor) -> torch.Tensor:
        """The flow's standardised coordinates → box coordinates (torch, float32)."""
        std = torch.as_tensor(self.theta_std, dtype=t.dtype)
        mean = torch.as_tensor(self.theta_mean, dtype=t.dtype)
        return from_flow_space(t * std + mean, self.theta_transform, torch.tensor(BOX_LOWER, dtype=t.dtype),
                               torch.tensor(BOX_UPPER, dtype=t.dtype))

    def log_density_to_box(self, t: torch.Tensor, log_q_t: torch.Tensor) -> np.ndarray:
        """(...,) float64 log q(θ_box | x) of draws whose standardised coordinates t (..., 11)
        have density log q(t | x) (...): the standardisation's and the transform's Jacobians."""
        t64 = t.to(torch.float64)
        flow = t64 * torch.as_tensor(self.theta_std) + torch.as_tensor(self.theta_mean)
        to_box = log_abs_det_from_flow_space(flow, self.theta_transform, torch.tensor(BOX_LOWER),
                                             torch.tensor(BOX_UPPER))
        return (log_q_t.to(torch.float64) - float(np.sum(np.log(self.theta_std))) - to_box).numpy()

    def log_prob(self, theta_box: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(N,) log q(θ_box | x) in box coordinates (the standardisation's Jacobian included)."""
        with torch.no_grad():
            lp = self.estimator.log_prob(self.standardize_theta(theta_box).unsqueeze(0),
                                         self.standardize_x(x)).squeeze(0)
        jacobian = log_abs_det_jacobian(theta_box, self.theta_transform, BOX_LOWER, BOX_UPPER)
        return lp.numpy().astype(np.float64) - float(np.sum(np.log(self.theta_std))) + jacobian

    def save(self, directory: str | Path) -> Path:
        """Write ``weights.pt`` and ``model.json`` into ``directory`` (each atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{WEIGHTS}.{uuid.uuid4().hex[:8]}.tmp"
        torch.save(self.estimator.state_dict(), tmp)
        self.meta["weights_sha256"] = file_sha256(tmp)
        os.replace(tmp, directory / WEIGHTS)
        self.meta.update({
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "theta_names": list(BOX_NAMES), "x_names": list(X_NAMES), "x_kind": INPUT_KIND,
            "standardization": {"theta_transform": self.theta_transform,
                                "theta_mean": self.theta_mean.tolist(), "theta_std": self.theta_std.tolist(),
                                "x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist()},
        })
        tmp_json = directory / f".{MODEL_JSON}.{uuid.uuid4().hex[:8]}.tmp"
        tmp_json.write_text(json.dumps(self.meta, indent=1, sort_keys=True) + "\n")
        os.replace(tmp_json, directory / MODEL_JSON)
        return directory


def load_posterior_model(directory: str | Path | None = None) -> PosteriorModel:
    """Load an artifact directory (None: the default model shipped with the package).

    Raises ValueError naming the file and field for a foreign, incomplete or corrupt artifact.
    """
    directory = DEFAULT_MODEL_DIR if directory is None else Path(directory)
    json_path, weights_path = directory / MODEL_JSON, directory / WEIGHTS
    if not directory.is_dir():
        raise ValueError(f"posterior model {directory} does not exist or is not a directory")
    meta = read_json(json_path, "posterior model file")
    check_format(meta, FORMAT, FORMAT_VERSION, str(json_path), "posterior model")
    for key in ("architecture", "standardization", "prior", "weights_sha256"):
        if key not in meta:
            raise ValueError(f"{json_path}: missing field {key!r}")
    std = meta["standardization"]
    arrays = {}
    for key in ("theta_mean", "theta_std", "x_mean", "x_std"):
        try:
            arr = np.asarray(std[key], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{json_path}: field 'standardization.{key}' missing or not numeric") from None
        if arr.shape != ((N_THETA,) if key.startswith("theta") else (N_INPUTS,)) or not np.all(np.isfinite(arr)):
            raise ValueError(f"{json_path}: field 'standardization.{key}' has shape {arr.shape} or non-finite values")
        if key.endswith("std") and np.any(arr <= 0):
            raise ValueError(f"{json_path}: field 'standardization.{key}' must be positive")
        arrays[key] = arr
    transform = std.get("theta_transform", "none")
    if transform not in THETA_TRANSFORMS:
        raise ValueError(f"{json_path}: field 'standardization.theta_transform' is {transform!r}; "
                         f"expected one of {THETA_TRANSFORMS}")
    prior = meta["prior"]
    if not (np.allclose(prior.get("lower", []), BOX_LOWER) and np.allclose(prior.get("upper", []), BOX_UPPER)):
        raise ValueError(f"{json_path}: field 'prior' has another parameter box than this package's")
    if not weights_path.exists():
        raise ValueError(f"posterior model {directory}: {WEIGHTS} is missing")
    digest = file_sha256(weights_path)
    if digest != meta["weights_sha256"]:
        raise ValueError(f"{weights_path}: sha256 {digest[:12]}… does not match model.json field "
                         f"'weights_sha256' ({str(meta['weights_sha256'])[:12]}…): corrupt or foreign weights")
    try:
        estimator = build_flow(meta["architecture"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{json_path}: field 'architecture' cannot be built: {exc}") from None
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        estimator.load_state_dict(state)
    except Exception as exc:  # torch raises many types for a bad file or mismatched shapes
        raise ValueError(f"{weights_path}: not loadable into the architecture of {json_path}: {exc}") from None
    estimator.eval()
    return PosteriorModel(estimator=estimator, theta_mean=arrays["theta_mean"], theta_std=arrays["theta_std"],
                          x_mean=arrays["x_mean"], x_std=arrays["x_std"], meta=meta, theta_transform=transform)

