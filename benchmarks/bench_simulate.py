"""Wall-clock benchmark of ``sedflow simulate``: the paper's training set, written to Parquet.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_simulate.py [--n 1131561] [--workers N] [--out DIR]

``wall_s`` runs from before the LocalCluster (worker processes) starts to after the last file
and the summary are written, so it includes cluster start-up, model builds on the workers,
simulation, noise and Parquet. ``rows_per_s`` = n / wall_s; ``draws_per_s`` = n_drawn / wall_s
(rows kept are about a third of the draws with the default noise model's magnitude ranges).
``sgemm_gflops`` is a float32 matmul figure measured in the same run, for comparing machines.

The Dask overhead, against the forward model alone measured in the same run (before the cluster
starts, as ``bench_forward.py`` does: the default model's ``photometry`` in this one process,
best of ``--forward-repeats`` calls on fresh box-prior draws)::

    forward.seds_per_s                  single-process SEDs/s (the engine's threads: all cores)
    rows_per_s_per_worker               rows_per_s / workers
    rows_per_worker_over_forward        rows_per_s_per_worker / forward.seds_per_s
    draws_per_worker_over_forward_per_thread
                                        (draws_per_s / workers) / (forward.seds_per_s / forward.threads)

Every draw is one SED through the forward model and every worker runs one thread, so the last
ratio is the fraction of the forward model's per-core rate the whole pipeline keeps (1 = the
prior, noise, drops, Parquet, Dask and the cluster's start-up cost nothing); the one before it
also counts the dropped draws and the cores per process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

from _common import machine_info, matmul_gflops  # noqa: E402

from sedflow_dask import __version__  # noqa: E402
from sedflow_dask.cluster import dask_client  # noqa: E402
from sedflow_dask.config import ClusterConfig, Config  # noqa: E402
from sedflow_dask.simulate import read_training_set, simulate_training_set  # noqa: E402
from sedflow_dask.sps import PROVABGSModel  # noqa: E402
from sedflow_dask.sps.parameters import draw_box_prior  # noqa: E402

PAPER_N = 1_131_561


def forward_rate(config: Config, n: int, repeats: int, seed: int) -> dict:
    """Best single-process SEDs/s of the forward model in this process (photometry only)."""
    rng = np.random.default_rng(seed)
    model = PROVABGSModel(config=config.sps)
    model.photometry(*draw_box_prior(min(n, 2048), rng), space="box")  # warm-up
    seconds = []
    for _ in range(repeats):
        theta, z = draw_box_prior(n, rng)  # drawn before the timer
        t0 = time.perf_counter()
        model.photometry(theta, z, space="box")
        seconds.append(time.perf_counter() - t0)
    return {"seds_per_s": round(n / min(seconds), 1), "n": n, "repeats": repeats,
            "threads": int(model.engine.threads), "seconds": [round(t, 4) for t in seconds]}


def run(n: int = PAPER_N, workers: int | None = None, out: str | None = None, seed: int = 0,
        chunk_rows: int | None = None, sgemm_size: int = 1024, forward_n: int = 100_000,
        forward_repeats: int = 3) -> dict:
    if min(n, forward_n, forward_repeats) < 1:
        raise ValueError("n, forward_n and forward_repeats must be >= 1")
    gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as tmp:
        target = Path(out) if out else Path(tmp) / "training"
        sim = {"n": n} if chunk_rows is None else {"n": n, "chunk_rows": chunk_rows}
        config = Config.from_dict({"seed": seed, "simulate": sim})
        forward = forward_rate(config, forward_n, forward_repeats, seed)
        t0 = time.perf_counter()
        with dask_client(ClusterConfig(n_workers=workers, dashboard_address=":0")) as client:
            t_cluster = time.perf_counter() - t0
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
            summary = simulate_training_set(config, target, client, overwrite=True)
        wall = time.perf_counter() - t0
        rows_read = read_training_set(target, columns=["row"]).num_rows
    rows_per_worker = summary["n_kept"] / wall / n_workers
    draws_per_worker = summary["n_drawn"] / wall / n_workers
    return {
        "n": summary["n_kept"],
        "n_drawn": summary["n_drawn"],
        "rows_read_back": rows_read,
        "wall_s": round(wall, 3),
        "cluster_start_s": round(t_cluster, 3),
        "rows_per_s": round(summary["n_kept"] / wall, 1),
        "draws_per_s": round(summary["n_drawn"] / wall, 1),
        "workers": n_workers,
        "rows_per_s_per_worker": round(rows_per_worker, 1),
        "draws_per_s_per_worker": round(draws_per_worker, 1),
        "forward": forward,
        "rows_per_worker_over_forward": round(rows_per_worker / forward["seds_per_s"], 4),
        "draws_per_worker_over_forward_per_thread": round(
            draws_per_worker / (forward["seds_per_s"] / forward["threads"]), 4),
        "n_chunks": summary["n_chunks"],
        "drop_counts": summary["drop_counts"],
        "sgemm_gflops": round(gflops, 1),
        "goal_wall_s": 30.0,
        "package_version": __version__,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=PAPER_N, help="rows to keep (default: the paper's 1,131,561)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: one per core)")
    p.add_argument("--out", default=None, help="keep the training set here (default: a temporary directory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-rows", type=int, default=None)
    p.add_argument("--sgemm-size", type=int, default=1024)
    p.add_argument("--forward-n", type=int, default=100_000, help="SEDs per timed call of the forward model alone")
    p.add_argument("--forward-repeats", type=int, default=3, help="timed forward-model calls (best is reported)")
    args = p.parse_args(argv)
    result = run(args.n, args.workers, args.out, args.seed, args.chunk_rows, args.sgemm_size, args.forward_n,
                 args.forward_repeats)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
