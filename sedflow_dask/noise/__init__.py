"""The empirical photometric noise model (SEDflow §3.2): artifact, fitting, default."""

from .._lazy import lazy_exports

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "fit_noise_model": ".fit",
    "DROP_RULES": ".model",
    "BandNoise": ".model",
    "NoiseModel": ".model",
    "NoisyPhotometry": ".model",
    "load_noise_model": ".model",
    "noise_model_path": ".model",
    "NAMED_NOISE_MODELS": ".model",
    "sdss_depth_noise_model": ".sdss",
    "sdss_real_noise_model": ".real",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
