"""``sedflow infer`` on Dask: one task graph per HEALPix pixel of the ingested catalog.

Per pixel: a flow task (posterior draws, summaries, routing) → a small task telling the driver
which galaxies go to the MCMC fallback → fallback tasks on batches of them → a write task that
assembles the pixel's rows and writes its partition atomically. The models reach each worker
once, as a worker plugin (:class:`.resources.InferenceResources`). Pixels already complete with
the same model, configuration and input are skipped, so a killed run resumes where it stopped;
a worker lost mid-task has its work recomputed by Dask.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .. import __version__
from ..config import Config, FallbackConfig, SamplingConfig
from ..console import STDERR, MessageStream, resolve_stream
from ..ingest.io import artifact_name, read_provenance
from ..parquet import read_sedflow_metadata
from ..posterior import DEFAULT_MODEL_DIR, load_posterior_model
from ..ranges import row_ranges
from .catalog import (
    FORMAT,
    FORMAT_VERSION,
    InputPixel,
    finalize_catalog,
    input_pixels,
    partition_is_complete,
    partition_path,
    remove_stale_partitions,
    run_fingerprint,
    write_partition,
)
from .core import STATUSES
from .partition import (
    INPUT_COLUMNS,
    FallbackCandidates,
    FlowPartition,
    Posteriors,
    concat_candidates,
    concat_flow_partitions,
    fallback_rows,
    infer_fallback,
    infer_flow,
    partition_table,
)
from .resources import InferenceResources, worker_resources


@dataclass
class InferSummary:
    """What an inference run did.

    Attributes:
        catalog: the output catalog directory.
        n_rows: galaxies in = rows out.
        status_counts: rows per status (all five statuses present).
        n_partitions, n_skipped: pixels, and those already complete and reused.
        n_routed, n_fallback: galaxies routed to the fallback, and those it ran on.
        wall_s: seconds for the whole run.
        partitions: per pixel written in this run: order, pixel, rows, pid of the flow task's
            worker, seconds of its flow task.
    """

    catalog: Path
    n_rows: int
    status_counts: dict[str, int]
    n_partitions: int
    n_skipped: int
    n_routed: int
    n_fallback: int
    wall_s: float
    partitions: list[dict[str, Any]] = field(default_factory=list)

    def format(self) -> str:
        counts = ", ".join(f"{s} {self.status_counts.get(s, 0)}" for s in STATUSES)
        return (f"infer: {self.n_rows} galaxies in, {sum(self.status_counts.values())} rows out ({counts}); "
                f"fallback: {self.n_routed} routed, {self.n_fallback} run; partitions: {self.n_partitions} "
                f"({self.n_skipped} already complete); {self.wall_s:.1f} s -> {self.catalog}")


#: Fallback options that choose which routed galaxies run, never what any row holds: left out of
#: the fingerprint, so a resumed run with another cap finishes the ``skipped`` rows in place.
FALLBACK_CAP_FIELDS: tuple[str, ...] = ("enabled", "max_galaxies")


def run_settings(config: Config, model_meta: dict[str, Any]) -> dict[str, Any]:
    """Everything besides the model weights that shapes the catalog's values (hashed for resume)."""
    fallback = {k: v for k, v in dataclasses.asdict(config.fallback).items() if k not in FALLBACK_CAP_FIELDS}
    return {"seed": config.seed, "sample": dataclasses.asdict(config.sample), "fallback": fallback,
            "sps": model_meta.get("sps"), "ssp_sha256": model_meta.get("ssp_sha256")}


def fallback_quotas(pixels: list[InputPixel], max_galaxies: int) -> dict[tuple[int, int], int | None]:
    """Per-pixel fallback caps: ``max_galaxies`` shared in proportion to rows (largest remainder).

    Depends on the pixel list only, never on which task finishes first. < 0: no cap.
    """
    if max_galaxies < 0:
        return {(p.order, p.pixel): None for p in pixels}
    total = sum(p.n_rows for p in pixels) or 1
    exact = [max_galaxies * p.n_rows / total for p in pixels]
    quota = [int(e) for e in exact]
    by_remainder = sorted(range(len(pixels)), key=lambda i: (-(exact[i] - quota[i]), i))
    for i in by_remainder[: max_galaxies - sum(quota)]:
        quota[i] += 1
    return {(p.order, p.pixel): q for p, q in zip(pixels, quota)}


