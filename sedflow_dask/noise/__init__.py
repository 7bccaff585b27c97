"""The empirical photometric noise model (SEDflow §3.2): artifact, fitting, default."""

from .fit import fit_noise_model
from .model import DROP_RULES, BandNoise, NoiseModel, NoisyPhotometry, default_noise_model_path, load_noise_model
from .sdss import sdss_depth_noise_model

__all__ = [
    "DROP_RULES", "BandNoise", "NoiseModel", "NoisyPhotometry", "default_noise_model_path",
    "fit_noise_model", "load_noise_model", "sdss_depth_noise_model",
]
