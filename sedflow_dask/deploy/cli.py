"""``sedflow cluster {local,slurm,k8s}``: start a Dask cluster from the presets and print its address.

Every Dask-using command then runs on it with ``--scheduler ADDRESS``. The cluster lives as long
as this command: until Ctrl-C (or SIGTERM), or for ``--for SECONDS``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path


def register(sub) -> None:
    from ..cli_args import add_config_args

    cluster = sub.add_parser(
        "cluster", help="start a Dask cluster (local processes, SLURM, Kubernetes) for --scheduler",
        description="Start a Dask cluster from the presets in deploy/ and print the scheduler address and "
                    "dashboard link; then run any stage against it with --scheduler ADDRESS. The cluster "
                    "stops with this command (Ctrl-C, SIGTERM, or --for SECONDS).")
    kinds = cluster.add_subparsers(dest="cluster_kind", metavar="KIND")

    def common(p: argparse.ArgumentParser) -> None:
        add_config_args(p)
        p.add_argument("--for", dest="duration", type=float, default=None, metavar="SECONDS",
                       help="stop after this many seconds (default: run until Ctrl-C)")
        p.add_argument("--address-file", metavar="FILE",
                       help="also write the scheduler address to FILE (for scripts: --scheduler $(cat FILE))")

    local = kinds.add_parser("local", help="a LocalCluster of worker processes on this machine",
                             description="A LocalCluster of worker processes (cluster.* in the config: n_workers, "
                                         "threads_per_worker, memory_limit, dashboard_address).")
    common(local)
    local.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: cluster.n_workers, else one per core)")
    local.add_argument("--threads", type=int, default=None,
                       help="threads per worker (default: cluster.threads_per_worker)")
    local.add_argument("--host", default=None,
                       help="interface the scheduler listens on (default: localhost; 0.0.0.0 for other machines)")
    local.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786; 0 picks a free one)")
    local.set_defaults(func=cmd_cluster_local)

    slurm = kinds.add_parser(
        "slurm", help="a scheduler here and SLURM jobs of workers (dask-jobqueue)",
        description="Build a dask-jobqueue SLURMCluster from the preset (cores, memory, walltime, worker lifetime "
                    "and stagger), print the job script, and keep --jobs jobs running (adaptively: each job whose "
                    "workers retired is replaced). Without sbatch on PATH, or with --dry-run, nothing is submitted.")
    common(slurm)
    slurm.add_argument("--preset", metavar="FILE", help="SLURM preset YAML (default: deploy/slurm.yaml)")
    slurm.add_argument("--jobs", type=int, default=None, help="SLURM jobs to keep running (default: the preset's)")
    slurm.add_argument("--dry-run", action="store_true",
                       help="print the job script and submit nothing (the default when sbatch is not on PATH)")
    slurm.set_defaults(func=cmd_cluster_slurm)

    k8s = kinds.add_parser(
        "k8s", help="a DaskCluster manifest for the Dask Kubernetes operator",
        description="Check the DaskCluster manifest (image = this release's), print it or write it with --out "
                    "for kubectl apply -f; with --apply, create it through dask-kubernetes (pip install "
                    "'sedflow_dask[k8s]') and keep it until this command stops.")
    common(k8s)
    k8s.add_argument("--manifest", metavar="FILE", help="DaskCluster YAML (default: deploy/k8s/daskcluster.yaml)")
    k8s.add_argument("--name", help="cluster name (default: the manifest's)")
    k8s.add_argument("--workers", type=int, default=None, help="worker pods (default: the manifest's replicas)")
    k8s.add_argument("--namespace", default=None, help="namespace for --apply (default: the current one)")
    k8s.add_argument("--out", metavar="FILE", help="write the manifest here instead of stdout")
    k8s.add_argument("--apply", action="store_true",
                     help="create the cluster now through dask-kubernetes instead of printing the manifest")
    k8s.set_defaults(func=cmd_cluster_k8s)

    cluster.set_defaults(func=lambda args, config: _usage(cluster), config=None, overrides=[])


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _check_duration(args: argparse.Namespace) -> None:
    if args.duration is not None and args.duration < 0:
        raise ValueError(f"--for must be >= 0 seconds; got {args.duration}")


def _announce(address: str, dashboard: str | None, args: argparse.Namespace, detail: str) -> None:
    print(f"scheduler {address}")
    print(f"dashboard {dashboard or '(none)'}")
    print(detail)
    print(f"use it:    sedflow simulate --n 20000 --out training --scheduler {address}")
    if args.address_file:
        path = Path(args.address_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(address + "\n")
        tmp.replace(path)
        print(f"address written to {path}")
    sys.stdout.flush()


def _wait(duration: float | None) -> None:
    """Block for ``duration`` seconds (None: until Ctrl-C or SIGTERM)."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if duration is None:
            print("running; Ctrl-C stops the cluster", file=sys.stderr, flush=True)
        else:
            print(f"running for {duration:g} s", file=sys.stderr, flush=True)
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except KeyboardInterrupt:
        print("stopping the cluster", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_cluster_local(args: argparse.Namespace, config) -> int:
    from distributed import LocalCluster

    _check_duration(args)
    c = config.cluster
    workers = c.n_workers if args.workers is None else args.workers
    threads = c.threads_per_worker if args.threads is None else args.threads
    if (workers is not None and workers < 1) or threads < 1:
        raise ValueError("--workers and --threads must be >= 1")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: expected 0..65535")
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                               memory_limit=c.memory_limit, dashboard_address=c.dashboard_address,
                               host=args.host, scheduler_port=args.port)
    except OSError as exc:
        raise ValueError(f"cannot start the scheduler on port {args.port} ({exc}); --port 0 picks a free one") from None
    try:
        n = len(cluster.scheduler_info["workers"])
        _announce(cluster.scheduler_address, cluster.dashboard_link, args,
                  f"workers   {n} processes x {threads} threads (LocalCluster)")
        _wait(args.duration)
    finally:
        cluster.close()
    return 0


