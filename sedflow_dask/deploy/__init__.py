"""Deployment: the SLURM (dask-jobqueue) and Kubernetes (Dask operator) presets in ``deploy/``.

``sedflow cluster {local,slurm,k8s}`` starts a cluster from them; every Dask-using command then
runs against it with ``--scheduler ADDRESS``. The names below come from
:mod:`sedflow_dask.deploy.presets`, imported on first use (the CLI stays quick to start).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "IMAGE_REPOSITORY",
    "K8S_MANIFEST",
    "K8S_TLS_SECRET",
    "SLURM_PRESET",
    "SlurmPreset",
    "customize_k8s_manifest",
    "image_reference",
    "k8s_manifest",
    "k8s_uses_tls",
    "load_slurm_preset",
    "parse_walltime",
    "slurm_cluster",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
