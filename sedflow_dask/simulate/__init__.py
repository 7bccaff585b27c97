"""Training-set simulation: prior draws → PROVABGS photometry → noise → Parquet, on Dask."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .core import SimulatedChunk, chunk_rng, simulate_photometry
    from .io import read_training_set, training_colour_quantiles, training_set_metadata
    from .run import simulate_training_set

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "SimulatedChunk": ".core",
    "chunk_rng": ".core",
    "simulate_photometry": ".core",
    "read_training_set": ".io",
    "training_colour_quantiles": ".io",
    "training_set_metadata": ".io",
    "simulate_training_set": ".run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
