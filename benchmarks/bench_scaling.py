"""The measured inputs of the cost model in ``docs/scaling.md``: per-task overhead, task counts,
bytes and memory per galaxy, and inference on 1, 2 and 4 worker processes.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_scaling.py [--galaxies 2000] [--samples 1000] [--task-rows 250]
                                       [--workers 1,2,4] [--overhead-tasks 4000]
                                       [--stage-galaxies 16] [--stage-samples 10000]
                                       [--routed-frac F] [--seed 0] [--sgemm-size 1024] [--workdir DIR]

* ``scheduler``: on a LocalCluster of 2 worker processes (one thread each), ``--overhead-tasks``
  tasks that do nothing, submitted one ``client.submit`` at a time and collected with
  ``as_completed`` (as ``sedflow infer``'s driver does), then as one ``client.map``.
  ``s_per_task_submit`` / ``s_per_task_map``: wall seconds per task [s], all of it scheduling,
  messaging and bookkeeping (client, scheduler and workers; the tasks themselves take ~1 µs).
* ``ingest``: on the same cluster, a mock NSA catalog of ``--galaxies`` rows
  (``sedflow_dask.mock``) ingested with the default ``IngestConfig``: tasks per key prefix counted
  by the scheduler, the workers' CPU seconds and this process's (client + scheduler) [s].
* ``model_load_cpu_s``: CPU seconds [s] of loading the inference models once, in this process
  on one thread: what each worker pays before its first task.
* ``runs``: the ingested catalog inferred on the same LocalCluster rescaled to W workers for
  each W of ``--workers`` (one thread each, the package imported before the measurement; fallback
  off, as in ``bench_infer.py``; ``--samples`` draws; ``--task-rows`` rows per flow task, so that
  a small catalog makes enough tasks to share):
  ``galaxies_per_s`` (rows through the flow / wall seconds, cluster start excluded),
  ``speedup_vs_1`` (against the 1-worker run of this invocation), ``worker_cpu_s_per_galaxy``
  (the worker processes' CPU seconds over the run / rows through the flow) and
  ``worker_cpu_s_per_galaxy_less_load`` (the same less W x ``model_load_cpu_s``),
  ``peak_rss_mb_per_worker`` (each worker process's peak resident set size, ``VmHWM`` [MiB],
  reset at the run's start where the kernel allows: ``peak_rss_since``),
  and ``tasks`` (per key prefix, tasks that finished in memory, counted by a scheduler plugin)
  against ``tasks_rule`` (``infer_task_count``: the counts ``sedflow_dask/infer/run.py``'s graph
  gives, per pixel one flow task per ``task_rows`` rows, one candidates task, one fallback task
  per ``batch_galaxies`` galaxies that run it, one write task); ``tasks_match_rule`` says
  whether they agree.
* ``catalog``: bytes per galaxy of the 1-worker run's output Parquet files: ``file`` (whole
  files), ``data`` (without the Parquet footers, a fixed cost per partition given apart as
  ``footer_per_partition`` [bytes]), ``samples_column`` (the stored draws' column chunks,
  compressed), ``data_without_samples`` (``data`` less them), ``per_stored_draw``
  (``samples_column`` / ``n_stored``) and ``arrow_in_memory`` (the uncompressed Arrow table, what
  a write task holds per row) [bytes / galaxy].
* ``stages``: ``bench_infer.stage_times`` (per-galaxy ms of the flow, weights, derived
  properties, summaries and write on one thread) at ``--stage-samples`` draws.
* ``tasks_per_million``: ``survey_task_count`` for 10⁶ galaxies in full pixels of the default
  ``pixel_threshold`` rows, with the default ``task_rows`` and fallback batches, at the routed
  fraction ``--routed-frac``.

On a machine with fewer cores than workers, the extra workers show the cost of more processes
(their model loading, messaging, contention), not a speed-up. ``sgemm_gflops`` is a same-run
single-thread matmul speed and ``load_average`` the 1-minute load at the start and the end, to
compare machines and loads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

from distributed import as_completed  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402
from distributed.utils import key_split  # noqa: E402

from sedflow_dask.cluster import dask_client  # noqa: E402
from sedflow_dask.config import ClusterConfig, Config, FallbackConfig, IngestConfig, SamplingConfig  # noqa: E402
from sedflow_dask.ranges import row_ranges  # noqa: E402

#: The task-key prefixes of ``sedflow infer``'s graph (``sedflow_dask/infer/run.py``).
INFER_PREFIXES: tuple[str, ...] = ("infer-flow", "candidates_task", "fallback_task", "write_task")


def log(msg: str) -> None:
    print(f"[bench_scaling] {msg}", file=sys.stderr, flush=True)


# --- the task-graph rule --------------------------------------------------------------------------

def infer_task_count(pixel_rows: Sequence[int], fallback_rows: Sequence[int], sample: SamplingConfig,
                     fallback: FallbackConfig) -> dict[str, int]:
    """Tasks ``sedflow infer`` submits for pixels of ``pixel_rows`` rows, per key prefix.

    ``fallback_rows[i]``: galaxies of pixel i that run the fallback (routed and within the cap;
    0 when the fallback is off). Per pixel: one flow task per ``sample.task_rows`` rows (one even
    for an empty pixel), one candidates task, one fallback task per ``fallback.batch_galaxies``
    of those galaxies, one write task.
    """
    if len(pixel_rows) != len(fallback_rows):
        raise ValueError(f"{len(pixel_rows)} pixels but {len(fallback_rows)} fallback counts")
    return {"infer-flow": sum(len(row_ranges(n, sample.task_rows, at_least_one=True)) for n in pixel_rows),
            "candidates_task": len(pixel_rows),
            "fallback_task": sum(math.ceil(r / fallback.batch_galaxies) for r in fallback_rows),
            "write_task": len(pixel_rows)}


def survey_task_count(galaxies: float, rows_per_pixel: int, routed_frac: float, sample: SamplingConfig,
                      fallback: FallbackConfig) -> dict[str, float]:
    """:func:`infer_task_count` for ``galaxies`` in pixels of ``rows_per_pixel`` rows each, every
    routed galaxy (fraction ``routed_frac``) running the fallback; ``total`` added."""
    if rows_per_pixel < 1 or not 0 <= routed_frac <= 1:
        raise ValueError(f"rows_per_pixel >= 1 and 0 <= routed_frac <= 1; got {rows_per_pixel}, {routed_frac}")
    pixels = math.ceil(galaxies / rows_per_pixel)
    one = infer_task_count([rows_per_pixel], [round(routed_frac * rows_per_pixel)], sample, fallback)
    out = {k: float(v * pixels) for k, v in one.items()}
    out["total"] = sum(out.values())
    return out


# --- what the scheduler and the workers report -----------------------------------------------------

class TaskCounter(SchedulerPlugin):
    """Counts, per key prefix, the tasks that finished (processing -> memory) on the scheduler."""

    name = "bench-scaling-task-counter"

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def transition(self, key, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing" and finish == "memory":
            self.counts[key_split(key)] += 1


def _take_counts(dask_scheduler) -> dict[str, int]:
    """The counts since the last call (which each phase starts with)."""
    counter = dask_scheduler.plugins[TaskCounter.name]
    counts, counter.counts = dict(counter.counts), Counter()
    return counts


def _cpu_seconds() -> float:
    """This process's CPU seconds (user + system, all threads) [s]."""
    t = os.times()
    return t.user + t.system


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident set size (``VmHWM``) to its current size; False where
    the kernel does not allow it (the peak then runs from the process's start)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _import_inference() -> None:
    """Import what inference tasks use, so that a worker's first run does not pay the imports."""
    import sedflow_dask.infer.partition  # noqa: F401
    import sedflow_dask.infer.resources  # noqa: F401


def _noop(i: int) -> int:
    return i


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def scheduler_overhead(client, n_tasks: int) -> dict[str, Any]:
    """Wall seconds per do-nothing task on ``client``'s cluster (see the module docstring)."""
    workers = len(client.nthreads())
    client.gather(client.map(_noop, range(10 * workers), pure=False))  # connections and imports warm
    t0 = time.perf_counter()
    futures = [client.submit(_noop, i, pure=False) for i in range(n_tasks)]
    for _ in as_completed(futures):
        pass
    submit_s = time.perf_counter() - t0
    del futures
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(n_tasks), pure=False))
    map_s = time.perf_counter() - t0
    return {"workers": workers, "tasks": n_tasks, "s_per_task_submit": submit_s / n_tasks,
            "s_per_task_map": map_s / n_tasks, "tasks_per_s_submit": round(n_tasks / submit_s, 1),
            "tasks_per_s_map": round(n_tasks / map_s, 1)}


