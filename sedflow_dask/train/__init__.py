"""Training the posterior estimator: data, the loop (checkpoints, budget, early stopping), the run."""

from .data import TrainingData, load_training_data
from .loop import TrainingState, train_flow
from .run import train_posterior

__all__ = ["TrainingData", "TrainingState", "load_training_data", "train_flow", "train_posterior"]
