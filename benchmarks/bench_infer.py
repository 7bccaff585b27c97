"""Benchmark ``sedflow infer``: galaxies per second on a LocalCluster, catalog write included.

Default: an NSA-size mock catalog of 33,884 galaxies (SDSS flag defects off, so all but
the mock's pathological rows are usable), 1,000 posterior draws per galaxy, all derived
properties and the HATS catalog write, MCMC fallback excluded, 2 worker processes of one thread.
The goal is >= 56 galaxies/s (the whole set in under 10 minutes). Options measure the rest on
subsets: ``--scaling N`` (1 vs 2 workers on N galaxies), ``--rate-10k N`` (10,000 draws per
galaxy on N galaxies), ``--fallback G`` (``benchmarks/bench_fallback.py`` on G out-of-support
galaxies, weights and fallback, one core). Prints one JSON document; ``sgemm_gflops`` is a same-run
single-thread matmul speed for comparing machines. The mock and its ingested catalog are cached in
``--workdir`` (default ``.bench_cache/infer``), so a re-run times inference only.

Where a galaxy's time goes: ``*_ms_per_galaxy`` split ``infer_flow`` (the flow task's work on
one pixel) into its stages on the first ``--stage-galaxies`` usable rows of the main run's
largest input pixel, in this process on one thread (as one worker runs them): ``flow`` (base
draws through the flow, box rejection, log q), ``weights`` (the forward model's fluxes of every
draw and the Pareto-smoothed weights), ``derived`` (physical parameters and derived properties of
the kept draws), ``summaries`` (their means, deviations and percentiles), ``write`` (the pixel's
table, written as one ZSTD partition) and ``other`` (the rest of ``infer_flow``);
``derived_per_bin_ms_per_galaxy`` times the same draws' derived properties evaluated bin by bin on
the full 42-bin history (``tests/test_derived.py``'s reference), the slower path the fast one
replaced. ``flow_fraction_of_sgemm_limit`` = the flow's matrix-product FLOPs per proposed draw
(``flow_flop_per_draw``, from the architecture in model.json: each coupling transform's network
on the draws, its context half computed once per galaxy) x proposed draws per second of the
flow stage / ``sgemm_gflops``.

Every inferred galaxy's draws are weighed against the exact likelihood (importance sampling), so
the rate includes the weights; ``is_median_efficiency`` is the median importance-sampling
efficiency over inferred galaxies and ``routed_frac`` the fraction of them the weights send to the
fallback (which this run leaves ``skipped``).

What the rates divide (``galaxies`` is the mock's size, ``--galaxies``): ``galaxies_per_s`` = ``galaxies_inferred`` (rows that went through the
flow: every status but cut and bad_input) / ``wall_s_without_cluster_start``; ``rows_per_s`` = all
``rows`` (``cut`` and ``bad_input`` rows included, which skip inference but are written) over
the same time. The LocalCluster's start-up is timed apart (``cluster_start_s``) and is not in
either rate; ``wall_s_with_cluster_start`` adds it back.

    python benchmarks/bench_infer.py [--galaxies 33884] [--samples 1000] [--workers 2]
                                     [--stage-galaxies 64] [--scaling 4000] [--rate-10k 1000] [--fallback 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # test_derived's per-bin reference

from _common import machine_info, matmul_gflops, torch_threads  # noqa: E402

from sedflow_dask.cluster import dask_client  # noqa: E402
from sedflow_dask.config import ClusterConfig, Config, FallbackConfig, IngestConfig, SamplingConfig  # noqa: E402
from sedflow_dask.infer.core import STATUSES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Statuses of rows that went through the flow (``cut`` and ``bad_input`` rows skip it).
INFERRED_STATUSES = tuple(s for s in STATUSES if s not in ("cut", "bad_input"))


def log(msg: str) -> None:
    print(f"[bench_infer] {msg}", file=sys.stderr, flush=True)


def ingested_mock(workdir: Path, n: int, seed: int, workers: int) -> Path:
    """A mock NSA catalog of n galaxies, ingested (cached under ``workdir``)."""
    from sedflow_dask.ingest import ingest_catalog
    from sedflow_dask.mock import write_mock_nsa

    out = workdir / f"ingested_n{n}_s{seed}"
    if (out / "hats.properties").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    files = write_mock_nsa(workdir / f"nsa_mock_n{n}_s{seed}_v1_0_1.fits", n, seed=seed, p_fail=0.0)
    with dask_client(ClusterConfig(n_workers=workers, dashboard_address=":0"), stream=None) as client:
        ingest_catalog(files.catalog, out, client=client, flags_path=files.flags_parquet,
                       config=IngestConfig(preset="nsa", pixel_threshold=5_000), progress=False, stream=None)
    log(f"mock of {n} galaxies made and ingested in {time.perf_counter() - t0:.1f} s -> {out}")
    return out


def time_inference(ingested: Path, out: Path, samples: int, workers: int, seed: int) -> dict:
    """Run ``infer_catalog`` on a fresh LocalCluster; the cluster's start-up is timed apart."""
    from sedflow_dask.infer import infer_catalog

    config = Config(seed=seed, sample=SamplingConfig(n_samples=samples),
                    fallback=FallbackConfig(enabled=False))
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with dask_client(ClusterConfig(n_workers=workers, threads_per_worker=1, dashboard_address=":0"),
                     stream=None) as client:
        client.wait_for_workers(workers)
        start_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        summary = infer_catalog(config, ingested, out, client=client, progress=False, stream=None)
        wall = time.perf_counter() - t1
    from sedflow_dask.query import query_catalog

    inferred = sum(v for k, v in summary.status_counts.items() if k in INFERRED_STATUSES)
    weights = query_catalog(out, "SELECT median(is_efficiency) AS eff, avg((fallback_reason <> 0)::DOUBLE) AS routed "
                                 "FROM catalog WHERE method IS NOT NULL").iloc[0]
    return {"rows": summary.n_rows, "galaxies_inferred": inferred,
            "is_median_efficiency": round(float(weights["eff"]), 4), "routed_frac": round(float(weights["routed"]), 4),
            "wall_s_without_cluster_start": round(wall, 2), "cluster_start_s": round(start_s, 2),
            "wall_s_with_cluster_start": round(wall + start_s, 2),
            "galaxies_per_s": round(inferred / wall, 2), "rows_per_s": round(summary.n_rows / wall, 2),
            "workers": workers, "samples_per_galaxy": samples, "partitions": summary.n_partitions,
            "status_counts": summary.status_counts}


