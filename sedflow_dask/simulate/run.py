"""``sedflow simulate`` on Dask: chunks of prior draws → photometry → noise → Parquet files.

Each chunk is one task: it draws ``chunk_rows`` galaxies with the stream (seed, chunk), runs
them through the forward model (built once per worker process) and the noise model, and writes
its kept rows to ``part-NNNNN.parquet``. Chunks are submitted in index order and kept in flight
until the leading chunks hold ``n`` kept rows; the set is chunks 0..K-1 with the last one cut
to exactly ``n`` rows, so the rows depend only on the seed, never on the workers. A re-run
with the same configuration reuses the chunks already written.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from .. import __version__
from ..config import Config, SPSConfig
from ..console import STDERR, MessageStream, resolve_stream
from ..noise.proposal import DROP_RULES, NoiseProposal, count_drops, resolve_proposal
from ..parquet import read_sedflow_metadata
from ..photometry import COLOUR_NAMES
from ..prior import SEDPrior
from ..sps.ssp_table import load_ssp_table
from .core import (
    chunk_rng,
    colour_quantiles,
    draws_for_kept,
    lowest_colours,
    quantile_rank_count,
    simulate_photometry,
)
from .io import (
    COMMON_METADATA,
    FLUX_COLUMNS,
    MANIFEST,
    chunk_table,
    part_path,
    stored_true_mags,
    write_chunk,
    write_summary,
)

FORMAT = "sedflow_dask.training_set"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class SimulationPlan:
    """Everything a chunk task needs (small and picklable: shipped with each task)."""

    out: str
    seed: int
    n: int
    chunk_rows: int
    colour_quantile: float
    prior: SEDPrior
    proposal: NoiseProposal
    sps: SPSConfig
    ssp_sha256: str
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def k_lowest(self) -> int:
        return quantile_rank_count(self.n, self.colour_quantile)


@dataclass(frozen=True)
class ChunkResult:
    chunk: int
    n_drawn: int
    n_kept: int
    drop_counts: dict[str, int]
    lowest: np.ndarray
    n_colours: np.ndarray  # (10,) defined values of each colour (both bands present)
    outcome: np.ndarray | None  # per-draw outcome codes; None when the chunk was reused


@functools.lru_cache(maxsize=2)
def worker_model(sps: SPSConfig):
    """The forward model of this process, built once per configuration and reused by tasks."""
    from ..sps.model import PROVABGSModel

    return PROVABGSModel(config=sps)


def _chunk_metadata(plan: SimulationPlan, chunk: int, n_drawn: int, n_kept: int, drops: dict[str, int],
                    truncated: bool = False) -> dict[str, Any]:
    return {**plan.fingerprint, "chunk": chunk, "chunk_n_drawn": n_drawn, "chunk_n_kept": n_kept,
            "chunk_drop_counts": drops, "truncated": truncated}


def _reusable(plan: SimulationPlan, chunk: int) -> dict[str, Any] | None:
    """The metadata of an existing complete chunk file written under the same fingerprint."""
    path = part_path(plan.out, chunk)
    if not path.exists():
        return None
    try:
        meta = read_sedflow_metadata(path)
    except ValueError:
        return None
    same = all(meta.get(k) == v for k, v in plan.fingerprint.items())
    return meta if same and not meta.get("truncated") else None


def simulate_chunk_task(plan: SimulationPlan, chunk: int) -> ChunkResult:
    """Simulate and write one chunk (or reuse its file from an earlier run); runs on a worker."""
    meta = _reusable(plan, chunk)
    if meta is not None:
        table = pq.read_table(part_path(plan.out, chunk), columns=list(FLUX_COLUMNS))
        return ChunkResult(chunk, meta["chunk_n_drawn"], meta["chunk_n_kept"], meta["chunk_drop_counts"],
                           *lowest_colours(stored_true_mags(table), plan.k_lowest), None)
    sim = simulate_photometry(worker_model(plan.sps), plan.proposal, plan.prior, plan.chunk_rows,
                              chunk_rng(plan.seed, chunk), chunk=chunk, row_offset=chunk * plan.chunk_rows)
    table = chunk_table(sim)
    write_chunk(table, plan.out, chunk, _chunk_metadata(plan, chunk, sim.n_drawn, sim.n_kept, sim.drop_counts))
    # The support's colour range is the model's: noiseless colours, as stored (float32).
    return ChunkResult(chunk, sim.n_drawn, sim.n_kept, sim.drop_counts,
                       *lowest_colours(stored_true_mags(table), plan.k_lowest), sim.draw_outcome)


def truncate_chunk_task(plan: SimulationPlan, chunk: int, n_keep: int, outcome: np.ndarray | None) -> ChunkResult:
    """Cut a chunk's file to its first ``n_keep`` rows (re-simulating it if its outcomes are unknown)."""
    if outcome is None:
        outcome = simulate_photometry(worker_model(plan.sps), plan.proposal, plan.prior, plan.chunk_rows,
                                      chunk_rng(plan.seed, chunk)).draw_outcome
    table = pq.read_table(part_path(plan.out, chunk)).slice(0, n_keep)
    n_drawn = draws_for_kept(outcome, n_keep)
    drops = count_drops(outcome[:n_drawn])
    write_chunk(table, plan.out, chunk, _chunk_metadata(plan, chunk, n_drawn, n_keep, drops, truncated=True))
    return ChunkResult(chunk, n_drawn, n_keep, drops, *lowest_colours(stored_true_mags(table), plan.k_lowest),
                       None)


