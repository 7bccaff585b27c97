"""Training data: the training set as (θ_box, x) arrays and their standardisation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..files import file_sha256
from ..noise.proposal import NoiseProposal
from ..photometry import FLUX_COLUMNS
from ..posterior.inputs import flow_inputs
from ..simulate.io import (
    FLUX_ERR_COLUMNS,
    FLUX_OBS_COLUMNS,
    THETA_COLUMNS,
    part_files,
    read_training_set,
    training_set_metadata,
)


@dataclass(frozen=True)
class TrainingData:
    """θ_box (N, 11) float32 and flow inputs x (N, 16) float64 (NaN in absent bands), with the
    set's summary and data hash; with ``noiseless``, also each row's noiseless fluxes (N, 5)
    [nmgy] and redshift (N,) for observing it afresh (:func:`reobserved_inputs`)."""

    theta: np.ndarray
    x: np.ndarray
    summary: dict[str, Any]
    path: str

    sha256: str
    flux_true: np.ndarray | None = None
    z: np.ndarray | None = None


def training_set_sha256(path: str | Path) -> str:
    """Hash of the bytes of a training set's data files, in manifest order.

    The files' bytes, not the summary: a swapped or edited chunk changes it. Each file
    contributes its name and its own sha256, so the hash is independent of how files are read.
    """
    digest = hashlib.sha256()
    for part in part_files(path):
        digest.update(f"{part.name}\0{file_sha256(part)}\n".encode())
    return digest.hexdigest()


def load_training_data(path: str | Path, *, noiseless: bool = False) -> TrainingData:
    """Read a complete training set (``sedflow simulate`` output); ``noiseless``: its noiseless
    fluxes too."""
    summary = training_set_metadata(path)
    table = read_training_set(path, columns=[*THETA_COLUMNS, *FLUX_OBS_COLUMNS, *FLUX_ERR_COLUMNS, "z",
                                             *(FLUX_COLUMNS if noiseless else ())])
    theta = np.column_stack([table[c].to_numpy() for c in THETA_COLUMNS]).astype(np.float32)

    def block(columns) -> np.ndarray:
        return np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in columns]).astype(np.float64)

    z = table["z"].to_numpy().astype(np.float64)
    x = flow_inputs(block(FLUX_OBS_COLUMNS), block(FLUX_ERR_COLUMNS), z)
    return TrainingData(theta=theta, x=x, summary=summary, path=str(Path(path).resolve()),
                        sha256=training_set_sha256(path), flux_true=block(FLUX_COLUMNS) if noiseless else None,
                        z=z if noiseless else None)


def training_proposal(summary: dict[str, Any], proposal: NoiseProposal) -> NoiseProposal:
    """``proposal`` if it is the one the training set was simulated with (same ``proposal_sha256``),
    else a ValueError naming both hashes."""
    expected = summary.get("proposal_sha256")
    if proposal.sha256() != expected:
        raise ValueError(f"train.renoise: the configured noise proposal (sha256 {proposal.sha256()[:12]}) is not "
                         f"the one the training set was simulated with ({str(expected)[:12]}); set noise.proposal "
                         f"or noise.model as for `sedflow simulate`")
    return proposal


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The random stream of one epoch's fresh observations (independent of the batch order's)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x0B5E, epoch]))


def reobserved_inputs(proposal: NoiseProposal, flux_true: np.ndarray, z: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """(N, 16) flow inputs of noiseless fluxes (N, 5) [nmgy] at redshifts (N,), observed afresh
    through ``proposal`` (errors, Gaussian flux noise, dropped bands)."""
    obs = proposal.observe(flux_true, rng)
    return flow_inputs(obs.flux, obs.sigma_flux, z)


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices: a seeded random split."""
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0x5EDF])).permutation(n)
    n_val = max(1, int(round(n * validation_fraction)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def standardization(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation (float64; a constant column gets std 1)."""
    v = np.asarray(values, dtype=np.float64)
    mean, std = v.mean(axis=0), v.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)
