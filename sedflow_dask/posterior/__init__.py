"""The amortized posterior q(θ | x): flows (sbi), the artifact, batched bounded sampling, importance weights."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .artifact import DEFAULT_MODEL_DIR, X_NAMES, PosteriorModel, load_posterior_model
    from .flows import architecture_of, base_to_theta, build_flow
    from .importance import (
        KHAT_LIMIT,
        ImportanceWeights,
        importance_weights,
        log_importance_weights,
        systematic_resample,
        weigh_draws,
    )
    from .inputs import INPUT_NAMES, flow_inputs
    from .sampling import PosteriorSamples, galaxy_seeds, galaxy_stream, sample_posteriors

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "DEFAULT_MODEL_DIR": ".artifact",
    "X_NAMES": ".artifact",
    "PosteriorModel": ".artifact",
    "load_posterior_model": ".artifact",
    "architecture_of": ".flows",
    "base_to_theta": ".flows",
    "build_flow": ".flows",
    "INPUT_NAMES": ".inputs",
    "flow_inputs": ".inputs",
    "KHAT_LIMIT": ".importance",
    "ImportanceWeights": ".importance",
    "importance_weights": ".importance",
    "log_importance_weights": ".importance",
    "systematic_resample": ".importance",
    "weigh_draws": ".importance",
    "PosteriorSamples": ".sampling",
    "galaxy_seeds": ".sampling",
    "galaxy_stream": ".sampling",
    "sample_posteriors": ".sampling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
