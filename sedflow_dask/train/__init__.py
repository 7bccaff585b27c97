"""Training the posterior estimator: data, the loop (checkpoints, budget, early stopping), the run."""

from .._lazy import lazy_exports

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "TrainingData": ".data",
    "load_training_data": ".data",
    "TrainingState": ".loop",
    "train_flow": ".loop",
    "train_posterior": ".run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