def flow_flop_per_draw(arch: dict[str, Any]) -> int:
    """Matrix-product FLOPs per draw of the flow's inverse (``posterior.flows.base_to_theta``).

    zuko_maf with passes=2 is a stack of affine coupling transforms; each runs its network once
    on the draws: the first layer on the D parameters only (its context half is computed once
    per galaxy), the hidden layers, and the output layer of 2D (shift, scale) values:
    2 (D H_1 + sum_i H_i H_(i+1) + 2 D H_last) per transform.
    """
    if arch.get("flow") != "zuko_maf" or int(arch.get("passes", 0)) != 2:
        raise ValueError(f"FLOP count written for zuko_maf affine coupling (passes=2); got {arch}")
    d = int(arch["theta_dim"])
    h = [int(v) for v in arch["hidden_features"]]
    per_transform = d * h[0] + sum(a * b for a, b in zip(h[:-1], h[1:])) + h[-1] * 2 * d
    return 2 * per_transform * int(arch["num_transforms"])


@contextlib.contextmanager
def timed_stages(module, names: tuple[str, ...], seconds: dict[str, float], calls: dict[str, list]):
    """Time the calls ``module`` makes to its functions ``names`` (each the real function, run as
    is): their seconds add up in ``seconds``, their (args, kwargs, result) go to ``calls``."""
    originals = {name: getattr(module, name) for name in names}

    def timer(name: str, fn):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            calls.setdefault(name, []).append((args, kwargs, out))
            return out
        return call

    for name, fn in originals.items():
        setattr(module, name, timer(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)


class PerBinDerived:
    """The forward model with its derived properties evaluated bin by bin (the reference path)."""

    def __init__(self, model) -> None:
        from test_derived import per_bin_derived  # imported here, outside the timed calls

        self.model = model
        self.per_bin = per_bin_derived

    def derived_properties(self, theta, z):
        return self.per_bin(self.model, theta, z)


def stage_times(ingested: Path, out: Path, samples: int, galaxies: int, seed: int, gflops: float) -> dict:
    """Per-galaxy milliseconds of ``infer_flow``'s stages and of the write (see the module docstring)."""
    import numpy as np
    import pyarrow.parquet as pq

    from sedflow_dask.infer import core, partition
    from sedflow_dask.infer.catalog import input_pixels, write_partition
    from sedflow_dask.infer.resources import InferenceResources

    pixel = max(input_pixels(ingested), key=lambda p: p.n_rows)
    frame = pq.read_table(pixel.path, columns=list(partition.INPUT_COLUMNS)).to_pandas()
    # the first rows holding `galaxies` that ingestion passed (infer_flow may still find a few bad)
    passed = np.cumsum(core.input_status(frame["ingest_reason"].to_numpy()) == None)  # noqa: E711
    rows = frame.iloc[: int(np.searchsorted(passed, galaxies)) + 1]
    sample = SamplingConfig(n_samples=samples)
    fallback = FallbackConfig(enabled=False)
    seconds: dict[str, float] = {}
    calls: dict[str, list] = {}
    with torch_threads(1):
        res = InferenceResources()
        posterior, sps = res.posterior, res.sps
        partition.infer_flow(rows.iloc[:4], posterior, sps, seed=seed, sample=sample,
                             fallback=fallback)  # warm-up: first calls build the models' tables
        t0 = time.perf_counter()
        with timed_stages(partition, ("sample_posteriors", "weigh_draws", "posterior_quantities", "summarize_draws"),
                          seconds, calls):
            part = partition.infer_flow(rows, posterior, sps, seed=seed, sample=sample, fallback=fallback)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = partition.partition_table(part, [], sample.n_stored)
        write_partition(table, out / "stage_partition.parquet", {"n_rows": table.num_rows})
        write_s = time.perf_counter() - t0
        # the same draws' derived properties, bin by bin on the full history
        per_bin_s, diff = 0.0, 0.0
        for args, kwargs, fast in calls["posterior_quantities"]:
            per_bin_model = PerBinDerived(args[0])
            t0 = time.perf_counter()
            slow = core.posterior_quantities(per_bin_model, *args[1:], **kwargs)
            per_bin_s += time.perf_counter() - t0
            with np.errstate(invalid="ignore"):
                both = np.isfinite(fast) & np.isfinite(slow)
                diff = max(diff, float(np.max(np.abs(fast - slow)[both], initial=0.0)))
    n = len(part.flow.rows)
    proposed = sum(int(out.n_proposed.sum()) for _, _, out in calls["sample_posteriors"])
    flop = flow_flop_per_draw(posterior.meta["architecture"])
    flow_gflops = flop * proposed / seconds["sample_posteriors"] / 1e9
    per_galaxy = lambda s: round(1e3 * s / n, 3)  # noqa: E731
    return {"stage_galaxies": n, "stage_samples_per_galaxy": samples,
            "flow_ms_per_galaxy": per_galaxy(seconds["sample_posteriors"]),
            "weights_ms_per_galaxy": per_galaxy(seconds["weigh_draws"]),
            "derived_ms_per_galaxy": per_galaxy(seconds["posterior_quantities"]),
            "derived_per_bin_ms_per_galaxy": per_galaxy(per_bin_s),
            "derived_per_bin_max_abs_diff": diff,
            "summaries_ms_per_galaxy": per_galaxy(seconds["summarize_draws"]),
            "write_ms_per_galaxy": per_galaxy(write_s),
            "other_ms_per_galaxy": per_galaxy(total - sum(seconds.values())),
            "flow_proposed_per_galaxy": round(proposed / n, 1), "flow_flop_per_draw": flop,
            "flow_gflops": round(flow_gflops, 2), "flow_fraction_of_sgemm_limit": round(flow_gflops / gflops, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=33_884, help="mock catalog size (default: the paper's NSA count)")
    ap.add_argument("--samples", type=int, default=1_000, help="posterior draws per galaxy")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (one thread each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=ROOT / ".bench_cache" / "infer")
    ap.add_argument("--stage-galaxies", type=int, default=64, metavar="N",
                    help="galaxies of the per-stage breakdown (0: none)")
    ap.add_argument("--scaling", type=int, default=0, metavar="N", help="also: 1 vs 2 workers on N galaxies")
    ap.add_argument("--rate-10k", type=int, default=0, metavar="N", help="also: 10,000 draws per galaxy on N galaxies")
    ap.add_argument("--fallback", type=int, default=0, metavar="G", help="also: the fallback on G galaxies")
    ap.add_argument("--sgemm-size", type=int, default=1024)
    ap.add_argument("--skip-main", action="store_true", help="only the optional measurements")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    with torch_threads(1):
        gflops = matmul_gflops(args.sgemm_size, args.sgemm_size, args.sgemm_size)
    result: dict = {"sgemm_gflops": round(gflops, 1)}
    timed: dict[tuple[int, int], dict] = {}  # (galaxies in the mock, workers) -> a run already timed
    if not args.skip_main:
        ing = ingested_mock(args.workdir, args.galaxies, args.seed, args.workers)
        log(f"infer: {args.galaxies} galaxies x {args.samples} draws on {args.workers} workers")
        main_run = time_inference(ing, args.workdir / "catalog_main", args.samples, args.workers, args.seed)
        timed[(args.galaxies, args.workers)] = main_run
        result.update(galaxies=args.galaxies, **main_run)
        result["goal_galaxies_per_s"] = 56.0
        if args.stage_galaxies:
            log(f"stages: {args.stage_galaxies} galaxies x {args.samples} draws in this process, one thread")
            result.update(stage_times(ing, args.workdir, args.samples, args.stage_galaxies, args.seed, gflops))
    if args.scaling:
        # both sides infer the same catalog with the same draws (each reports what it ran); the
        # main run stands in for its side when it timed the same mock on as many workers
        ing = ingested_mock(args.workdir, args.scaling, args.seed, 2)
        sides = {w: timed.get((args.scaling, w))
                 or time_inference(ing, args.workdir / f"catalog_w{w}", args.samples, w, args.seed) for w in (1, 2)}
        result["scaling"] = {f"{w}_worker{'s' if w > 1 else ''}": {
            k: r[k] for k in ("workers", "galaxies_inferred", "samples_per_galaxy", "galaxies_per_s",
                              "wall_s_without_cluster_start")}
            for w, r in sides.items()}
        result["scaling_efficiency"] = round(sides[2]["galaxies_per_s"] / (2 * sides[1]["galaxies_per_s"]), 3)
    if args.rate_10k:
        ing = ingested_mock(args.workdir, args.rate_10k, args.seed + 2, args.workers)
        r = time_inference(ing, args.workdir / "catalog_10k", 10_000, args.workers, args.seed)
        result["rate_10k"] = {k: r[k] for k in ("rows", "galaxies_inferred", "wall_s_without_cluster_start",
                                                "galaxies_per_s", "workers")}
        result["galaxies_per_s_10k"] = r["galaxies_per_s"]
    if args.fallback:
        import bench_fallback

        fb = bench_fallback.run(galaxies=args.fallback, sgemm_size=args.sgemm_size)
        result["fallback"] = {k: fb.get(k) for k in ("galaxies", "routed", "converged_frac", "median_wall_s",
                                                      "p90_wall_s", "median_ess", "evals_per_s", "status_counts",
                                                      "goal_met")}
    result["machine"] = machine_info()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
