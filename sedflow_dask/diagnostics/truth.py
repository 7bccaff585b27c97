"""A posterior catalog of a mock NSA catalog against the mock's true parameters.

The mock's galaxies are not drawn from the prior (their masses follow a target r magnitude), so
this is a check on a realistic population, not simulation-based calibration (``sedflow
validate`` does that). Only a mock can be checked this way: real galaxies have no truth
(:mod:`sedflow_dask.diagnostics.real_report` holds what can be checked on them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..sps.parameters import BOX_NAMES, N_BOX
from .calibration import PP_LEVELS, central_interval_coverage

#: Statuses whose draws are meant to be the posterior: the flow's as drawn (ok) or importance-reweighted,
#: and a converged MCMC.
TRUSTED_STATUSES: tuple[str, ...] = ("ok", "reweighted", "mcmc")


def catalog_with_truth(catalog: str | Path, truth_path: str | Path, statuses: Sequence[str] = TRUSTED_STATUSES
                       ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Catalog rows of ``statuses`` joined to the mock's truth, for galaxies whose θ reproduce their fluxes.

    Returns ``(frame, draws, truth)``: the joined rows (without ``samples``), (G, K, 11) stored
    box-space draws and (G, 11) true box θ.
    """
    from ..query import query_catalog

    status_list = ", ".join(f"'{s}'" for s in statuses)
    frame = query_catalog(catalog, f"SELECT nsaid, status, z, log_mstar_p16, log_mstar_p50, log_mstar_p84, "
                                   f"log_sfr_1gyr_p50, samples FROM catalog WHERE status IN ({status_list})")
    truth = pd.read_parquet(truth_path)
    truth = truth[truth["theta_reproduces_flux"]]
    theta_cols = [f"theta_{i}" for i in range(N_BOX)]
    merged = frame.merge(truth[["nsaid", *theta_cols]], on="nsaid", how="inner")
    draws = (np.stack([np.asarray(s, dtype=np.float64).reshape(-1, N_BOX) for s in merged["samples"]])
             if len(merged) else np.zeros((0, 1, N_BOX)))
    theta = merged[theta_cols].to_numpy(np.float64)
    return merged.drop(columns="samples"), draws, theta


@dataclasses.dataclass
class TruthValidation:
    """Numbers (``metrics``, JSON-serialisable) and the arrays the figure shows.

    Attributes:
        metrics: galaxies used, log M* median |error| [dex], 68/95 % central-interval coverage
            per box parameter, and the binomial σ of a coverage fraction at this sample size.
        frame: the joined rows (:func:`catalog_with_truth`).
        coverage: (len(PP_LEVELS), 11) p-p coverage of the stored draws.
        plane: status, log_mstar_p50 and log_sfr_1gyr_p50 of every row with a posterior.
    """

    metrics: dict[str, Any]
    frame: pd.DataFrame
    coverage: np.ndarray
    plane: pd.DataFrame


def truth_validation(catalog: str | Path, truth_path: str | Path, statuses: Sequence[str] = TRUSTED_STATUSES
                     ) -> TruthValidation:
    """Recovery of log M* and p-p coverage of the stored draws of ``statuses`` against the truths."""
    from ..query import query_catalog

    frame, draws, theta = catalog_with_truth(catalog, truth_path, statuses)
    g = len(frame)
    coverage = central_interval_coverage(draws, theta) if g else np.full((len(PP_LEVELS), N_BOX), np.nan)
    cov68, cov95 = (central_interval_coverage(draws, theta, [lvl])[0] if g else np.full(N_BOX, np.nan)
                    for lvl in (0.68, 0.95))
    err = np.abs(frame["log_mstar_p50"].to_numpy() - frame["theta_0"].to_numpy())
    plane = query_catalog(catalog, "SELECT status, log_mstar_p50, log_sfr_1gyr_p50 FROM catalog "
                                   "WHERE method IS NOT NULL")
    metrics = {
        "catalog": str(catalog), "truth": str(truth_path), "n_galaxies": g, "statuses": list(statuses),
        "n_stored_draws": int(draws.shape[1]),
        "log_mstar_median_abs_error": float(np.median(err)) if g else None,
        "coverage_box": {"68": {n: float(c) for n, c in zip(BOX_NAMES, cov68)},
                         "95": {n: float(c) for n, c in zip(BOX_NAMES, cov95)}},
        "coverage_binomial_sigma": {"68": float(np.sqrt(0.68 * 0.32 / g)) if g else None,
                                    "95": float(np.sqrt(0.95 * 0.05 / g)) if g else None},
        "note": "the mock is not drawn from the prior (masses follow a target r magnitude): a population check, "
                "not simulation-based calibration",
    }
    return TruthValidation(metrics=metrics, frame=frame, coverage=coverage, plane=plane)
