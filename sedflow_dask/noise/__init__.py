"""The empirical photometric noise model (SEDflow §3.2) and the training proposal built on it."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .fit import fit_noise_model
    from .model import NAMED_NOISE_MODELS, BandNoise, NoiseModel, load_noise_model, noise_model_path
    from .proposal import DROP_RULES, NoiseProposal, default_proposal, load_noise_proposal
    from .real import sdss_real_noise_model
    from .sdss import sdss_depth_noise_model

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "fit_noise_model": ".fit",
    "DROP_RULES": ".proposal",
    "NoiseProposal": ".proposal",
    "default_proposal": ".proposal",
    "load_noise_proposal": ".proposal",
    "BandNoise": ".model",
    "NoiseModel": ".model",
    "load_noise_model": ".model",
    "noise_model_path": ".model",
    "NAMED_NOISE_MODELS": ".model",
    "sdss_depth_noise_model": ".sdss",
    "sdss_real_noise_model": ".real",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
