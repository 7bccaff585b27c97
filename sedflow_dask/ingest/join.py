"""Joining the flags companion to the NSA by NSAID with bounded memory: an on-disk hash join.

Neither table is sorted by NSAID in general (the mock shuffles rows), so a row range of the
NSA can need flags from anywhere in the companion. Both sides are hash-partitioned on NSAID
into buckets small enough for one task; each bucket is joined alone; the per-row outcome is
scattered back to the NSA row ranges the catalog writer reads. Every step holds at most one
row range or one bucket, whatever the file sizes; the intermediate files are small
(NSAID + row number + two booleans per row).

The same bucket pass finds duplicated NSAIDs: in the companion a hard error naming the NSAID,
in the NSA a sanity warning (an error under ``strict``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .flags import evaluate_clean
from .loaders import FlagsTable, check_positions, iter_flags_rows
from .readers.base import CatalogReader

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Rows per join bucket, in units of ``partition_rows``: a bucket row is ~20 bytes against
#: ~200 for a catalog row, so buckets can be several row ranges large.
BUCKET_FACTOR = 4
EXAMPLES = 5


def n_buckets(n_rows: int, partition_rows: int) -> int:
    """Buckets for ``n_rows`` keys so that each holds about ``BUCKET_FACTOR * partition_rows``."""
    return max(1, math.ceil(n_rows / (BUCKET_FACTOR * partition_rows)))


def bucket_of(nsaid, n: int) -> np.ndarray:
    """(N,) bucket numbers of NSAIDs: a multiplicative (Fibonacci) hash, so that regular ID
    patterns (all even, all multiples of n) still spread evenly."""
    h = np.asarray(nsaid, dtype=np.int64).view(np.uint64) * _GOLDEN
    return ((h >> np.uint64(32)) % np.uint64(n)).astype(np.int64)


def join_bucket_frames(keys: pd.DataFrame, flags: pd.DataFrame | None, *, source: str = "flags table"
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Join one bucket: NSA ``keys`` (nsaid, row) with companion ``flags`` (nsaid, clean, crow).

    Returns (frame of row, found, clean — one row per key row) and counts: duplicated NSAIDs
    in the NSA (with examples), and NSA rows without a companion row (with example NSAIDs).
    A duplicated NSAID in the companion is a ValueError naming it and its companion rows.
    """
    info: dict[str, Any] = {}
    vc = keys["nsaid"].value_counts()
    dup = vc[vc > 1]
    info["nsa_duplicates"] = int(len(dup))
    info["nsa_duplicate_examples"] = [int(v) for v in dup.index[:EXAMPLES]]
    if flags is None:
        return pd.DataFrame({"row": keys["row"].to_numpy(np.int64)}), info
    dmask = flags["nsaid"].duplicated(keep=False)
    if dmask.any():
        first = flags.loc[dmask].sort_values(["nsaid", "crow"])
        nsaid = int(first["nsaid"].iloc[0])
        rows = first.loc[first["nsaid"] == nsaid, "crow"].tolist()
        raise ValueError(f"{source}: NSAID {nsaid} occurs {len(rows)} times (rows {', '.join(map(str, rows[:5]))}); "
                         f"each NSAID may appear once in the flags companion")
    merged = keys.merge(flags[["nsaid", "clean", "crow"]], on="nsaid", how="left", sort=False)
    found = merged["crow"].notna().to_numpy()
    out = pd.DataFrame({
        "row": merged["row"].to_numpy(np.int64),
        "found": found,
        "clean": merged["clean"].fillna(False).to_numpy(dtype=bool),
    })
    info["found"] = int(found.sum())
    info["missing"] = int((~found).sum())
    info["missing_examples"] = [int(v) for v in merged.loc[~found, "nsaid"].iloc[:EXAMPLES]]
    return out, info


# -- tasks (run on workers; paths are on storage every worker sees) -------------------------
def _make_dirs_under(root: Path, directory: Path) -> None:
    """Create ``directory`` below ``root`` one level at a time, never ``root`` itself.

    A task still running after its run failed and removed the work directory then fails with
    FileNotFoundError instead of re-creating the tree and leaving it behind.
    """
    current = root
    for part in directory.relative_to(root).parts:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            pass


def _write(df: pd.DataFrame, root: Path, path: Path) -> None:
    _make_dirs_under(root, path.parent)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp, compression="lz4")
    tmp.replace(path)  # a retried task overwrites, never duplicates


