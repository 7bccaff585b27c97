"""Training data: the training set as (θ_box, x) arrays and their standardisation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..posterior.artifact import X_NAMES
from ..simulate.io import THETA_COLUMNS, read_training_set, training_set_metadata


@dataclass(frozen=True)
class TrainingData:
    """θ_box (N, 11) and x (N, 11) as float32, with the set's summary."""

    theta: np.ndarray
    x: np.ndarray
    summary: dict[str, Any]
    path: str

    @property
    def sha256(self) -> str:
        """Hash of the set's summary (its chunks, counts, seeds and model hashes)."""
        return summary_sha256(self.summary)


def summary_sha256(summary: dict[str, Any]) -> str:
    keep = {k: v for k, v in summary.items() if k not in ("wall_s", "created_utc")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def load_training_data(path: str | Path) -> TrainingData:
    """Read a complete training set (``sedflow simulate`` output)."""
    summary = training_set_metadata(path)
    table = read_training_set(path, columns=[*THETA_COLUMNS, *X_NAMES])
    theta = np.column_stack([table[c].to_numpy() for c in THETA_COLUMNS]).astype(np.float32)
    x = np.column_stack([table[c].to_numpy() for c in X_NAMES]).astype(np.float32)
    return TrainingData(theta=theta, x=x, summary=summary, path=str(Path(path).resolve()))


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
