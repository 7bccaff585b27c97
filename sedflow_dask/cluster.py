"""Dask glue shared by every stage: connect to (or start) a cluster, report, show progress.

A LocalCluster of worker *processes* is the default; ``scheduler`` connects to a running one
(a SLURM or Kubernetes deployment, or ``dask scheduler`` + ``dask worker``). Nanny workers start
with OMP/MKL threads = 1, so torch's thread count is set explicitly on every worker by a plugin.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from distributed import Client, LocalCluster, WorkerPlugin, as_completed

from .config import ClusterConfig
from .console import STDERR, MessageStream, resolve_stream


class WorkerSetup(WorkerPlugin):
    """Prepare each worker process for the numerical cores.

    Sets torch's intra-op threads to the worker's Dask thread count (or ``torch_threads``) and
    tunes malloc (:func:`sedflow_dask.runtime.tune_malloc`: 2.4x faster simulation chunks than
    under the nanny's ``MALLOC_TRIM_THRESHOLD_``).
    """

    name = "sedflow-worker-setup"

    def __init__(self, torch_threads: int | None = None) -> None:
        self.torch_threads = torch_threads

    def setup(self, worker) -> None:
        import torch

        from .runtime import tune_malloc

        tune_malloc()
        torch.set_num_threads(max(1, self.torch_threads or worker.state.nthreads))


def add_cluster_args(p: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """The cluster options every Dask-using subcommand shares."""
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tls://HOST:8786 "
                                                          "(default: start a LocalCluster of worker processes)")
    p.add_argument("--tls-dir", metavar="DIR", default=None,
                   help="certificates of a tls:// scheduler (default: cluster.tls_dir, else $SEDFLOW_TLS_DIR, "
                        "else ~/.sedflow/tls, where `sedflow cluster` writes them)")
    if workers:
        p.add_argument("--workers", type=int, default=None,
                       help="LocalCluster worker processes (default: cluster.n_workers, else one per core)")
    p.add_argument("--performance-report", metavar="FILE.html", default=None,
                   help="save Dask's HTML performance report of the run (task stream, profiles, bandwidth) here")


def cluster_from_args(args: argparse.Namespace, config: ClusterConfig) -> ClusterConfig:
    """``config`` with the command line's ``--scheduler`` / ``--workers`` applied."""
    changes: dict[str, Any] = {}
    if getattr(args, "scheduler", None):
        changes["scheduler"] = args.scheduler
    if getattr(args, "tls_dir", None):
        changes["tls_dir"] = args.tls_dir
    workers = getattr(args, "workers", None)
    if workers is not None:
        if workers < 1:
            raise ValueError(f"--workers must be >= 1; got {workers}")
        changes["n_workers"] = workers
    return dataclasses.replace(config, **changes)


def loopback_dashboard(address: str) -> str:
    """A plain-HTTP dashboard address kept on loopback: ``":8787"`` (every interface) -> ``"127.0.0.1:8787"``.

    A dashboard is served without TLS unless its scheduler has certificates; on this machine's
    loopback only, it is reached from elsewhere through ``ssh -L 8787:localhost:8787``.
    """
    return "127.0.0.1" + address if address.startswith(":") else address


@contextmanager
def dask_client(config: ClusterConfig | None = None, *, stream: MessageStream = STDERR,
                performance_report: str | os.PathLike | None = None) -> Iterator[Client]:
    """Yield a connected ``distributed.Client``; a LocalCluster it started is closed on exit.

    Prints the dashboard link and the worker count to ``stream`` (None: silent). With
    ``performance_report`` (a file name), everything computed inside the block is recorded
    in Dask's HTML performance report (``distributed.performance_report``), written on exit,
    also when the block fails.
    """
    stream = resolve_stream(stream)
    config = config or ClusterConfig()
    cluster = None
    try:
        security = None
        if config.scheduler:
            from .deploy.tls import client_security

            security = client_security(config.scheduler, config.tls_dir)
            try:
                client = Client(config.scheduler, timeout="20s", security=security)
            except OSError as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {config.scheduler}: {exc}") from None
        else:
            cluster = LocalCluster(
                n_workers=config.n_workers,
                threads_per_worker=config.threads_per_worker,
                processes=True,
                memory_limit=config.memory_limit,
                dashboard_address=loopback_dashboard(config.dashboard_address),
            )
            client = Client(cluster)
        try:
            client.register_plugin(WorkerSetup())
            if stream is not None:
                n = len(client.scheduler_info(n_workers=-1)["workers"])
                kind = f"existing cluster at {config.scheduler}" if config.scheduler else "LocalCluster"
                link = client.dashboard_link
                if security is not None and link.startswith("http://"):
                    # the client formats the link from its own configuration; `sedflow cluster`'s TLS
                    # schedulers serve their dashboards over HTTPS with the same certificate
                    link = "https://" + link[len("http://"):]
                print(f"dask: {kind} with {n} workers; dashboard {link}", file=stream, flush=True)
            if performance_report is None:
                yield client
            else:
                with _performance_report(client, performance_report, stream):
                    yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


@contextmanager
def _performance_report(client: Client, filename: str | os.PathLike, stream: TextIO | None) -> Iterator[None]:
    """``distributed.performance_report`` around the block, bound to ``client``."""
    from distributed import performance_report

    path = Path(filename)
    if path.is_dir():
        raise ValueError(f"--performance-report {path} is a directory; give a file name such as report.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    report = performance_report(filename=str(path))
    with client.as_current():
        report.__enter__()
        failed = True
        try:
            yield
            failed = False
        finally:
            try:
                report.__exit__(None, None, None)
            except Exception as exc:  # never hide the run's own error behind the report's
                if not failed:
                    raise
                warnings.warn(f"could not write the performance report {path}: {exc}", stacklevel=2)
            else:
                if stream is not None:
                    print(f"dask: performance report written to {path}", file=stream, flush=True)


def iter_completed(futures: Iterable[Any], description: str, *, total: int | None = None,
                   unit: str = "task", stream: MessageStream = STDERR) -> Iterator[Any]:
    """Yield finished futures as they complete, with a progress bar on ``stream``."""
    from tqdm.auto import tqdm

    stream = resolve_stream(stream)
    futures = list(futures)
    with tqdm(total=total if total is not None else len(futures), desc=description, unit=unit,
              file=stream, disable=stream is None, dynamic_ncols=True) as bar:
        for fut in as_completed(futures):
            yield fut
            bar.update(1)
