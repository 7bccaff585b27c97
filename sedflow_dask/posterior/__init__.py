"""The amortized posterior q(θ | x): flows (sbi), the artifact, batched bounded sampling."""

from .artifact import DEFAULT_MODEL_DIR, X_NAMES, PosteriorModel, load_posterior_model
from .flows import architecture_of, base_to_theta, build_flow
from .sampling import PosteriorSamples, galaxy_seeds, galaxy_stream, sample_posteriors

__all__ = [
    "DEFAULT_MODEL_DIR", "PosteriorModel", "PosteriorSamples", "X_NAMES", "architecture_of", "base_to_theta",
    "build_flow", "galaxy_seeds", "galaxy_stream", "load_posterior_model", "sample_posteriors",
]
