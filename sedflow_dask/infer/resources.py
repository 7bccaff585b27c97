"""What every inference task needs, loaded once per worker process: the posterior and forward models.

:class:`InferenceResources` is a Dask worker plugin carrying the model artifact's *bytes* (about
a MB), so workers need no shared filesystem for it; on each worker it writes them to the
worker's local directory, loads and verifies them (:func:`load_posterior_model` checks the
weights' sha256), builds the forward model with the options the model was trained with, and
keeps them for every task that runs there. Tasks get it with :func:`worker_resources`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any, cast

from distributed import WorkerPlugin

from ..config import SPSConfig
from ..posterior import DEFAULT_MODEL_DIR, PosteriorModel, load_posterior_model
from ..posterior.artifact import MODEL_JSON, WEIGHTS

PLUGIN_NAME = "sedflow-infer-resources"
#: Model loads per process (pid -> count): the test that the model is not shipped per task reads it.
_LOADS: dict[int, int] = {}
_LOCK = threading.Lock()


def load_count() -> tuple[int, int]:
    """(pid, number of model loads in this process)."""
    return os.getpid(), _LOADS.get(os.getpid(), 0)


def forward_model_for(posterior: PosteriorModel):
    """The forward model with the SPS options and SSP table the posterior was trained on.

    Raises ValueError when the shipped SSP table is not the one the model records.
    """
    from ..sps import PROVABGSModel

    sps = SPSConfig.from_dict(posterior.meta["sps"]) if "sps" in posterior.meta else SPSConfig()
    model = PROVABGSModel(config=sps)
    want = posterior.meta.get("ssp_sha256")
    if want and model.table.sha256 != want:
        raise ValueError(f"the posterior model was trained with SSP table {want[:12]}…, but this package's table "
                         f"is {model.table.sha256[:12]}…: derived properties and χ² would use another model")
    return model


class InferenceResources(WorkerPlugin):
    """Posterior model + forward models, shipped to each worker once and reused by every task.

    Args:
        model_dir: a posterior model artifact directory (None: the shipped default).
    """

    name = PLUGIN_NAME

    def __init__(self, model_dir: str | Path | None = None) -> None:
        directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.source = str(directory)
        self.files = {name: (directory / name).read_bytes() for name in (MODEL_JSON, WEIGHTS)}
        self._loaded: dict[str, Any] | None = None
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "files": self.files}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._loaded = None
        self._lock = threading.RLock()

    def setup(self, worker) -> None:
        self.load(worker.local_directory)

    def load(self, scratch: str | Path | None = None) -> dict[str, Any]:
        """Load the artifact from its bytes (written to a temporary directory under ``scratch``,
        removed once loaded: the models are then held in memory); the loaded models by name."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            with tempfile.TemporaryDirectory(prefix="sedflow-model-", dir=scratch) as tmp:
                for name, data in self.files.items():
                    (Path(tmp) / name).write_bytes(data)
                posterior = load_posterior_model(tmp)
            self._loaded = loaded = {"posterior": posterior, "sps": forward_model_for(posterior), "fallback": None}
            with _LOCK:
                _LOADS[os.getpid()] = _LOADS.get(os.getpid(), 0) + 1
            return loaded

    @property
    def posterior(self) -> PosteriorModel:
        return self.load()["posterior"]

    @property
    def sps(self):
        """The forward model (float32) for derived properties and χ²."""
        return self.load()["sps"]

    @property
    def fallback(self):
        """The float64 forward model of the MCMC fallback (built on first use)."""
        from ..fallback import fallback_model

        loaded = self.load()
        with self._lock:
            if loaded["fallback"] is None:
                loaded["fallback"] = fallback_model(self.sps.config)
            return loaded["fallback"]


def worker_resources() -> InferenceResources:
    """The resources of the worker running the current task (the plugin must be registered)."""
    from distributed import get_worker

    try:
        return cast(InferenceResources, get_worker().plugins[PLUGIN_NAME])
    except KeyError:
        raise RuntimeError("the sedflow inference plugin is not registered on this worker") from None
