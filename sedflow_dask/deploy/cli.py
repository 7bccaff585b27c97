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
from collections.abc import Iterator
from contextlib import contextmanager
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
        p.add_argument("--tls-dir", metavar="DIR", default=None,
                       help="private (0700) directory of the cluster's TLS certificate and key, created when missing "
                            "(default: cluster.tls_dir, else $SEDFLOW_TLS_DIR, else ~/.sedflow/tls); clients and "
                            "workers read it")
        p.add_argument("--insecure", action="store_true",
                       help="listen WITHOUT TLS: anyone who reaches the port can run code as you (loudly warned)")

    local = kinds.add_parser("local", help="a LocalCluster of worker processes on this machine",
                             description="A LocalCluster of worker processes (cluster.* in the config: n_workers, "
                                         "threads_per_worker, memory_limit, dashboard_address).")
    common(local)
    local.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: cluster.n_workers, else one per core)")
    local.add_argument("--threads", type=int, default=None,
                       help="threads per worker (default: cluster.threads_per_worker)")
    local.add_argument("--host", default=None,
                       help="interface the scheduler listens on (default: localhost; 0.0.0.0 for other machines, "
                            "which turns TLS on)")
    local.add_argument("--tls", action="store_true",
                       help="TLS on loopback too (other users of this machine can reach localhost ports)")
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


def _tls_dir(args: argparse.Namespace, config) -> Path | None:
    """The certificate directory when the cluster uses TLS (created, checked), else None (warned)."""
    from .tls import ensure_tls_dir

    if args.insecure:
        return None
    return ensure_tls_dir(args.tls_dir or config.cluster.tls_dir)


@contextmanager
def _https_dashboards(tls_dir: Path | None) -> Iterator[None]:
    """Serve the dashboards over HTTPS with the cluster's certificate while the cluster starts and runs.

    The scheduler and the nannies read Dask's configuration when they start (and a nanny hands
    it to each worker process it starts, restarts included), so it stays set for the whole run.
    """
    if tls_dir is None:
        yield
        return
    import dask

    from .tls import dashboard_tls_config

    with dask.config.set(dashboard_tls_config(tls_dir)):
        yield


def _tls_option(tls_dir: Path | None) -> str:
    """The ``--tls-dir`` a client needs for ``tls_dir`` (none for the default directory)."""
    from .tls import default_tls_dir

    return "" if tls_dir is None or tls_dir == default_tls_dir().absolute() else f" --tls-dir {tls_dir}"


def _announce(address: str, dashboard: str | None, args: argparse.Namespace, detail: str,
              tls_dir: Path | None = None) -> None:
    print(f"scheduler {address}")
    print(f"dashboard {dashboard or '(none)'}")
    print(detail)
    if tls_dir is not None:
        print(f"tls       certificates in {tls_dir} (clients and workers need to read it)")
    print(f"use it:    sedflow simulate --n 20000 --out training --scheduler {address}{_tls_option(tls_dir)}")
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
    if args.tls and args.insecure:
        raise ValueError("--tls and --insecure contradict each other")
    from ..cluster import loopback_dashboard
    from .tls import is_loopback, tls_security, warn_insecure

    # Loopback stays plain unless asked (--tls): the default single-user workflow keeps tcp://127.0.0.1.
    tls_dir = _tls_dir(args, config) if args.tls or not (is_loopback(args.host) or args.insecure) else None
    if args.insecure and not is_loopback(args.host):
        warn_insecure(f"sedflow cluster local --host {args.host}")
    tls = {} if tls_dir is None else {"security": tls_security(tls_dir), "protocol": "tls://"}
    # a plain-HTTP dashboard stays on loopback with its scheduler
    dashboard = loopback_dashboard(c.dashboard_address) if tls_dir is None and is_loopback(args.host) \
        else c.dashboard_address
    with _https_dashboards(tls_dir):
        try:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                   memory_limit=c.memory_limit, dashboard_address=dashboard,
                                   host=args.host, scheduler_port=args.port, **tls)
        except OSError as exc:
            raise ValueError(f"cannot start the scheduler on port {args.port} ({exc}); --port 0 picks a free "
                             f"one") from None
        try:
            n = len(cluster.scheduler_info["workers"])
            _announce(cluster.scheduler_address, cluster.dashboard_link, args,
                      f"workers   {n} processes x {threads} threads (LocalCluster)", tls_dir)
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
    tls_dir = _tls_dir(args, config)
    # a dry run's throwaway scheduler takes any free dashboard port
    cluster = slurm_cluster(preset, dashboard_address=":0" if dry else None, tls_dir=tls_dir, insecure=args.insecure)
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
        _announce(cluster.scheduler_address, cluster.dashboard_link, args, f"workers   {shape}, submitted", tls_dir)
        _wait(args.duration)
    finally:
        cluster.close()
    return 0


def cmd_cluster_k8s(args: argparse.Namespace, config) -> int:
    import yaml

    from .presets import K8S_TLS_SECRET, customize_k8s_manifest, k8s_manifest, k8s_uses_tls
    from .tls import CA_FILE, CERT_FILE, KEY_FILE, warn_insecure

    _check_duration(args)
    manifest = k8s_manifest(args.manifest)
    if not args.insecure and not k8s_uses_tls(manifest):
        raise ValueError(f"{args.manifest or 'the manifest'}: its scheduler or workers run without TLS (--protocol tls "
                         f"and --tls-ca-file/--tls-cert/--tls-key, as deploy/k8s/daskcluster.yaml has); "
                         f"--insecure accepts that")
    manifest = customize_k8s_manifest(manifest, name=args.name, workers=args.workers, insecure=args.insecure)
    name = manifest["metadata"]["name"]
    if args.insecure:
        warn_insecure(f"the DaskCluster {name}'s scheduler")
    if args.apply:
        if not args.insecure:
            raise ValueError("--apply connects through dask-kubernetes' KubeCluster, which does not hold the cluster's "
                             "certificates: apply the TLS manifest with kubectl (sedflow cluster k8s --out FILE "
                             "prints the steps), or --apply --insecure on a network nobody else reaches")
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
    steps = ["next (needs the Dask operator in the cluster, see deploy/README.md):"]
    scheme, tls_option = "tcp", ""
    if not args.insecure:
        tls_dir = _tls_dir(args, config)
        if tls_dir is None:  # _tls_dir returns a folder unless TLS is off, which this branch excludes
            raise RuntimeError("internal error: TLS is on but no certificate folder was chosen")
        files = " ".join(f"--from-file={f}={tls_dir / f}" for f in (CA_FILE, CERT_FILE, KEY_FILE))
        steps.append(f"  kubectl{ns} create secret generic {K8S_TLS_SECRET} {files}    # once per namespace")
        scheme, tls_option = "tls", _tls_option(tls_dir)
    steps += [f"  kubectl apply{ns} -f {target}",
              f"  kubectl{ns} port-forward svc/{name}-scheduler 8786:8786 8787:8787",
              f"  sedflow infer CATALOG --scheduler {scheme}://localhost:8786{tls_option}    # dashboard "
              f"{'https' if scheme == 'tls' else 'http'}://localhost:8787/status"]
    print("\n".join(steps), file=sys.stderr)
    return 0