def check_input_schemas(pixels: list[InputPixel]) -> None:
    """Raise ValueError naming the first partition that lacks an input column (footers only)."""
    for p in pixels:
        names = set(pq.read_schema(p.path).names)
        missing = [c for c in INPUT_COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{p.path}: missing column(s) {missing}: not an ingested catalog "
                             f"(docs/data-contracts.md §4; run `sedflow ingest` first)")


# --- tasks (run on workers; resources come from the worker plugin) ---------------------------------

def flow_task(pixel: InputPixel, start: int, stop: int, seed: int, sample: SamplingConfig,
              fallback: FallbackConfig, resources: InferenceResources | None = None) -> tuple[FlowPartition, dict]:
    """Flow posteriors of rows [start, stop) of one input pixel."""
    res = resources or worker_resources()
    t0 = time.perf_counter()
    frame = pq.read_table(pixel.path, columns=list(INPUT_COLUMNS)).slice(start, stop - start).to_pandas()
    part = infer_flow(frame, res.posterior, res.sps, seed=seed, sample=sample, fallback=fallback,
                      source=f"{pixel.path} rows {start}-{stop}")
    return part, {"pid": os.getpid(), "flow_s": time.perf_counter() - t0}


def merge_flows(flows: list[tuple[FlowPartition, dict]]) -> tuple[FlowPartition, dict]:
    part = concat_flow_partitions([f[0] for f in flows])
    return part, {"pid": flows[0][1]["pid"], "pids": sorted({f[1]["pid"] for f in flows}),
                  "flow_s": sum(f[1]["flow_s"] for f in flows)}


def candidates_task(quota: int | None, previous: Path | None,
                    *flows: tuple[FlowPartition, dict]) -> FallbackCandidates:
    """The pixel's galaxies for the fallback: the first ``quota`` routed ones (all if None).

    ``previous``: the pixel's partition from an earlier run of the same fingerprint; only its
    ``skipped`` rows are candidates (the others already have their fallback result).
    """
    cands = concat_candidates([f[0] for f in flows])  # only the routed rows: the flows are joined at the write
    if previous is not None:
        status = pq.read_table(previous, columns=["status"]).column("status").to_numpy(zero_copy_only=False)
        cands = cands.take(status[cands.rows] == "skipped")
    return cands if quota is None else cands.take(slice(0, quota))


def fallback_task(candidates: FallbackCandidates, config: FallbackConfig, n_stored: int,
                  resources: InferenceResources | None = None) -> Posteriors:
    res = resources or worker_resources()
    return infer_fallback(candidates, res.fallback, config, n_stored)


def write_task(flows: list[tuple[FlowPartition, dict]], path: Path, metadata: dict[str, Any], n_stored: int,
               previous: Path | None, *fallback_results: Posteriors) -> dict[str, Any]:
    """Assemble and write the pixel's partition; ``previous`` (a partition being finished)
    contributes the fallback results it already holds."""
    part, stats = merge_flows(flows)
    kept = [fallback_rows(pq.read_table(previous), n_stored)] if previous is not None else []
    table = partition_table(part, [*kept, *fallback_results], n_stored)
    counts = dict(Counter(table.column("status").to_pylist()))
    write_partition(table, path, {**metadata, "n_rows": table.num_rows, "status_counts": counts})
    return {**stats, "n_rows": table.num_rows, "status_counts": counts,
            "n_routed": len(part.candidates), "n_fallback": sum(len(r.rows) for r in fallback_results)}


# --- the driver --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InferencePlan:
    """A checked inference run, before any work: what to read, with which model, where to write.

    Attributes:
        config, catalog_in, root (the output directory), model_dir, posterior (loaded and
        verified), pixels (the input partitions), fingerprint (model + settings), metadata
        (what every output partition's footer records).
    """

    config: Config
    catalog_in: Path
    root: Path
    model_dir: Path
    posterior: Any
    pixels: list[InputPixel]
    settings: dict[str, Any]
    fingerprint: str
    metadata: dict[str, Any]
    noise_check: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _shipped_proposal_note(sha256: str | None) -> str:
    """" (the shipped proposal)" when ``sha256`` is the shipped noise proposal's, else ""."""
    from ..noise.proposal import default_proposal

    return " (the shipped proposal)" if sha256 and default_proposal().sha256() == sha256 else ""


