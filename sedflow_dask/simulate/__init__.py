"""Training-set simulation: prior draws → PROVABGS photometry → noise → Parquet, on Dask."""

from .core import SimulatedChunk, chunk_rng, simulate_photometry
from .io import read_training_set, training_colour_quantiles, training_set_metadata
from .run import simulate_training_set

__all__ = [
    "SimulatedChunk", "chunk_rng", "read_training_set", "simulate_photometry", "simulate_training_set",
    "training_colour_quantiles", "training_set_metadata",
]
