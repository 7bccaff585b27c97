"""Throughput and bounded memory of ``sedflow ingest`` on synthetic NSA files of two sizes.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_ingest.py [--rows 1000000] [--small-factor 4] [--workers 2]
                                      [--partition-rows 100000] [--pixel-threshold 50000]

Two NSA-schema FITS files with their SDSS-flags companions are written first: ``rows`` rows and
``rows / small_factor`` rows, by the mock generator (``sedflow_dask.mock``: galaxies from the
forward and noise models; ``--generator fixture`` uses the tests' faster numpy writer). Each
file is then ingested in a *fresh subprocess* that starts its own LocalCluster, so peak memory
is that run's alone:

* ``wall_s``: the ``ingest_catalog`` call (scan, flag join, hats-import, checks, provenance);
  ``cluster_start_s`` is reported separately; ``rows_per_s`` = rows / wall_s.
* ``peak_rss_mb``: the sum of the peak resident set sizes (``VmHWM``) of the client process
  (which also runs the scheduler) and every worker process [MiB].
* ``peak_ratio``: peak_rss_mb(large) / peak_rss_mb(small): with row ranges and pixels of bounded
  size, memory must not grow with the file (the target is <= 1.3 for a 4x larger file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
for _path in (REPO / "benchmarks", REPO / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def log(msg: str) -> None:
    print(f"[bench_ingest] {msg}", file=sys.stderr, flush=True)


def write_inputs(directory: Path, rows: int, generator: str, seed: int) -> tuple[Path, Path]:
    """An NSA FITS of exactly ``rows`` rows and its FITS flags companion."""
    if generator == "mock":
        from sedflow_dask.mock import write_mock_nsa

        files = write_mock_nsa(directory / f"nsa_{rows}_v1_0_1.fits", rows - 2, seed=seed)  # + 2 golden rows
        return files.catalog, files.flags_fits
    import nsa_fixtures as fx  # tests/nsa_fixtures.py

    cat = fx.make_catalog(rows, seed)
    nsa = fx.write_nsa(directory / f"nsa_{rows}_v1_0_1.fits", cat)
    flags = fx.write_flags_fits(directory / f"nsa_{rows}_flags.fits", fx.make_flags(cat.nsaid, seed + 1))
    return nsa, flags


def _peak_rss_mb() -> float:
    """This process's peak resident set size [MiB]: ``VmHWM`` of /proc/self/status.

    Not ``ru_maxrss``: Linux carries that across fork + exec, so a subprocess (and every Dask
    worker the client spawns) would report its parent's peak whenever that was higher.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # elsewhere: KiB (Linux) or bytes


def measure(nsa: str, flags: str, out: str, workers: int, partition_rows: int, pixel_threshold: int) -> dict:
    """One ingest in this process with its own LocalCluster; timings and peak RSS (run in a subprocess)."""
    from sedflow_dask.cluster import dask_client
    from sedflow_dask.config import ClusterConfig, IngestConfig
    from sedflow_dask.ingest import ingest_catalog

    config = IngestConfig(preset="nsa", partition_rows=partition_rows, pixel_threshold=pixel_threshold)
    t0 = time.perf_counter()
    with dask_client(ClusterConfig(n_workers=workers, dashboard_address=":0"), stream=None) as client:
        t1 = time.perf_counter()
        result = ingest_catalog(nsa, out, client=client, flags_path=flags, config=config, overwrite=True,
                                progress=False, stream=None)
        wall = time.perf_counter() - t1
        workers_peak = client.run(_peak_rss_mb)
    client_peak = _peak_rss_mb()
    return {
        "rows": result.rows,
        "usable": result.summary["usable"],
        "wall_s": round(wall, 3),
        "cluster_start_s": round(t1 - t0, 3),
        "rows_per_s": round(result.rows / wall, 1),
        "peak_rss_mb": round(client_peak + sum(workers_peak.values()), 1),
        "client_peak_rss_mb": round(client_peak, 1),
        "worker_peak_rss_mb": sorted(round(v, 1) for v in workers_peak.values()),
        "partitions": len(list(Path(out).glob("dataset/Norder=*/Dir=*/*.parquet"))),
    }


def measure_in_subprocess(nsa: Path, flags: Path, out: Path, workers: int, partition_rows: int,
                          pixel_threshold: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", str(nsa), str(flags), str(out),
           "--workers", str(workers), "--partition-rows", str(partition_rows),
           "--pixel-threshold", str(pixel_threshold)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def run(rows: int = 1_000_000, small_factor: int = 4, workers: int = 2, partition_rows: int = 100_000,
        pixel_threshold: int = 50_000, generator: str = "mock", seed: int = 0, keep: str | None = None) -> dict:
    from _common import machine_info

    small_rows = max(1000, rows // small_factor)
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        d = Path(keep) if keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}
        for label, n in (("small", small_rows), ("large", rows)):
            t0 = time.perf_counter()
            nsa, flags = write_inputs(d, n, generator, seed)
            log(f"{label}: wrote {n} rows ({nsa.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
            results[label] = measure_in_subprocess(nsa, flags, d / f"catalog_{n}", workers, partition_rows,
                                                   pixel_threshold)
            results[label]["file_mb"] = round(nsa.stat().st_size / 1e6, 1)
            log(f"{label}: {json.dumps(results[label])}")
    large, small = results["large"], results["small"]
    return {
        "rows": large["rows"],
        "rows_per_s": large["rows_per_s"],
        "wall_s": large["wall_s"],
        "peak_rss_mb": large["peak_rss_mb"],
        "small": small,
        "peak_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "large": large,
        "workers": workers,
        "partition_rows": partition_rows,
        "pixel_threshold": pixel_threshold,
        "generator": generator,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the large file (default 1,000,000)")
    p.add_argument("--small-factor", type=int, default=4, help="the small file has rows / this (default 4)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    p.add_argument("--partition-rows", type=int, default=100_000, help="ingest.partition_rows")
    p.add_argument("--pixel-threshold", type=int, default=50_000, help="ingest.pixel_threshold")
    p.add_argument("--generator", choices=("mock", "fixture"), default="mock",
                   help="mock: sedflow_dask.mock (forward model); fixture: tests/nsa_fixtures.py (fast numpy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", metavar="DIR", help="write the files and catalogs here and keep them")
    p.add_argument("--measure", nargs=3, metavar=("NSA", "FLAGS", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        out = measure(*args.measure, workers=args.workers, partition_rows=args.partition_rows,
                      pixel_threshold=args.pixel_threshold)
    else:
        out = run(rows=args.rows, small_factor=args.small_factor, workers=args.workers,
                  partition_rows=args.partition_rows, pixel_threshold=args.pixel_threshold,
                  generator=args.generator, seed=args.seed, keep=args.keep)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
