"""The training-set Parquet dataset (``docs/data-contracts.md`` §2): writing and reading.

One ``part-NNNNN.parquet`` per chunk, each with its chunk's provenance under the ``sedflow``
metadata key; when every chunk is in place, ``_common_metadata`` (schema plus the run summary
under the same key) and a readable ``manifest.json`` are written last, so their presence
marks a complete set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..files import read_json, write_json_atomic
from ..parquet import read_sedflow_metadata, with_sedflow_metadata, write_table_atomic
from ..photometry import BANDS, COLOUR_NAMES, FLUX_COLUMNS
from ..sps.parameters import N_BOX, PHYSICAL_NAMES
from .core import SimulatedChunk

THETA_COLUMNS: tuple[str, ...] = tuple(f"theta_{i}" for i in range(N_BOX))
#: Observed fluxes and their 1σ errors [nmgy] (NaN in absent bands); ``flux_*`` are noiseless.
FLUX_OBS_COLUMNS: tuple[str, ...] = tuple(f"flux_obs_{b}" for b in BANDS)
FLUX_ERR_COLUMNS: tuple[str, ...] = tuple(f"flux_err_{b}" for b in BANDS)
FLOAT_COLUMNS: tuple[str, ...] = (*THETA_COLUMNS, *PHYSICAL_NAMES, "z", *FLUX_OBS_COLUMNS, *FLUX_ERR_COLUMNS,
                                  *FLUX_COLUMNS)
SCHEMA = pa.schema([pa.field(c, pa.float32()) for c in FLOAT_COLUMNS]
                   + [pa.field("bands_used", pa.uint8()), pa.field("chunk", pa.int32()), pa.field("row", pa.int64())])
MANIFEST = "manifest.json"
COMMON_METADATA = "_common_metadata"
DEFAULT_QUANTILES_PATH = Path(__file__).resolve().parent.parent / "data" / "training" / "colour_quantiles.json"


def part_path(out: str | Path, chunk: int) -> Path:
    return Path(out) / f"part-{chunk:05d}.parquet"


def chunk_table(sim: SimulatedChunk) -> pa.Table:
    """The chunk's kept rows as an Arrow table with the training-set schema."""
    blocks = (sim.theta_box, sim.theta, sim.z[:, None], sim.flux_obs, sim.flux_err, sim.flux_true)
    values = np.concatenate(blocks, axis=1).astype(np.float32)
    arrays = [pa.array(values[:, j]) for j in range(values.shape[1])]
    arrays += [pa.array(sim.bands_used.astype(np.uint8)), pa.array(np.full(sim.n_kept, sim.chunk, dtype=np.int32)),
               pa.array(sim.row)]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def write_chunk(table: pa.Table, out: str | Path, chunk: int, metadata: dict[str, Any]) -> Path:
    """Write one chunk's file atomically."""
    return write_table_atomic(table, part_path(out, chunk), metadata)


def write_summary(out: str | Path, summary: dict[str, Any]) -> None:
    """Mark the set complete: ``_common_metadata`` (schema + summary) and ``manifest.json``."""
    out = Path(out)
    tmp = out / f".{COMMON_METADATA}.tmp"
    pq.write_metadata(with_sedflow_metadata(SCHEMA, summary), tmp)
    tmp.replace(out / COMMON_METADATA)
    write_json_atomic(summary, out / MANIFEST)


def training_set_metadata(path: str | Path) -> dict[str, Any]:
    """The run summary of a complete training set (raises if the set is missing or incomplete)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"training set {path} does not exist or is not a directory")
    meta_file = path / COMMON_METADATA
    if not meta_file.exists():
        raise ValueError(f"training set {path} is incomplete: no {COMMON_METADATA} "
                         f"(re-run `sedflow simulate` with the same --out to finish it)")
    return read_sedflow_metadata(meta_file)


def part_files(path: str | Path) -> list[Path]:
    """The data files of a training set listed in its summary (only complete sets)."""
    meta = training_set_metadata(path)
    files = [Path(path) / name for name in meta["files"]]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise ValueError(f"training set {path} lacks files its manifest lists: {missing[:5]}")
    return files


def read_training_set(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a complete training set (all rows, optionally only some columns) as an Arrow table."""
    files = part_files(path)
    return pads.dataset([str(f) for f in files], format="parquet", schema=SCHEMA).to_table(columns=columns)


def stored_true_mags(table: pa.Table) -> np.ndarray:
    """(N, 5) AB magnitudes of a training table's noiseless fluxes as stored (float32)."""
    from ..photometry import flux_to_mag

    return flux_to_mag(np.column_stack([table[c].to_numpy() for c in FLUX_COLUMNS]))


def training_colour_quantiles(path: str | Path | None = None) -> np.ndarray:
    """(10,) the training set's low quantiles of noiseless colours [mag], in ``photometry.COLOUR_PAIRS`` order.

    ``path`` is a training-set directory (its summary) or a JSON file holding
    ``colour_quantiles``; None gives the quantiles of the default simulation shipped with the
    package (the default prior, SSP table and noise model; see its ``provenance``).
    """
    path = DEFAULT_QUANTILES_PATH if path is None else Path(path)
    if path.is_dir():
        meta = training_set_metadata(path)
    else:
        meta = read_json(path, "colour quantiles")
    try:
        named = meta["colour_quantiles"]
        return np.array([float(named[name]) for name in COLOUR_NAMES])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: no colour quantile for {exc}; expected keys {list(COLOUR_NAMES)}") from None
