"""Wall-clock benchmark of ``sedflow simulate``: the paper's training set, written to Parquet.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_simulate.py [--n 1131561] [--workers N] [--out DIR]

``wall_s`` runs from before the LocalCluster (worker processes) starts to after the last file
and the summary are written, so it includes cluster start-up, model builds on the workers,
simulation, noise and Parquet. ``rows_per_s`` = n / wall_s; ``draws_per_s`` = n_drawn / wall_s
(rows kept are about a third of the draws with the default noise model's magnitude ranges).
``sgemm_gflops`` is a float32 matmul figure measured in the same run, for comparing machines.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

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

PAPER_N = 1_131_561


def run(n: int = PAPER_N, workers: int | None = None, out: str | None = None, seed: int = 0,
        chunk_rows: int | None = None, sgemm_size: int = 1024) -> dict:
    gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as tmp:
        target = Path(out) if out else Path(tmp) / "training"
        sim = {"n": n} if chunk_rows is None else {"n": n, "chunk_rows": chunk_rows}
        config = Config.from_dict({"seed": seed, "simulate": sim})
        t0 = time.perf_counter()
        with dask_client(ClusterConfig(n_workers=workers, dashboard_address=":0")) as client:
            t_cluster = time.perf_counter() - t0
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
            summary = simulate_training_set(config, target, client, overwrite=True)
        wall = time.perf_counter() - t0
        rows_read = read_training_set(target, columns=["row"]).num_rows
    return {
        "n": summary["n_kept"],
        "n_drawn": summary["n_drawn"],
        "rows_read_back": rows_read,
        "wall_s": round(wall, 3),
        "cluster_start_s": round(t_cluster, 3),
        "rows_per_s": round(summary["n_kept"] / wall, 1),
        "draws_per_s": round(summary["n_drawn"] / wall, 1),
        "workers": n_workers,
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
    args = p.parse_args(argv)
    result = run(args.n, args.workers, args.out, args.seed, args.chunk_rows, args.sgemm_size)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
