"""Training the posterior estimator: data, the loop (checkpoints, budget, early stopping), the run."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .data import TrainingData, load_training_data
    from .loop import TrainingState, train_flow
    from .run import train_posterior

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
