"""The cluster presets in the repository's ``deploy/`` folder: load, check, render.

* ``deploy/slurm.yaml`` — a dask-jobqueue ``SLURMCluster`` preset: the job's cores, worker
  processes, memory and walltime, and the workers' ``--lifetime`` / ``--lifetime-stagger``
  (shorter than the walltime, so each worker retires gracefully — its results handed to its
  peers — before SLURM kills the job, and the workers do not all retire at once).
* ``deploy/k8s/daskcluster.yaml`` — a Dask-operator ``DaskCluster`` resource
  (``kubernetes.dask.org/v1``) whose image is ``ghcr.io/sedflow-dask/sedflow_dask:<version>``,
  built from ``deploy/Dockerfile``; its tag must equal ``sedflow_dask.__version__``.

Nothing here submits or applies anything: :func:`slurm_cluster` builds the ``SLURMCluster``
object (jobs are submitted only when it is scaled) and :func:`k8s_manifest` returns a dict.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dask.utils import parse_bytes, parse_timedelta

from .. import __version__

#: The repository's deploy/ folder (there in a source checkout and an editable install).
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
SLURM_PRESET = DEPLOY_DIR / "slurm.yaml"
K8S_MANIFEST = DEPLOY_DIR / "k8s" / "daskcluster.yaml"
#: The Secret (ca.pem, cert.pem, key.pem) the manifest's pods mount for TLS, and its volume's name.
K8S_TLS_SECRET = "sedflow-tls"
K8S_TLS_VOLUME = "tls"
#: Where deploy/Dockerfile's image is published; the tag is the package version.
IMAGE_REPOSITORY = "ghcr.io/sedflow-dask/sedflow_dask"


def image_reference(version: str = __version__) -> str:
    """The container image of this release: ``ghcr.io/sedflow-dask/sedflow_dask:<version>``."""
    return f"{IMAGE_REPOSITORY}:{version}"


def _preset_file(path: str | Path | None, default: Path, what: str, option: str) -> Path:
    p = Path(path) if path is not None else default
    if p.is_file():
        return p
    if path is None:
        raise FileNotFoundError(f"the default {what} {p} is not there (the presets live in the repository's deploy/ "
                                f"folder, which an installed wheel does not carry): give one with {option} FILE")
    raise FileNotFoundError(f"{what} {p} not found")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None


# --------------------------------------------------------------------------------------- SLURM

_WALLTIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<rest>\d+(?::\d+){0,2})$")


def parse_walltime(text: str) -> int:
    """Seconds in a SLURM time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS."""
    m = _WALLTIME.match(str(text).strip())
    if m is None:
        raise ValueError(f"walltime {text!r}: expected a SLURM time limit such as '04:00:00' or '1-12:00:00'")
    parts = [int(v) for v in m["rest"].split(":")]
    if m["days"] is not None:
        days = int(m["days"])
        hours, minutes, seconds = (parts + [0, 0])[:3]
    else:
        days = 0
        hours, minutes, seconds = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ValueError(f"walltime {text!r} must be positive")
    return total


def _duration(value: Any, name: str) -> float:
    if not isinstance(value, str):
        raise ValueError(f"{name} = {value!r}: give a duration string such as '210m' or '3h'")
    try:
        return float(parse_timedelta(value))
    except (ValueError, KeyError):
        raise ValueError(f"{name} = {value!r}: not a duration dask understands (one number and unit: "
                         f"'210m', '3h', '600s'; no compound '3h30m')") from None


@dataclass(frozen=True)
class SlurmPreset:
    """A dask-jobqueue ``SLURMCluster`` configuration (one SLURM job = ``processes`` workers).

    Attributes:
        cores: CPUs per job (``--cpus-per-task``); each worker gets ``cores // processes`` threads.
        memory: memory per job (``--mem``), split evenly between its workers.
        walltime: the job's time limit (``-t``), e.g. ``"04:00:00"``.
        lifetime: each worker retires gracefully after this long (``dask worker --lifetime``).
        lifetime_stagger: ± random spread of the lifetime (``--lifetime-stagger``);
            ``lifetime + lifetime_stagger`` must be shorter than the walltime.
        processes: worker processes per job.
        jobs: jobs ``sedflow cluster slurm`` keeps running (adaptive, replacing retired ones).
        queue, account: SLURM partition (``-p``) and account (``-A``).
        local_directory: workers' scratch space (spilled data), e.g. ``"${TMPDIR:-/tmp}"``.
        log_directory: where SLURM writes the jobs' stdout/stderr (created when the cluster is
            built); None: SLURM's default, the submission directory.
        interface: network interface for scheduler and workers (``ib0``, ``eth0``).
        python: the workers' Python (default: the one running ``sedflow``).
        job_name: SLURM job name (``-J``).
        job_extra_directives: further ``#SBATCH`` lines (without ``#SBATCH``).
        job_script_prologue: shell lines run before the worker starts (``module load ...``).
        worker_extra_args: further ``dask worker`` options (lifetime ones come from the fields).
        dashboard_address: the scheduler's dashboard (``:8787``).
    """

    cores: int
    memory: str
    walltime: str
    lifetime: str
    lifetime_stagger: str
    processes: int = 1
    jobs: int = 1
    queue: str | None = None
    account: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None
    python: str | None = None
    job_name: str = "sedflow-worker"
    job_extra_directives: tuple[str, ...] = ()
    job_script_prologue: tuple[str, ...] = ()
    worker_extra_args: tuple[str, ...] = ()
    dashboard_address: str = ":8787"

    def __post_init__(self) -> None:
        for name in ("cores", "processes", "jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"slurm preset: {name} = {value!r} must be an integer >= 1")
        if self.cores % self.processes:
            raise ValueError(f"slurm preset: cores ({self.cores}) must be a multiple of processes ({self.processes})")
        try:
            if parse_bytes(str(self.memory)) <= 0:
                raise ValueError
        except (ValueError, TypeError):
            raise ValueError(f"slurm preset: memory = {self.memory!r}: expected a size such as '120GB'") from None
        if isinstance(self.walltime, int):
            raise ValueError(f"slurm preset: walltime read as the number {self.walltime}: quote it, e.g. "
                             f"'12:00:00' (YAML reads unquoted 12:00:00 as a base-60 number)")
        walltime = parse_walltime(self.walltime)
        lifetime = _duration(self.lifetime, "slurm preset: lifetime")
        stagger = _duration(self.lifetime_stagger, "slurm preset: lifetime_stagger")
        if lifetime <= 0 or stagger < 0 or stagger >= lifetime:
            raise ValueError(f"slurm preset: need 0 <= lifetime_stagger < lifetime; got {self.lifetime_stagger!r}, "
                             f"{self.lifetime!r}")
        if lifetime + stagger >= walltime:
            raise ValueError(
                f"slurm preset: lifetime + lifetime_stagger ({self.lifetime} + {self.lifetime_stagger} = "
                f"{(lifetime + stagger) / 60:g} min) must be shorter than the walltime {self.walltime} "
                f"({walltime / 60:g} min), or SLURM kills workers mid-task; leave a few minutes for the "
                f"graceful retirement")
        for name in ("job_extra_directives", "job_script_prologue", "worker_extra_args"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"slurm preset: {name} must be a list of strings; got {value!r}")
            object.__setattr__(self, name, tuple(value))
        clash = [a for a in self.worker_extra_args if a.split("=")[0].startswith("--lifetime")]
        if clash:
            raise ValueError(f"slurm preset: worker_extra_args {clash}: set lifetime and lifetime_stagger instead "
                             f"(and no --lifetime-restart: a worker restarted inside its job would meet the walltime)")

    @property
    def threads_per_worker(self) -> int:
        return self.cores // self.processes

    @property
    def walltime_s(self) -> int:
        return parse_walltime(self.walltime)

    @property
    def lifetime_s(self) -> float:
        return float(parse_timedelta(self.lifetime))

    @property
    def lifetime_stagger_s(self) -> float:
        return float(parse_timedelta(self.lifetime_stagger))

    @classmethod
    def from_dict(cls, data: Any, source: str = "slurm preset") -> SlurmPreset:
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping of SLURMCluster options, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; known: {sorted(known)}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in data)
        if missing:
            raise ValueError(f"{source}: missing keys {missing}")
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        for k in ("job_extra_directives", "job_script_prologue", "worker_extra_args"):
            if kwargs.get(k) is None:
                kwargs.pop(k, None)
        try:
            return cls(**kwargs)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def cluster_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``dask_jobqueue.SLURMCluster`` (dask-jobqueue >= 0.8 names)."""
        kwargs: dict[str, Any] = {
            "cores": self.cores,
            "processes": self.processes,
            "memory": self.memory,
            "walltime": self.walltime,
            "job_name": self.job_name,
            "worker_extra_args": ["--lifetime", self.lifetime, "--lifetime-stagger", self.lifetime_stagger,
                                  *self.worker_extra_args],
            "job_extra_directives": list(self.job_extra_directives),
            "job_script_prologue": list(self.job_script_prologue),
            "scheduler_options": {"dashboard_address": self.dashboard_address},
        }
        for name in ("queue", "account", "local_directory", "log_directory", "interface", "python"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs


def load_slurm_preset(path: str | Path | None = None, **overrides: Any) -> SlurmPreset:
    """The SLURM preset at ``path`` (default ``deploy/slurm.yaml``), checked; ``overrides`` replace keys."""
    p = _preset_file(path, SLURM_PRESET, "SLURM preset", "--preset")
    data = _read_yaml(p)
    if isinstance(data, dict):
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return SlurmPreset.from_dict(data, source=str(p))


def slurm_cluster(preset: SlurmPreset | None = None, *, dashboard_address: str | None = None,
                  tls_dir: str | Path | None = None, insecure: bool = False, **kwargs: Any):
    """A ``dask_jobqueue.SLURMCluster`` from ``preset``: starts its scheduler here, submits nothing.

    The scheduler listens on the network the compute nodes reach, so it uses TLS: the certificate
    directory ``tls_dir`` (default ``$SEDFLOW_TLS_DIR``, else ``~/.sedflow/tls``, created when
    missing; it must be on a file system the compute nodes see) is named in the job script, and
    the scheduler's and workers' dashboards are served over HTTPS with the same certificate.
    ``insecure=True`` drops TLS (loudly warned). Jobs are submitted by ``cluster.scale(jobs=N)``
    or ``cluster.adapt(minimum_jobs=...)``; ``cluster.job_script()`` shows what each job runs.
    ``kwargs`` go to ``SLURMCluster``.
    """
    import dask

    from .tls import dashboard_tls_config, ensure_tls_dir, tls_security, warn_insecure, worker_dashboard_env

    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ValueError("the SLURM preset needs dask-jobqueue: pip install 'sedflow_dask[slurm]' "
                         "(with -c constraints.txt for the tested version)") from None
    preset = preset or load_slurm_preset()
    options = preset.cluster_kwargs()
    if dashboard_address is not None:
        options["scheduler_options"] = {**options["scheduler_options"], "dashboard_address": dashboard_address}
    https: dict[str, str] = {}
    if insecure:
        warn_insecure("the SLURM cluster's scheduler")
    else:
        directory = ensure_tls_dir(tls_dir)
        # dask-jobqueue turns the Security's file paths into the workers' --tls-* options
        options["security"] = tls_security(directory)
        options["job_script_prologue"] = [*worker_dashboard_env(directory), *options["job_script_prologue"]]
        https = dashboard_tls_config(directory)
    options.update(kwargs)
    # the scheduler starts (and reads its dashboard's TLS settings) inside the constructor
    with dask.config.set(https):
        return SLURMCluster(**options)


# ---------------------------------------------------------------------------------- Kubernetes

def _containers(manifest: dict, role: str, source: str) -> list[dict]:
    try:
        containers = manifest["spec"][role]["spec"]["containers"]
    except (KeyError, TypeError):
        raise ValueError(f"{source}: no spec.{role}.spec.containers (a DaskCluster needs scheduler and worker "
                         f"pod specs)") from None
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise ValueError(f"{source}: spec.{role}.spec.containers must be a non-empty list of containers")
    return containers


def k8s_manifest(path: str | Path | None = None, *, version: str = __version__) -> dict[str, Any]:
    """The ``DaskCluster`` manifest at ``path`` (default ``deploy/k8s/daskcluster.yaml``), checked.

    Checks the resource kind, the scheduler and worker pod specs and the scheduler service, and
    that every container runs this release's image (tag == ``version``, the package version).
    """
    p = _preset_file(path, K8S_MANIFEST, "Kubernetes manifest", "--manifest")
    manifest = _read_yaml(p)
    source = str(p)
    if not isinstance(manifest, dict):
        raise ValueError(f"{source}: expected one YAML mapping (a DaskCluster resource)")
    if manifest.get("apiVersion") != "kubernetes.dask.org/v1" or manifest.get("kind") != "DaskCluster":
        raise ValueError(f"{source}: expected apiVersion kubernetes.dask.org/v1, kind DaskCluster; got "
                         f"{manifest.get('apiVersion')!r}, {manifest.get('kind')!r}")
    name = (manifest.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{source}: metadata.name is missing")
    label = ((manifest.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/version")
    if label is not None and str(label) != version:
        raise ValueError(f"{source}: label app.kubernetes.io/version {label!r} is not the package version {version}")
    if not isinstance(manifest.get("spec"), dict):
        raise ValueError(f"{source}: spec is missing")
    replicas = (manifest["spec"].get("worker") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ValueError(f"{source}: spec.worker.replicas must be an integer >= 0; got {replicas!r}")
    if not isinstance(manifest["spec"].get("scheduler", {}).get("service"), dict):
        raise ValueError(f"{source}: spec.scheduler.service is missing (the operator exposes the scheduler by it)")
    for role in ("scheduler", "worker"):
        for c in _containers(manifest, role, source):
            image = c.get("image")
            if not isinstance(image, str):
                raise ValueError(f"{source}: {role} container {c.get('name')!r} has no image")
            repo, _, tag = image.rpartition(":")
            if not repo or "/" in tag or tag != version:
                raise ValueError(f"{source}: {role} container {c.get('name')!r} runs {image}, not this release's "
                                 f"image (tag {version}, e.g. {image_reference(version)}): build and push "
                                 f"deploy/Dockerfile for {version} and update the manifest")
            args = c.get("args", [])
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ValueError(f"{source}: {role} container args must be a list of strings (quote numbers)")
    return manifest


def _pods(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [manifest["spec"][role]["spec"] for role in ("scheduler", "worker")]


def k8s_uses_tls(manifest: dict[str, Any]) -> bool:
    """Whether every scheduler and worker container of a ``DaskCluster`` speaks TLS with a CA, certificate and key."""
    for pod in _pods(manifest):
        for c in pod["containers"]:
            args = c.get("args", [])
            flags = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
            if flags.get("--protocol") not in ("tls", "tls://") or not all(
                    flags.get(f) for f in ("--tls-ca-file", "--tls-cert", "--tls-key")):
                return False
    return True


def _without_tls(manifest: dict[str, Any]) -> None:
    """Strip TLS from a ``DaskCluster`` in place: flags, tls:// addresses, HTTPS settings, the Secret's volume."""
    for pod in _pods(manifest):
        for c in pod["containers"]:
            args, kept = c.get("args", []), []
            i = 0
            while i < len(args):
                if args[i] == "--protocol" or args[i].startswith("--tls-"):
                    i += 2
                    continue
                kept.append("tcp://" + args[i][len("tls://"):] if args[i].startswith("tls://") else args[i])
                i += 1
            c["args"] = kept
            c["env"] = [e for e in c.get("env", []) if "DASHBOARD__TLS" not in e.get("name", "")]
            c["volumeMounts"] = [m for m in c.get("volumeMounts", []) if m.get("name") != K8S_TLS_VOLUME]
            for key in ("env", "volumeMounts"):
                if not c[key]:
                    del c[key]
            for probe in ("readinessProbe", "livenessProbe"):
                c.get(probe, {}).get("httpGet", {}).pop("scheme", None)
        pod["volumes"] = [v for v in pod.get("volumes", []) if v.get("name") != K8S_TLS_VOLUME]
        if not pod["volumes"]:
            del pod["volumes"]


def customize_k8s_manifest(manifest: dict[str, Any], *, name: str | None = None,
                           workers: int | None = None, insecure: bool = False) -> dict[str, Any]:
    """A copy of ``manifest`` with another cluster name (scheduler service selector and the workers'
    scheduler address follow), another worker count, or (``insecure``) without TLS."""
    out = copy.deepcopy(manifest)
    if name is not None:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 50:
            raise ValueError(f"--name {name!r}: a Kubernetes name is lower-case letters, digits and '-' (<= 50)")
        old = out["metadata"]["name"]
        out["metadata"]["name"] = name
        selector = out["spec"]["scheduler"]["service"].get("selector") or {}
        if selector.get("dask.org/cluster-name") == old:
            selector["dask.org/cluster-name"] = name
        for c in out["spec"]["worker"]["spec"]["containers"]:
            c["args"] = [re.sub(rf"^(tls|tcp)://{re.escape(old)}-scheduler:", rf"\1://{name}-scheduler:", a)
                         for a in c.get("args", [])]
    if insecure:
        _without_tls(out)
    if workers is not None:
        if workers < 0:
            raise ValueError(f"--workers must be >= 0; got {workers}")
        out["spec"]["worker"]["replicas"] = workers
    return out