def _bucket_dir(root: Path, side: str, b: int) -> Path:
    return root / side / f"b={b:05d}"


def scan_range(catalog: CatalogReader, start: int, stop: int, work: str, buckets: int) -> int:
    """Read the ids and RA/Dec of rows [start, stop): check positions, write the id buckets."""
    a = catalog.read_positions(start, stop)
    check_positions(a["ra"].to_numpy(), a["dec"].to_numpy(), start, catalog.source)
    keys = pd.DataFrame({"nsaid": a["nsaid"].to_numpy(np.int64), "row": np.arange(start, stop, dtype=np.int64)})
    b = bucket_of(keys["nsaid"].to_numpy(), buckets)
    for k, part in keys.groupby(b, sort=False):
        _write(part, Path(work), _bucket_dir(Path(work), "keys", int(k)) / f"r{start:012d}.parquet")
    return stop - start


def bucket_flags_part(table: FlagsTable, index: int, part: tuple[int, ...], work: str, buckets: int,
                      batch_rows: int) -> int:
    """Evaluate the flag predicate on one part of the companion and write its NSAID buckets."""
    n = 0
    # companion row numbers, for messages; Parquet parts count from their first row group
    first = part[0] if table.format == "fits" else _parquet_first_row(table, part)
    for j, data in enumerate(iter_flags_rows(table, part, batch_rows)):
        nsaid = np.asarray(data[table.nsaid]).astype(np.int64)
        m = len(nsaid)
        base = first + n
        frame = pd.DataFrame({"nsaid": nsaid, "clean": evaluate_clean(data, table.layout),
                              "crow": np.arange(base, base + m, dtype=np.int64)})
        b = bucket_of(nsaid, buckets)
        for k, sub in frame.groupby(b, sort=False):
            _write(sub, Path(work), _bucket_dir(Path(work), "flags", int(k)) / f"p{index:06d}-{j:06d}.parquet")
        n += m
    return n


def _parquet_first_row(table: FlagsTable, part: tuple[int, ...]) -> int:
    md = pq.ParquetFile(table.path).metadata
    return sum(md.row_group(g).num_rows for g in range(part[0]))


def _read_dir(d: Path) -> pd.DataFrame | None:
    files = sorted(d.glob("*.parquet")) if d.is_dir() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def join_bucket(b: int, work: str, starts: list[int], with_flags: bool, source: str) -> dict[str, Any]:
    """Join bucket ``b`` and scatter its outcome to ``joined/c=<range>/`` (one file per range)."""
    root = Path(work)
    keys = _read_dir(_bucket_dir(root, "keys", b))
    flags = _read_dir(_bucket_dir(root, "flags", b)) if with_flags else None
    if keys is None:
        keys = pd.DataFrame({"nsaid": np.zeros(0, np.int64), "row": np.zeros(0, np.int64)})
    if with_flags and flags is None:
        flags = pd.DataFrame({"nsaid": np.zeros(0, np.int64), "clean": np.zeros(0, bool),
                              "crow": np.zeros(0, np.int64)})
    out, info = join_bucket_frames(keys, flags, source=source)
    if with_flags:
        chunk = np.searchsorted(np.asarray(starts), out["row"].to_numpy(), side="right") - 1
        for c, part in out.groupby(chunk, sort=False):
            _write(part, root, joined_dir(work, int(c)) / f"b{b:05d}.parquet")
    return info


def joined_dir(work: str | Path, chunk: int) -> Path:
    return Path(work) / "joined" / f"c={chunk:06d}"


def read_joined(work: str | Path, chunk: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(found, clean) for NSA rows [start, stop) from the join output, checked to cover each row once."""
    df = _read_dir(joined_dir(work, chunk))
    n = stop - start
    found = np.zeros(n, dtype=bool)
    clean = np.zeros(n, dtype=bool)
    rows = np.zeros(0, np.int64) if df is None else df["row"].to_numpy(np.int64) - start
    if len(rows) != n or (n and (rows.min() < 0 or rows.max() >= n or len(np.unique(rows)) != n)):
        raise RuntimeError(f"internal error: the flags join covers {len(rows)} of the {n} rows {start}-{stop - 1}")
    if df is not None and n:
        found[rows] = df["found"].to_numpy(bool)
        clean[rows] = df["clean"].to_numpy(bool)
    return found, clean