def check_noise_consistency(model_meta: dict[str, Any], ingest_provenance: dict[str, Any], *, model_dir: Path,
                            catalog_in: Path, allow_mismatch: bool = False) -> dict[str, Any]:
    """Compare the noise proposal the posterior was trained with and the one the catalog was flagged with.

    The catalog's ``oos_noise`` flags say which σ lie outside the training proposal's range; judged
    against another proposal than the model's, the flags and the routing built on them say nothing
    about the model. Returns ``{"model", "catalog", "match", "message"}`` (the proposals' sha256s;
    message None when they match); a mismatch is a ValueError unless ``allow_mismatch``. A model
    or catalog that records no proposal cannot be checked: a message, never an error.
    """
    recorded = ingest_provenance.get("noise_proposal") if isinstance(ingest_provenance, dict) else None
    catalog_sha = recorded.get("sha256") if isinstance(recorded, dict) else None
    model_sha = model_meta.get("proposal_sha256")
    out: dict[str, Any] = {"model": model_sha, "catalog": catalog_sha, "match": bool(model_sha) and model_sha == catalog_sha,
                           "message": None}
    if out["match"]:
        return out
    if not model_sha or not catalog_sha:
        out["message"] = (f"cannot check the noise proposal: the model {model_dir} records {model_sha or 'none'}, the "
                          f"catalog {catalog_in} (provenance.json) records {catalog_sha or 'none'}")
        return out
    source = recorded.get("source") if isinstance(recorded, dict) else None
    out["message"] = (f"NOISE PROPOSAL MISMATCH: the model {model_dir} was trained on simulations observed through "
                      f"noise proposal {model_sha[:12]}{_shipped_proposal_note(model_sha)}, but the catalog "
                      f"{catalog_in} was ingested (oos_noise flags, error support) against proposal "
                      f"{catalog_sha[:12]}{_shipped_proposal_note(catalog_sha)}{f', from {source}' if source else ''}. "
                      f"The out-of-support flags and routing would not describe this model: re-ingest with the "
                      f"model's proposal (sedflow ingest --proposal ...) or use a model trained with the catalog's")
    if not allow_mismatch:
        raise ValueError(out["message"] + "; --allow-noise-mismatch runs anyway (nothing was written)")
    return out


def plan_inference(config: Config, catalog_in: str | Path, out: str | Path, *,
                   model_dir: str | Path | None = None, allow_noise_mismatch: bool = False) -> InferencePlan:
    """Check the model, the input and the output directory; raise ValueError naming what is wrong.

    Nothing is written and no cluster is needed: the CLI calls it before starting one. A model
    trained with another noise proposal than the catalog was ingested with is refused unless
    ``allow_noise_mismatch`` (:func:`check_noise_consistency`; then a warning).
    """
    model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    posterior = load_posterior_model(model_dir)
    pixels = input_pixels(catalog_in)
    check_input_schemas(pixels)
    try:
        ingest_prov = read_provenance(catalog_in)
    except ValueError:
        ingest_prov = {}
    noise_check = check_noise_consistency(posterior.meta, ingest_prov, model_dir=model_dir,
                                          catalog_in=Path(catalog_in), allow_mismatch=allow_noise_mismatch)
    root = Path(out)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / "dataset").is_dir())):
        raise ValueError(f"{root} exists and is not a catalog: choose another --out (nothing was written)")
    settings = run_settings(config, posterior.meta)
    fingerprint = run_fingerprint(posterior.sha256, settings)
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": fingerprint,
                "model_sha256": posterior.sha256, "seed": config.seed}
    return InferencePlan(config=config, catalog_in=Path(catalog_in), root=root, model_dir=model_dir,
                         posterior=posterior, pixels=pixels, settings=settings, fingerprint=fingerprint,
                         metadata=metadata, noise_check=noise_check,
                         warnings=(noise_check["message"],) if noise_check["message"] else ())