def rescale(client, workers: int, timeout_s: float = 120.0) -> None:
    """Scale ``client``'s LocalCluster to exactly ``workers`` processes and wait for them."""
    if client.cluster is None:
        raise ValueError("bench_scaling needs a LocalCluster it can rescale")
    client.cluster.scale(workers)
    deadline = time.monotonic() + timeout_s
    while len(client.nthreads()) != workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster has {len(client.nthreads())} workers, not {workers}, after {timeout_s} s")
        time.sleep(0.1)


# --- ingest and inference, measured ---------------------------------------------------------------

def measured(client, work) -> tuple[Any, dict[str, Any]]:
    """``work()``'s result and what it cost: wall seconds, the workers' and this process's
    (client + scheduler) CPU seconds [s], each worker's peak RSS [MiB], tasks per key prefix."""
    from bench_ingest import _peak_rss_mb

    client.run_on_scheduler(_take_counts)
    reset = all(client.run(_reset_peak_rss).values())
    cpu0, w0 = _cpu_seconds(), client.run(_cpu_seconds)
    t0 = time.perf_counter()
    result = work()
    wall = time.perf_counter() - t0
    w1 = client.run(_cpu_seconds)
    cpu = _cpu_seconds() - cpu0
    peaks = client.run(_peak_rss_mb)
    counts = client.run_on_scheduler(_take_counts)
    if set(w1) != set(w0):
        raise RuntimeError(f"workers changed during the measurement: {sorted(w0)} -> {sorted(w1)}")
    return result, {"wall_s": round(wall, 2), "worker_cpu_s": round(sum(w1[a] - w0[a] for a in w1), 2),
                    "client_scheduler_cpu_s": round(cpu, 2),
                    "peak_rss_mb_per_worker": sorted(round(v, 1) for v in peaks.values()),
                    "peak_rss_since": "run start" if reset else "worker start",
                    "tasks": dict(sorted(counts.items()))}


