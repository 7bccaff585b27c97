"""The default noise model: fitted to the real SDSS galaxies shipped inside ``kcorrect``.

Recipe (SEDflow §3.2 with a robust scatter, ``docs/noise.md``): the 10,000 galaxies of
:mod:`sedflow_dask.datasets.kcorrect_sdss`, model fluxes corrected for Galactic extinction, put on
the AB system and given kcorrect's error floors (as the NSA's fluxes are); the usable ones
(0 < z ≤ 0.2, every ugriz flux > 0 with ivar > 0); per band μ(m) and s(m) in 0.2-mag bins of ≥ 10
galaxies with the ``robust`` scatter; the valid range = the observed range. Deterministic: the
shipped JSON is what :func:`sdss_real_noise_model` returns, to float round-off.
"""

from __future__ import annotations

import numpy as np

from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS, flux_to_mag, sigma_mag_from_ivar
from .fit import fit_noise_model
from .model import NoiseModel

#: Scatter settings of the shipped fit.
MIN_RELATIVE_SCATTER = 0.1
Z_RANGE = (0.0, 0.2)


def sdss_real_noise_model(flux: str = "model", bin_width: float = 0.2, min_count: int = 10,
                          min_relative_scatter: float = MIN_RELATIVE_SCATTER) -> NoiseModel:
    """Fit the noise model to the usable real SDSS galaxies of the kcorrect data set."""
    from ..datasets.kcorrect_sdss import read_kcorrect_sdss

    frame, provenance = read_kcorrect_sdss(flux)  # type: ignore[arg-type]
    f = frame[list(FLUX_COLUMNS)].to_numpy(np.float64)
    w = frame[list(IVAR_COLUMNS)].to_numpy(np.float64)
    z = frame["z"].to_numpy(np.float64)
    usable = ((z > Z_RANGE[0]) & (z <= Z_RANGE[1]) & np.all(np.isfinite(f) & (f > 0), axis=1)
              & np.all(np.isfinite(w) & (w > 0), axis=1))
    mags, sigmas = flux_to_mag(f[usable]), sigma_mag_from_ivar(f[usable], w[usable])
    provenance = {"fitted_from": "real_sdss", **provenance,
                  "cuts": f"{Z_RANGE[0]} < z <= {Z_RANGE[1]}, every ugriz flux > 0 and ivar > 0",
                  "n_rows": int(len(frame)), "n_usable": int(usable.sum())}
    return fit_noise_model(mags, sigmas, bin_width=bin_width, min_count=min_count, scatter="robust",
                           min_relative_scatter=min_relative_scatter, provenance=provenance)