def cmd_cluster_slurm(args: argparse.Namespace, config) -> int:
    from .presets import load_slurm_preset, slurm_cluster

    _check_duration(args)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got {args.jobs}")
    preset = load_slurm_preset(args.preset, jobs=args.jobs)
    dry = args.dry_run
    if not dry and shutil.which("sbatch") is None:
        print("sedflow cluster slurm: sbatch is not on PATH (not a SLURM login node?): DRY RUN — printing the job "
              "script, submitting nothing", file=sys.stderr, flush=True)
        dry = True
    # a dry run's throwaway scheduler takes any free dashboard port
    cluster = slurm_cluster(preset, dashboard_address=":0" if dry else None)
    try:
        shape = (f"{preset.jobs} jobs x {preset.processes} workers x {preset.threads_per_worker} threads "
                 f"({preset.cores} cores, {preset.memory}, walltime {preset.walltime}, worker lifetime "
                 f"{preset.lifetime} +/- {preset.lifetime_stagger})")
        print(f"# job script (one per SLURM job; {shape}):")
        print(cluster.job_script())
        sys.stdout.flush()
        if dry:
            print(f"dry run: would submit {shape}", file=sys.stderr)
            return 0
        cluster.adapt(minimum_jobs=preset.jobs, maximum_jobs=preset.jobs)
        _announce(cluster.scheduler_address, cluster.dashboard_link, args, f"workers   {shape}, submitted")
        _wait(args.duration)
    finally:
        cluster.close()
    return 0


def cmd_cluster_k8s(args: argparse.Namespace, config) -> int:
    import yaml

    from .presets import customize_k8s_manifest, k8s_manifest

    _check_duration(args)
    manifest = customize_k8s_manifest(k8s_manifest(args.manifest), name=args.name, workers=args.workers)
    name = manifest["metadata"]["name"]
    if args.apply:
        try:
            from dask_kubernetes.operator import KubeCluster
        except ImportError:
            raise ValueError("--apply needs dask-kubernetes (pip install 'sedflow_dask[k8s]'); or apply the "
                             "manifest yourself: sedflow cluster k8s --out cluster.yaml && kubectl apply -f "
                             "cluster.yaml") from None
        cluster = KubeCluster(custom_cluster_spec=manifest, namespace=args.namespace)
        try:
            _announce(cluster.scheduler_address, cluster.dashboard_link, args,
                      f"workers   {manifest['spec']['worker']['replicas']} pods (DaskCluster {name})")
            _wait(args.duration)
        finally:
            cluster.close()
        return 0
    text = ("# sedflow DaskCluster (kubernetes.dask.org/v1), checked by `sedflow cluster k8s`\n"
            + yaml.safe_dump(manifest, sort_keys=False))
    target = args.out or "cluster.yaml"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    ns = f" -n {args.namespace}" if args.namespace else ""
    print(f"next (needs the Dask operator in the cluster, see deploy/README.md):\n"
          f"  kubectl apply{ns} -f {target}\n"
          f"  kubectl{ns} port-forward svc/{name}-scheduler 8786:8786 8787:8787\n"
          f"  sedflow infer CATALOG --scheduler tcp://localhost:8786    # dashboard http://localhost:8787/status",
          file=sys.stderr)
    return 0