def ingest_mock(client, workdir: Path, galaxies: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """A mock NSA catalog of ``galaxies`` rows, ingested on ``client`` with the default
    ``IngestConfig``: the catalog and what the ingest cost (:func:`measured`)."""
    from sedflow_dask.ingest import ingest_catalog
    from sedflow_dask.mock import write_mock_nsa

    files = write_mock_nsa(workdir / f"nsa_mock_n{galaxies}_s{seed}_v1_0_1.fits", galaxies, seed=seed, p_fail=0.0)
    out = workdir / f"ingested_n{galaxies}_s{seed}"
    result, cost = measured(client, lambda: ingest_catalog(
        files.catalog, out, client=client, flags_path=files.flags_parquet, config=IngestConfig(preset="nsa"),
        overwrite=True, progress=False, stream=None))
    return out, {"rows": result.rows, "workers": len(client.nthreads()), **cost,
                 "worker_cpu_s_per_galaxy": cost["worker_cpu_s"] / result.rows,
                 "partitions": len(list(out.glob("dataset/Norder=*/Dir=*/*.parquet"))),
                 "tasks_total": sum(cost["tasks"].values())}


def model_load_cpu_s() -> float:
    """CPU seconds [s] of loading the inference models once (what each worker pays when the
    inference registers its plugin), in this process on one thread, its imports done."""
    from _common import torch_threads

    from sedflow_dask.infer.resources import InferenceResources

    _import_inference()
    with torch_threads(1):
        cpu0 = _cpu_seconds()
        InferenceResources().load()
        return _cpu_seconds() - cpu0


def measured_inference(client, ingested: Path, out: Path, config: Config, workers: int) -> dict[str, Any]:
    """``infer_catalog`` on ``client``'s LocalCluster rescaled to ``workers`` processes (their
    imports done before the measurement), with what it cost (:func:`measured`) and the task
    counts :func:`infer_task_count` expects."""
    from sedflow_dask.infer import infer_catalog
    from sedflow_dask.infer.catalog import input_pixels

    if config.fallback.enabled:
        # the rule needs each pixel's fallback galaxies, which only a run with the fallback off
        # fixes in advance (none); the fallback's cost is bench_fallback.py's
        raise ValueError("measured_inference counts tasks with the fallback off (config.fallback.enabled = False)")
    shutil.rmtree(out, ignore_errors=True)
    rescale(client, workers)
    client.run(_import_inference)
    summary, cost = measured(client, lambda: infer_catalog(config, ingested, out, client=client, progress=False,
                                                           stream=None))
    inferred = summary.n_rows - summary.status_counts.get("cut", 0) - summary.status_counts.get("bad_input", 0)
    pixels = input_pixels(ingested)
    rule = infer_task_count([p.n_rows for p in pixels], [0] * len(pixels), config.sample, config.fallback)
    counts = cost.pop("tasks")
    tasks = {k: counts.get(k, 0) for k in INFER_PREFIXES}
    return {"workers": workers, "rows": summary.n_rows, "galaxies_inferred": inferred, **cost,
            "galaxies_per_s": round(inferred / cost["wall_s"], 2),
            "worker_cpu_s_per_galaxy": cost["worker_cpu_s"] / inferred,
            "pixels": len(pixels), "tasks": tasks, "tasks_rule": rule, "tasks_match_rule": tasks == rule,
            "other_tasks": {k: v for k, v in counts.items() if k not in INFER_PREFIXES}}


def catalog_bytes(catalog: Path, n_stored: int) -> dict[str, float]:
    """Bytes per galaxy of an output catalog's data files (see the module docstring)."""
    import pyarrow.parquet as pq

    files = sorted(catalog.glob("dataset/Norder=*/Dir=*/*.parquet"))
    if not files:
        raise ValueError(f"{catalog}: no data partitions")
    rows = file_bytes = footer_bytes = samples_bytes = arrow_bytes = 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        rows += meta.num_rows
        file_bytes += f.stat().st_size
        footer_bytes += meta.serialized_size
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            samples_bytes += sum(group.column(c).total_compressed_size for c in range(group.num_columns)
                                 if group.column(c).path_in_schema.split(".")[0] == "samples")
        arrow_bytes += pq.read_table(f).nbytes
    if not rows:
        raise ValueError(f"{catalog}: no rows")
    data_bytes = file_bytes - footer_bytes
    return {"rows": rows, "partitions": len(files), "n_stored": n_stored, "file": round(file_bytes / rows, 1),
            "footer_per_partition": round(footer_bytes / len(files), 1), "data": round(data_bytes / rows, 1),
            "samples_column": round(samples_bytes / rows, 1),
            "data_without_samples": round((data_bytes - samples_bytes) / rows, 1),
            "per_stored_draw": round(samples_bytes / rows / n_stored, 2) if n_stored else 0.0,
            "arrow_in_memory": round(arrow_bytes / rows, 1)}


def run(galaxies: int = 2000, samples: int = 1000, task_rows: int = 250, workers: Sequence[int] = (1, 2, 4),
        overhead_tasks: int = 4000, stage_galaxies: int = 16,
        stage_samples: int = 10_000, routed_frac: float = 0.06, seed: int = 0, sgemm_size: int = 1024,
        workdir: Path | None = None) -> dict[str, Any]:
    """Every measurement of the module docstring; ``stage_galaxies = 0`` skips the stage times."""
    from _common import machine_info, matmul_gflops, torch_threads

    if not workers or 1 not in workers:
        raise ValueError(f"--workers must include 1 (the ratios are against it); got {list(workers)}")
    workdir = workdir or REPO / ".bench_cache" / "scaling"
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = _load_average()
    with torch_threads(1):
        gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    # one cluster throughout, rescaled between runs: each worker process starts (and imports)
    # once, which on a small machine is most of a small run's time
    with dask_client(ClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"),
                     stream=None) as client:
        rescale(client, 2)
        client.register_plugin(TaskCounter())
        log(f"scheduler overhead: {overhead_tasks} tasks on 2 workers")
        overhead = scheduler_overhead(client, overhead_tasks)
        log(f"ingest: mock of {galaxies} galaxies on 2 workers")
        ingested, ingest = ingest_mock(client, workdir, galaxies, seed)
        load_cpu = model_load_cpu_s()
        # n_stored at most the draws: the default 100 where the runs draw that many
        config = Config(seed=seed, sample=SamplingConfig(n_samples=samples, task_rows=task_rows,
                                                         n_stored=min(SamplingConfig.n_stored, samples)),
                        fallback=FallbackConfig(enabled=False))
        runs: dict[int, dict[str, Any]] = {}
        # the cluster's 2 workers first, then up, then down: no worker starts twice
        for w in sorted(set(workers), key=lambda w: (w < 2, w if w >= 2 else -w)):
            log(f"infer: {galaxies} galaxies x {samples} draws on {w} worker(s)")
            runs[w] = measured_inference(client, ingested, workdir / f"catalog_w{w}", config, w)
    for r in runs.values():
        r["speedup_vs_1"] = round(r["galaxies_per_s"] / runs[1]["galaxies_per_s"], 3)
        # each worker loads the models once: at a survey's millions of galaxies per worker that
        # vanishes, at this catalog's size it does not
        r["worker_cpu_s_per_galaxy_less_load"] = (r["worker_cpu_s"] - r["workers"] * load_cpu) / r["galaxies_inferred"]
    result: dict[str, Any] = {
        "sgemm_gflops": round(gflops, 1), "scheduler": overhead, "ingest": ingest,
        "model_load_cpu_s": round(load_cpu, 2),
        "runs": {f"{w}_worker{'s' if w > 1 else ''}": runs[w] for w in sorted(runs)},
        "tasks_match_rule": all(r["tasks_match_rule"] for r in runs.values()),
        "catalog": catalog_bytes(workdir / "catalog_w1", config.sample.n_stored),
    }
    if stage_galaxies:
        import bench_infer

        log(f"stages: {stage_galaxies} galaxies x {stage_samples} draws, one thread")
        result["stages"] = bench_infer.stage_times(ingested, workdir, stage_samples, stage_galaxies, seed, gflops)
    default = Config()
    pixel_rows = IngestConfig().pixel_threshold
    result["tasks_per_million"] = {
        "pixel_rows": pixel_rows, "task_rows": default.sample.task_rows,
        "fallback_batch_galaxies": default.fallback.batch_galaxies, "routed_frac": routed_frac,
        **survey_task_count(1e6, pixel_rows, routed_frac, default.sample, default.fallback)}
    result["settings"] = {"galaxies": galaxies, "samples": samples, "task_rows": task_rows,
                          "n_stored": config.sample.n_stored, "fallback": "off"}
    result["load_average"] = {"start": load_start, "end": _load_average()}
    result["machine"] = machine_info()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=2000, help="mock catalog size")
    ap.add_argument("--samples", type=int, default=1000, help="posterior draws per galaxy of the scaling runs")
    ap.add_argument("--task-rows", type=int, default=250, help="sample.task_rows of the scaling runs")
    ap.add_argument("--workers", default="1,2,4", help="worker-process counts, comma-separated (must include 1)")
    ap.add_argument("--overhead-tasks", type=int, default=4000, help="do-nothing tasks of the overhead measurement")
    ap.add_argument("--stage-galaxies", type=int, default=16, help="galaxies of the stage times (0: none)")
    ap.add_argument("--stage-samples", type=int, default=10_000, help="draws per galaxy of the stage times")
    ap.add_argument("--routed-frac", type=float, default=None,
                    help="routed fraction for tasks_per_million (default: the real data's, counts.routed_frac "
                         "of docs/results/real_report.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sgemm-size", type=int, default=1024, help="matrix size of the same-run sgemm figure")
    ap.add_argument("--workdir", type=Path, default=None, help="cache (default .bench_cache/scaling)")
    args = ap.parse_args(argv)
    if args.routed_frac is None:
        args.routed_frac = json.loads((REPO / "docs" / "results" / "real_report.json").read_text())["counts"]["routed_frac"]
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    result = run(galaxies=args.galaxies, samples=args.samples, task_rows=args.task_rows, workers=workers,
                 overhead_tasks=args.overhead_tasks,
                 stage_galaxies=args.stage_galaxies, stage_samples=args.stage_samples,
                 routed_frac=args.routed_frac, seed=args.seed, sgemm_size=args.sgemm_size,
                 workdir=args.workdir)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
