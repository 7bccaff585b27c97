"""Writing the mock NSA files (fitsio, pyarrow) block by block from :mod:`.generate`.

Only one block (``block_rows`` rows, ~750 bytes each in the catalog) is in memory at a time:
each block is appended to the FITS tables and written as a Parquet row group, and every file is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .generate import MockBlock, MockPlan, generate_block, plan_mock_nsa

FORMAT = "sedflow_dask.mock_nsa"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class MockNSAFiles:
    """Paths written by :func:`write_mock_nsa` and what they hold.

    Attributes:
        catalog: NSA-schema FITS (empty HDU 0, BINTABLE in HDU 1).
        flags_fits: flag companion, 64-bit words (HDU 1, header ``NSA_VERSION``).
        flags_parquet: the same table as Parquet (schema metadata ``NSA_VERSION``).
        flags_split_fits: the companion with the object word as int32 FLAGS1/FLAGS2.
        truth: per-NSAID truth Parquet.
        flags_duplicate_fits, flags_duplicate_parquet: invalid companions with one NSAID twice
            (only with ``invalid_flags=True``).
        n_rows: catalog rows (n + 2 golden rows).
        counts: rows per injected pathology and flag feature (see ``MockPlan.counts``).
    """

    catalog: Path
    flags_fits: Path
    flags_parquet: Path
    flags_split_fits: Path
    truth: Path
    flags_duplicate_fits: Path | None = None
    flags_duplicate_parquet: Path | None = None
    n_rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def paths(self) -> dict[str, Path]:
        """Every file written, by role."""
        out = {"catalog": self.catalog, "flags_fits": self.flags_fits, "flags_parquet": self.flags_parquet,
               "flags_split_fits": self.flags_split_fits, "truth": self.truth}
        if self.flags_duplicate_fits is not None and self.flags_duplicate_parquet is not None:
            out["flags_duplicate_fits"] = self.flags_duplicate_fits
            out["flags_duplicate_parquet"] = self.flags_duplicate_parquet
        return out


def default_paths(path: str | Path) -> dict[str, Path]:
    """Companion file names derived from the catalog path: ``nsa_mock.fits`` ->
    ``nsa_mock_flags.fits``, ``nsa_mock_flags.parquet``, ``nsa_mock_flags_split.fits``,
    ``nsa_mock_truth.parquet`` (and ``nsa_mock_flags_dup.{fits,parquet}``)."""
    path = Path(path)
    stem = path.name[: -len(".fits")] if path.name.lower().endswith(".fits") else path.name
    d = path.parent
    return {
        "catalog": path,
        "flags_fits": d / f"{stem}_flags.fits",
        "flags_parquet": d / f"{stem}_flags.parquet",
        "flags_split_fits": d / f"{stem}_flags_split.fits",
        "truth": d / f"{stem}_truth.parquet",
        "flags_duplicate_fits": d / f"{stem}_flags_dup.fits",
        "flags_duplicate_parquet": d / f"{stem}_flags_dup.parquet",
    }


def iter_blocks(plan: MockPlan) -> Iterator[MockBlock]:
    """The mock's blocks in row order (pure generation, no I/O)."""
    for k in range(plan.n_blocks):
        yield generate_block(plan, k)


class _FitsTable:
    """A FITS file with an empty primary HDU and one BINTABLE appended to block by block."""

    def __init__(self, path: Path, header: list[dict[str, str]] | None = None) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.header = header
        self._fits: Any = None  # a fitsio.FITS once the first rows arrive

    def append(self, rows: np.ndarray) -> None:
        import fitsio

        if self._fits is None:
            self._fits = fitsio.FITS(str(self.tmp), "rw", clobber=True)
            # fitsio puts an empty primary HDU (NAXIS = 0) in front of the first table.
            self._fits.write(rows, header=self.header)
        elif rows.size:
            self._fits[1].append(rows)

    def close(self) -> None:
        if self._fits is not None:
            self._fits.close()
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._fits is not None:
            self._fits.close()
        self.tmp.unlink(missing_ok=True)


class _ParquetTable:
    def __init__(self, path: Path, metadata: dict[bytes, bytes]) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.metadata = metadata
        self._writer: Any = None  # a pyarrow ParquetWriter once the first table arrives

    def append(self, table) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self.metadata})
            self._writer = pq.ParquetWriter(str(self.tmp), schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _flags_arrow(rows: np.ndarray):
    """Companion rows as an Arrow table (native byte order; NSAID as int64)."""
    import pyarrow as pa

    cols = {}
    for name in rows.dtype.names or ():
        a = rows[name].astype(rows.dtype[name].newbyteorder("="))
        cols[name] = pa.array(a.astype(np.int64) if name == "NSAID" else a)
    return pa.table(cols)


def _truth_arrow(truth: dict[str, np.ndarray]):
    import pyarrow as pa

    cols = {}
    for name, a in truth.items():
        if a.dtype == object:
            cols[name] = pa.array(a.tolist(), type=pa.string()).dictionary_encode()
        else:
            cols[name] = pa.array(a)
    return pa.table(cols)


def truth_metadata(plan: MockPlan) -> dict:
    """What the truth file's ``sedflow_mock`` metadata records (provenance and conventions)."""
    from .. import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "seed": plan.seed,
        "n": plan.n,
        "n_rows": plan.n_rows,
        "nsa_version": plan.nsa_version,
        "p_fail": plan.p_fail,
        "flags_inside": plan.flags_inside,
        "block_rows": plan.block_rows,
        "noise_sha256": plan.noise_model.sha256(),
        "noise_fitted_from": plan.noise_model.provenance.get("fitted_from"),
        "ssp_sha256": getattr(getattr(plan.model, "table", None), "sha256", None),
        "colour_quantiles": [float(v) for v in plan.colour_quantiles],
        "colour_quantiles_source": plan.colour_source,
        "counts": plan.counts(),
        "ingest_reason": "by construction for the default ingest options (preset sedflow2022, flag_mode "
                         "object, the flag companion, missing_flags exclude, no DFLAGS cut); a band pathology "
                         "touches one band and sets no bit (the galaxy keeps 4 measured bands); BAD_SIGMA and "
                         "NONPOSITIVE_FLUX are never expected",
    }