def infer_catalog(config: Config, catalog_in: str | Path, out: str | Path, *, client=None,
                  model_dir: str | Path | None = None, name: str | None = None, progress: bool = True,
                  stream: MessageStream = STDERR, plan: InferencePlan | None = None,
                  allow_noise_mismatch: bool = False) -> InferSummary:
    """Posteriors for every galaxy of an ingested HATS catalog, written as a HATS catalog at ``out``.

    Args:
        config: the run configuration (``seed``, ``sample``, ``fallback``; the forward model's
            options come from the posterior model, which records those it was trained with).
        catalog_in: the ingested catalog (``sedflow ingest``).
        out: the output catalog directory (``catalogs/<name>``); an existing catalog there is
            resumed: complete partitions of the same fingerprint are kept, others redone.
        client: a ``distributed.Client``; None runs every pixel in this process.
        model_dir: the posterior model artifact (None: the shipped default).
        name: the catalog name in ``hats.properties`` (default: the directory's name).
        plan: the result of :func:`plan_inference` for these arguments, if already made.
        allow_noise_mismatch: run a model trained with another noise proposal than the catalog
            was ingested with (a loud warning, recorded in the provenance) instead of refusing.

    Raises ValueError before any work for a corrupt or foreign model, an input that is not an
    ingested catalog, a noise-model mismatch, or an output directory that holds something else.
    """
    stream = resolve_stream(stream)
    t_start = time.perf_counter()
    plan = plan or plan_inference(config, catalog_in, out, model_dir=model_dir,
                                  allow_noise_mismatch=allow_noise_mismatch)
    if stream is not None:
        for w in plan.warnings:
            print(f"WARNING: {w}", file=stream, flush=True)
    posterior, pixels, root, model_dir = plan.posterior, plan.pixels, plan.root, plan.model_dir
    settings, fingerprint, metadata = plan.settings, plan.fingerprint, plan.metadata
    quotas = fallback_quotas(pixels, config.fallback.max_galaxies if config.fallback.enabled else 0)
    todo, done_stats, finishing = [], [], set()
    for p in pixels:
        path = partition_path(root, p.order, p.pixel)
        if not partition_is_complete(path, fingerprint, p):
            todo.append(p)
            continue
        meta = read_sedflow_metadata(path)
        counts, key = meta.get("status_counts", {}), (p.order, p.pixel)
        # the cap counts the pixel's fallback runs so far: a re-run with the same cap is a no-op
        ran = counts.get("mcmc", 0) + counts.get("unconverged", 0)
        left = None if quotas[key] is None else quotas[key] - ran
        if counts.get("skipped", 0) and (left is None or left > 0):
            todo.append(p)  # complete, but this run's fallback takes (some of) its skipped galaxies
            finishing.add(key)
            quotas[key] = left
        else:
            done_stats.append(meta)
    n_total = sum(p.n_rows for p in pixels)
    if stream is not None:
        print(f"infer: {n_total} galaxies in {len(pixels)} pixels from {catalog_in}; model {posterior.sha256[:12]} "
              f"({model_dir}); {len(pixels) - len(todo)} pixels already complete", file=stream, flush=True)
    args = dict(seed=config.seed, sample=config.sample, fallback=config.fallback, quotas=quotas, root=root,
                metadata=metadata, finishing=finishing)
    written = (_run_in_process(todo, InferenceResources(model_dir), progress=progress, stream=stream, **args)
               if client is None else
               _run_on_cluster(todo, client, InferenceResources(model_dir), progress=progress, stream=stream, **args))
    remove_stale_partitions(root, {partition_path(root, p.order, p.pixel) for p in pixels})
    counts = Counter({s: 0 for s in STATUSES})
    for s in [*done_stats, *written]:
        counts.update(s["status_counts"])
    summary = InferSummary(
        catalog=root, n_rows=n_total, status_counts=dict(counts), n_partitions=len(pixels),
        n_skipped=len(pixels) - len(todo), n_routed=sum(s["n_routed"] for s in written),
        n_fallback=sum(s["n_fallback"] for s in written), wall_s=0.0,
        partitions=[{k: s[k] for k in ("order", "pixel", "n_rows", "pid", "flow_s")} for s in written])
    if sum(counts.values()) != n_total:
        raise RuntimeError(f"infer: {sum(counts.values())} rows written for {n_total} input galaxies")
    try:
        ingest_prov = read_provenance(catalog_in)
    except ValueError:
        ingest_prov = {}
    summary.wall_s = time.perf_counter() - t_start
    provenance = {
        **metadata, "stage": "infer", "version": __version__, "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                            time.gmtime()),
        "input": {"catalog": str(Path(catalog_in).resolve()), "input_sha256": ingest_prov.get("input", {}).get(
            "sha256") if isinstance(ingest_prov.get("input"), dict) else None,
            "partitions": {f"{p.order}/{p.pixel}": p.sha256 for p in pixels}},
        "model": {"dir": str(model_dir.resolve()), "sha256": posterior.sha256,
                  "ssp_sha256": posterior.meta.get("ssp_sha256"), "noise_sha256": posterior.meta.get("noise_sha256"),
                  "training": {k: posterior.meta.get("training", {}).get(k) for k in ("command", "seed")}},
        "noise_check": plan.noise_check,
        "config": settings, "status_counts": summary.status_counts, "n_rows": n_total,
        "fallback_cap_this_run": {k: getattr(config.fallback, k) for k in FALLBACK_CAP_FIELDS},
        "n_routed_this_run": summary.n_routed, "n_fallback_this_run": summary.n_fallback,
    }
    finalize_catalog(root, name or artifact_name(root), pixels, provenance)
    if stream is not None:
        print(summary.format(), file=stream, flush=True)
    return summary


