"""The amortized posterior q(θ | x): flows (sbi), the artifact, batched bounded sampling, importance weights."""

from .._lazy import lazy_exports

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "DEFAULT_MODEL_DIR": ".artifact",
    "X_NAMES": ".artifact",
    "PosteriorModel": ".artifact",
    "load_posterior_model": ".artifact",
    "architecture_of": ".flows",
    "base_to_theta": ".flows",
    "build_flow": ".flows",
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