def make_plan(config: Config, out: str | Path, n: int | None = None) -> SimulationPlan:
    """Resolve the configuration into a plan (loads the noise proposal and the SSP table's hash)."""
    sim = config.simulate
    proposal = resolve_proposal(config.noise.proposal, config.noise.model)
    noise = proposal.noise_model
    prior = SEDPrior.from_config(sim)
    ssp_sha256 = load_ssp_table().sha256
    fingerprint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "seed": config.seed,
        "chunk_rows": sim.chunk_rows,
        "prior": prior.to_dict(),
        "sps": config.sps.to_dict(),
        "ssp_sha256": ssp_sha256,
        "noise_sha256": noise.sha256(),
        "noise_provenance": noise.provenance,
        "proposal_sha256": proposal.sha256(),
        "proposal": {k: v for k, v in proposal.to_dict().items() if k != "noise_model"},
    }
    return SimulationPlan(out=str(Path(out).resolve()), seed=config.seed, n=sim.n if n is None else n,
                          chunk_rows=sim.chunk_rows, colour_quantile=sim.colour_quantile, prior=prior,
                          proposal=proposal, sps=config.sps, ssp_sha256=ssp_sha256, fingerprint=fingerprint)


def _check_existing(plan: SimulationPlan, overwrite: bool) -> dict[str, Any] | None:
    """The summary of an identical complete set already at ``out``; None to (re)build it."""
    out = Path(plan.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    summary_file = out / COMMON_METADATA
    if not summary_file.exists():
        return None
    summary = read_sedflow_metadata(summary_file)
    same = all(summary.get(k) == v for k, v in plan.fingerprint.items()) and summary.get("n_kept") == plan.n
    if same:
        return summary
    if not overwrite:
        raise ValueError(f"{out} already holds a complete training set made with another configuration or n "
                         f"(n = {summary.get('n_kept')}); pass --overwrite to replace it")
    summary_file.unlink()
    (out / MANIFEST).unlink(missing_ok=True)
    return None


def simulate_training_set(config: Config, out: str | Path, client=None, *, n: int | None = None,
                          overwrite: bool = False, stream: MessageStream = STDERR) -> dict[str, Any]:
    """Simulate a training set of ``n`` kept rows (default ``config.simulate.n``) into ``out``.

    ``client`` is a ``distributed.Client``; None runs the chunks one after another in this
    process (small sets, tests) with the same result. Returns the run summary also stored in
    ``out/_common_metadata`` and ``out/manifest.json``.
    """
    from tqdm.auto import tqdm

    stream = resolve_stream(stream)
    t0 = time.perf_counter()
    plan = make_plan(config, out, n)
    existing = _check_existing(plan, overwrite)
    if existing is not None:
        if stream is not None:
            print(f"simulate: {plan.out} already holds this training set ({plan.n:,} rows); nothing to do",
                  file=stream)
        return existing
    Path(plan.out).mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=plan.n, desc="simulate", unit="row", unit_scale=True, file=stream, disable=stream is None,
               dynamic_ncols=True)
    try:
        if client is None:
            results = _run_in_process(plan, bar)
        else:
            results = _run_on_cluster(plan, client, bar)
    finally:
        bar.close()
    k_needed, kept = _leading(results, plan.n)
    last = k_needed - 1
    n_last = plan.n - (kept - results[last].n_kept)
    if n_last < results[last].n_kept:
        args = (plan, last, n_last, results[last].outcome)
        results[last] = (truncate_chunk_task(*args) if client is None
                         else client.submit(truncate_chunk_task, *args, pure=False).result())
    used = [results[c] for c in range(k_needed)]
    _remove_stale_parts(Path(plan.out), k_needed)

    drops = {rule: sum(r.drop_counts.get(rule, 0) for r in used) for rule in DROP_RULES}
    n_colours = np.sum([r.n_colours for r in used], axis=0)
    quantiles = colour_quantiles([r.lowest for r in used], n_colours, plan.colour_quantile)
    summary = {
        **plan.fingerprint,
        "n_kept": plan.n,
        "n_drawn": sum(r.n_drawn for r in used),
        "drop_counts": drops,
        "n_chunks": k_needed,
        "chunks": [{"chunk": r.chunk, "n_drawn": r.n_drawn, "n_kept": r.n_kept} for r in used],
        "files": [part_path(plan.out, c).name for c in range(k_needed)],
        "colour_quantile": plan.colour_quantile,
        "colour_quantiles": {name: float(v) for name, v in zip(COLOUR_NAMES, quantiles, strict=True)},
        "wall_s": round(time.perf_counter() - t0, 3),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_summary(plan.out, summary)
    if stream is not None:
        print(f"simulate: {summary['n_kept']:,} rows kept of {summary['n_drawn']:,} drawn "
              f"({summary['n_kept'] / summary['n_drawn']:.1%}); dropped by rule: {drops}; "
              f"{k_needed} files in {plan.out} ({summary['wall_s']:.1f} s)", file=stream)
    return summary


def _leading(results: dict[int, ChunkResult], n: int) -> tuple[int, int]:
    """(K, kept) of the contiguous completed chunks 0..K-1, stopping once n rows are covered."""
    kept, k = 0, 0
    while k in results and kept < n:
        kept += results[k].n_kept
        k += 1
    return k, kept


def _run_in_process(plan: SimulationPlan, bar) -> dict[int, ChunkResult]:
    results: dict[int, ChunkResult] = {}
    chunk = 0
    while _leading(results, plan.n)[1] < plan.n:
        results[chunk] = simulate_chunk_task(plan, chunk)
        bar.update(min(results[chunk].n_kept, plan.n - bar.n))
        chunk += 1
    return results


def _run_on_cluster(plan: SimulationPlan, client, bar) -> dict[int, ChunkResult]:
    """Keep chunks in flight, in index order, until the leading ones hold ``plan.n`` rows."""
    from distributed import as_completed

    max_in_flight = 2 * (sum(client.nthreads().values()) or 1)
    results: dict[int, ChunkResult] = {}
    in_flight: dict[Any, int] = {}
    pending = as_completed()
    next_chunk = 0

    def fill() -> None:
        nonlocal next_chunk
        done_kept = sum(r.n_kept for r in results.values())
        drawn = sum(r.n_drawn for r in results.values())
        rate = done_kept / drawn if drawn else 1.0
        expected = done_kept + rate * plan.chunk_rows * len(in_flight)
        while len(in_flight) < max_in_flight and expected < plan.n * 1.0001 + 1:
            fut = client.submit(simulate_chunk_task, plan, next_chunk, pure=False,
                                key=f"simulate-chunk-{next_chunk:05d}-{time.time_ns()}")
            in_flight[fut] = next_chunk
            pending.add(fut)
            next_chunk += 1
            expected += max(rate, 0.05) * plan.chunk_rows

    fill()
    try:
        for fut in pending:
            chunk = in_flight.pop(fut)
            results[chunk] = fut.result()
            bar.update(min(sum(r.n_kept for r in results.values()), plan.n) - bar.n)
            if _leading(results, plan.n)[1] >= plan.n:
                break
            fill()
            if not in_flight and not pending.count():
                raise RuntimeError("simulate: no chunks in flight but the set is incomplete")
    finally:
        _cancel_and_wait(client, list(in_flight))
    return results


def _cancel_and_wait(client, futures: list, timeout_s: float = 120.0) -> None:
    """Cancel surplus chunk tasks and wait until none still runs (a running one would write a file)."""
    if not futures:
        return
    keys = {f.key for f in futures}
    client.cancel(futures)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = {k for tasks in client.processing().values() for k in tasks}
        if not keys & busy:
            return
        time.sleep(0.05)


def _remove_stale_parts(out: Path, k_needed: int) -> None:
    """Delete chunk files past the set's end (from cancelled tasks or a larger earlier run)."""
    for path in out.glob("part-*.parquet"):
        try:
            index = int(path.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if index >= k_needed:
            path.unlink(missing_ok=True)
    for tmp in out.glob(".part-*.tmp"):
        tmp.unlink(missing_ok=True)