def _bar(total: int, progress: bool, stream):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="infer", unit="galaxy", file=stream, disable=stream is None or not progress,
                dynamic_ncols=True)


def _run_in_process(todo, resources, *, seed, sample, fallback, quotas, root, metadata, finishing, progress,
                    stream):
    resources.load()
    written = []
    with _bar(sum(p.n_rows for p in todo), progress, stream) as bar:
        for p in todo:
            flows = [flow_task(p, a, b, seed, sample, fallback, resources) for a, b in row_ranges(p.n_rows,
                                                                                                   sample.task_rows,
                                                                                                   at_least_one=True)]
            path = partition_path(root, p.order, p.pixel)
            previous = path if (p.order, p.pixel) in finishing else None
            cands = candidates_task(quotas[(p.order, p.pixel)], previous, *flows)
            results = [fallback_task(b, fallback, sample.n_stored, resources)
                       for b in cands.batches(fallback.batch_galaxies)]
            stats = write_task(flows, path, {**metadata, "input_sha256": p.sha256}, sample.n_stored, previous,
                               *results)
            written.append({**stats, "order": p.order, "pixel": p.pixel})
            bar.update(p.n_rows)
    return written


def _run_on_cluster(todo, client, resources, *, seed, sample, fallback, quotas, root, metadata, finishing, progress,
                    stream):
    """Flow tasks in flight at most 2 per worker thread (bounds worker memory); a pixel's
    fallback and write tasks are submitted once its flow tasks report their routed galaxies."""
    from distributed import as_completed

    client.register_plugin(resources)
    limit = max(2, 2 * sum(client.nthreads().values()))
    queue = list(todo)
    pending = as_completed()
    stage: dict[Any, tuple[str, InputPixel, Any]] = {}
    written, failures = [], []
    n_active = 0

    def fill() -> None:
        nonlocal n_active
        while queue and n_active < limit:
            p = queue.pop(0)
            flows = [client.submit(flow_task, p, a, b, seed, sample, fallback, pure=False,
                                   key=f"infer-flow-{p.order}-{p.pixel}-{a}-{time.time_ns()}")
                     for a, b in row_ranges(p.n_rows, sample.task_rows, at_least_one=True)]
            previous = partition_path(root, p.order, p.pixel) if (p.order, p.pixel) in finishing else None
            cands = client.submit(candidates_task, quotas[(p.order, p.pixel)], previous, *flows, pure=False)
            stage[cands] = ("candidates", p, flows)
            pending.add(cands)
            n_active += len(flows)

    with _bar(sum(p.n_rows for p in todo), progress, stream) as bar:
        fill()
        for fut in pending:
            kind, p, flow = stage.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # a pixel whose task keeps failing: report it, keep the others going
                failures.append(f"pixel (order {p.order}, {p.pixel}) {p.path}: {type(exc).__name__}: {exc}")
                n_active -= len(flow)
                fill()
                continue
            if kind == "candidates":
                batches = [client.submit(fallback_task, b, fallback, sample.n_stored, pure=False)
                           for b in result.batches(fallback.batch_galaxies)]
                path = partition_path(root, p.order, p.pixel)
                previous = path if (p.order, p.pixel) in finishing else None
                wr = client.submit(write_task, flow, path, {**metadata, "input_sha256": p.sha256}, sample.n_stored,
                                   previous, *batches, pure=False)
                stage[wr] = ("write", p, flow)
                pending.add(wr)
            else:
                written.append({**result, "order": p.order, "pixel": p.pixel})
                bar.update(p.n_rows)
                n_active -= len(flow)
                fill()
    if failures:
        raise RuntimeError(f"infer: {len(failures)} pixel(s) failed (complete partitions are kept; re-run to resume):"
                           "\n  " + "\n  ".join(failures))
    return written
