"""The empirical photometric noise model (SEDflow §3.2): artifact, fitting, default."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .fit import fit_noise_model
    from .model import (
        DROP_RULES,
        NAMED_NOISE_MODELS,
        BandNoise,
        NoiseModel,
        NoisyPhotometry,
        load_noise_model,
        noise_model_path,
    )
    from .real import sdss_real_noise_model
    from .sdss import sdss_depth_noise_model

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