def write_mock_nsa(path: str | Path, n: int, *, seed: int = 0, nsa_version: str = "v1_0_1",
                   noise_model=None, p_fail: float = 0.30, flags_inside: bool = False,
                   invalid_flags: bool = False, block_rows: int = 65_536, model=None,
                   colour_quantiles=None, plan: MockPlan | None = None) -> MockNSAFiles:
    """Write a deterministic mock NSA catalog, its flag companions and its truth.

    Args:
        path: catalog FITS path; the other files are named from it (:func:`default_paths`).
        n: galaxies (NSAIDs 0..n-1, shuffled); the two golden rows (NSAIDs n, n + 1) are
            appended, so the catalog has n + 2 rows.
        seed: run seed (>= 0); the same arguments give byte-identical table data.
        nsa_version: "v1_0_1" (SERSIC_NMGY, ELPETRO_*, z <= 0.15) or "v0_1_2" (NMGY,
            no ELPETRO, z <= 0.055).
        noise_model: a ``NoiseModel``, a path to its JSON, or None for the shipped default.
        p_fail: fraction of galaxies given one SDSS flag defect.
        flags_inside: also put the flag columns (FLAGS, FLAGS_U..Z, PSFMAGERR_U..Z, OBJID) in
            the catalog table, for every row (including those left out of the companion).
        invalid_flags: also write companions with one NSAID duplicated (a hard error to ingest).
        block_rows: rows generated and written per block (the output depends on it).
        model: a ``PROVABGSModel`` to reuse (building one takes ~1.5 s).
        colour_quantiles: training 0.1th percentiles of the 10 colours [mag]; default: those of
            the shipped default training set when it matches the noise model and forward model
            (what ``sedflow ingest`` uses by default), else estimated from a training-like sample
            (``reference_colour_quantiles``).
        plan: a ready :class:`MockPlan` (then the options above except ``path``/``invalid_flags``
            are ignored).

    Returns:
        The paths written, with the counts of every injected pathology.
    """
    if plan is None:
        plan = plan_mock_nsa(n, seed=seed, nsa_version=nsa_version, noise_model=noise_model, p_fail=p_fail,
                             flags_inside=flags_inside, block_rows=block_rows, model=model,
                             colour_quantiles=colour_quantiles)
    paths = default_paths(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    version_header = [{"name": "NSA_VERSION", "value": plan.nsa_version,
                       "comment": "NSA version the NSAIDs refer to"}]
    version_meta = {b"NSA_VERSION": plan.nsa_version.encode()}
    truth_meta = {b"sedflow_mock": json.dumps(truth_metadata(plan), sort_keys=True).encode(), **version_meta}
    writers: dict[str, _FitsTable | _ParquetTable] = {
        "catalog": _FitsTable(paths["catalog"]),
        "flags_fits": _FitsTable(paths["flags_fits"], version_header),
        "flags_split_fits": _FitsTable(paths["flags_split_fits"], version_header),
        "flags_parquet": _ParquetTable(paths["flags_parquet"], version_meta),
        "truth": _ParquetTable(paths["truth"], truth_meta),
    }
    if invalid_flags:
        writers["flags_duplicate_fits"] = _FitsTable(paths["flags_duplicate_fits"], version_header)
        writers["flags_duplicate_parquet"] = _ParquetTable(paths["flags_duplicate_parquet"], version_meta)
    first_flag_row = None
    try:
        for block in iter_blocks(plan):
            writers["catalog"].append(block.catalog)
            writers["flags_fits"].append(block.flags)
            writers["flags_split_fits"].append(block.flags_split)
            flags_table = _flags_arrow(block.flags)
            writers["flags_parquet"].append(flags_table)
            writers["truth"].append(_truth_arrow(block.truth))
            if invalid_flags:
                writers["flags_duplicate_fits"].append(block.flags)
                writers["flags_duplicate_parquet"].append(flags_table)
                if first_flag_row is None and block.flags.size:
                    first_flag_row = block.flags[:1].copy()
        if invalid_flags and first_flag_row is not None:
            # The same NSAID twice (with different words, as a botched cross-match would give).
            dup = first_flag_row.copy()
            dup["FLAGS"] = np.int64(0)
            writers["flags_duplicate_fits"].append(dup)
            writers["flags_duplicate_parquet"].append(_flags_arrow(dup))
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    return MockNSAFiles(
        catalog=paths["catalog"], flags_fits=paths["flags_fits"], flags_parquet=paths["flags_parquet"],
        flags_split_fits=paths["flags_split_fits"], truth=paths["truth"],
        flags_duplicate_fits=paths["flags_duplicate_fits"] if invalid_flags else None,
        flags_duplicate_parquet=paths["flags_duplicate_parquet"] if invalid_flags else None,
        n_rows=plan.n_rows, counts=plan.counts(),
    )
