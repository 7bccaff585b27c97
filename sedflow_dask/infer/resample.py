"""Re-draw one galaxy's full posterior from its catalog row (``sedflow resample``).

The catalog keeps summaries and a few draws per galaxy; its ``seed`` column and provenance
(model hash, sampling and fallback settings) determine every draw, so the full posterior can be
re-drawn on demand and reproduces the catalog's summaries (to ~1e-6 relative: float32 sums).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import FallbackConfig, SamplingConfig
from ..fallback import run_fallback
from ..ingest.io import read_ingested
from ..likelihood import observations_from_catalog
from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS
from ..runtime import single_threaded_torch
from .catalog import partition_path, read_catalog_provenance
from .core import QUANTITY_NAMES, STAT_NAMES, posterior_quantities, stored_draws, summarize_draws
from .partition import N_INIT_DRAWS, weighed_flow_batch
from .resources import InferenceResources


@dataclass(frozen=True)
class Resampled:
    """A galaxy's re-drawn posterior.

    Attributes:
        row: the galaxy's catalog row (without the stored samples).
        samples: (S, 11) box-space draws; quantities: (S, 17) physical parameters and derived
            properties (``QUANTITY_NAMES``).
        summaries: ``<quantity>_<stat>`` -> value, computed as the catalog computes them.
        max_rel_diff: largest relative difference to the catalog's summaries (when the draw
            count equals the catalog's; else None).
    """

    row: dict[str, Any]
    samples: np.ndarray
    quantities: np.ndarray
    summaries: dict[str, float]
    max_rel_diff: float | None

    def frame(self) -> pd.DataFrame:
        """The draws as a table: box coordinates, physical parameters and derived properties."""
        from ..sps.parameters import BOX_NAMES

        data = {f"box_{n}": self.samples[:, i] for i, n in enumerate(BOX_NAMES)}
        data.update({n: self.quantities[:, i] for i, n in enumerate(QUANTITY_NAMES)})
        return pd.DataFrame(data)


def locate_galaxy(catalog: str | Path, nsaid: int) -> tuple[Path, pd.DataFrame, int]:
    """(partition file, its rows without the stored draws, row position) of galaxy ``nsaid``."""
    import pyarrow.parquet as pq
    from hats.catalog import PartitionInfo

    hit = read_ingested(catalog, columns=["nsaid", "_healpix_29"], filters=[("nsaid", "==", int(nsaid))])
    if len(hit) != 1:
        raise ValueError(f"{catalog}: NSAID {nsaid} {'is not in the catalog' if len(hit) == 0 else 'is duplicated'}")
    h29 = int(hit["_healpix_29"].iloc[0])
    for px in PartitionInfo.read_from_dir(str(catalog)).get_healpix_pixels():
        if h29 >> (2 * (29 - px.order)) == px.pixel:
            path = partition_path(catalog, px.order, px.pixel)
            names = [n for n in pq.read_schema(path).names if n != "samples"]
            frame = pq.read_table(path, columns=names).to_pandas()
            return path, frame, int(np.flatnonzero(frame["nsaid"].to_numpy() == int(nsaid))[0])
    raise ValueError(f"{catalog}: NSAID {nsaid} lies in no pixel of partition_info.csv")


def flow_batch(frame: pd.DataFrame, position: int, sample: SamplingConfig) -> np.ndarray:
    """Row positions of the flow batch that held row ``position`` when the catalog was made.

    The flow ran on the pixel's row ranges of ``sample.task_rows`` rows, and in each on the
    galaxies with a posterior (``method`` set, whatever the status) in batches of
    ``sample.batch_galaxies``; re-drawing and re-weighing that whole batch repeats the catalog's
    float32 arithmetic exactly, where a batch of one would differ by ~1e-6.
    """
    start = position // sample.task_rows * sample.task_rows
    chunk = frame.iloc[start:start + sample.task_rows]
    usable = start + np.flatnonzero(chunk["method"].notna().to_numpy())
    k = int(np.flatnonzero(usable == position)[0]) // sample.batch_galaxies
    return usable[k * sample.batch_galaxies:(k + 1) * sample.batch_galaxies]


def resample_galaxy(catalog: str | Path, nsaid: int, n: int | None = None, *,
                    model_dir: str | Path | None = None) -> Resampled:
    """Re-draw galaxy ``nsaid``'s posterior with the catalog's model, seed and settings.

    ``n`` draws (default: the catalog's, ``sample.n_samples`` or ``fallback.n_keep``, which
    reproduces its summaries).
    Flow galaxies are re-drawn from the flow, re-weighed and re-resampled (method "importance"),
    given the same defensive mixture (method "mixture") or kept as drawn (method "flow"); fallback galaxies re-run the MCMC from the same resampled
    flow draws (the same chain when it converged; a chain stopped by its time cap depends on
    the machine's speed). Raises ValueError for
    galaxies without a posterior (status ``cut``/``bad_input``) or a model other than the
    catalog's.
    """
    prov = read_catalog_provenance(catalog)
    _, frame, position = locate_galaxy(catalog, nsaid)
    row = frame.iloc[position].to_dict()
    if not isinstance(row["method"], str):
        raise ValueError(f"NSAID {nsaid} has status {row['status']!r}: the catalog holds no posterior for it")
    model_dir = Path(model_dir) if model_dir is not None else Path(prov["model"]["dir"])
    if not model_dir.is_dir():
        raise ValueError(f"the catalog's model {model_dir} is not there; pass the artifact with --model")
    resources = InferenceResources(model_dir)
    resources.load()
    if resources.posterior.sha256 != prov["model"]["sha256"]:
        raise ValueError(f"model {model_dir} has weights {resources.posterior.sha256[:12]}…, the catalog was made "
                         f"with {prov['model']['sha256'][:12]}…")
    settings = prov["config"]
    sample = SamplingConfig(**settings["sample"])
    fallback = FallbackConfig(**settings["fallback"])
    batch = flow_batch(frame, position, sample)
    rows = frame.iloc[batch]
    flux, sigma = observations_from_catalog(rows[list(FLUX_COLUMNS)].to_numpy(np.float64),
                                            rows[list(IVAR_COLUMNS)].to_numpy(np.float64))
    z = rows["z"].to_numpy(np.float64)
    seeds = rows["seed"].to_numpy(np.uint64)
    me = int(np.flatnonzero(batch == position)[0])
    mine = slice(me, me + 1)
    n_catalog = fallback.n_keep if row["method"] == "mcmc" else sample.n_samples
    n_draws = n_catalog if n is None else int(n)
    with single_threaded_torch():  # as on the workers
        weighed = weighed_flow_batch(resources.posterior, resources.sps, flux, sigma, z, seeds, sample.n_samples,
                                     sample.max_rounds, sample.batch_galaxies, fallback)
        if row["method"] != "mcmc":
            model = resources.sps
            draws = weighed.draws[me:me + 1] if n_draws == sample.n_samples else weighed_flow_batch(
                resources.posterior, resources.sps, flux[mine], sigma[mine], z[mine], seeds[mine], n_draws,
                sample.max_rounds, sample.batch_galaxies, fallback).draws
        else:
            # the catalog's fallback task started its walkers from these resampled flow draws;
            # float64 chains do not depend on the other galaxies of their batch
            model = resources.fallback
            start = stored_draws(weighed.take(weighed.samples, weighed.resampled)[mine], N_INIT_DRAWS)
            draws = run_fallback(model, flux[mine], sigma[mine], z[mine], seeds=seeds[mine], init=start,
                                 config=dataclasses.replace(fallback, n_keep=n_draws), batch_galaxies=1).samples
    quantities = posterior_quantities(model, draws, z[mine])
    stats = summarize_draws(quantities)[0]
    summaries = {f"{q}_{s}": float(stats[i, j]) for i, q in enumerate(QUANTITY_NAMES) for j, s in enumerate(STAT_NAMES)}
    same_n = n_draws == n_catalog
    max_rel = None
    if same_n:
        diffs = [abs(v - row[k]) / max(abs(row[k]), 1e-300) for k, v in summaries.items()
                 if row[k] is not None and np.isfinite(row[k]) and np.isfinite(v)]
        max_rel = float(max(diffs, default=0.0))
    return Resampled(row=row, samples=draws[0].astype(np.float64), quantities=quantities[0], summaries=summaries,
                     max_rel_diff=max_rel)
