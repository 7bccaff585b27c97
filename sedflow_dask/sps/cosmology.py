"""Galaxy age and luminosity distance as fast, dense interpolants of an astropy cosmology.

astropy integrates numerically per redshift for cosmologies with massive neutrinos (Planck13),
which costs milliseconds per galaxy; a cubic spline on a dense grid reproduces it to ~1e-12
relative (checked in the tests), as upstream PROVABGS does with a coarser grid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

MPC_CM = 3.0856775814913673e24  # cm per Mpc (IAU 2015 parsec)


@dataclass(frozen=True)
class CosmologyTable:
    """Spline tables of t_age(z) [Gyr] and d_L(z) [cm] for 0 <= z <= ``z_max``."""

    name: str
    z_max: float
    _age: CubicSpline
    _dl_over_z: CubicSpline

    def age_gyr(self, z: np.ndarray) -> np.ndarray:
        """Age of the Universe at redshift ``z`` in Gyr (the largest lookback time of a galaxy)."""
        return self._age(self._check(z))

    def luminosity_distance_cm(self, z: np.ndarray) -> np.ndarray:
        """Luminosity distance in cm."""
        zz = self._check(z)
        # d_L/z is smooth and finite at z = 0, so the spline stays accurate down to z -> 0.
        return zz * self._dl_over_z(zz)

    def _check(self, z) -> np.ndarray:
        zz = np.asarray(z, dtype=np.float64)
        if np.any(zz < 0) or np.any(zz > self.z_max):
            raise ValueError(f"redshift outside the cosmology table range [0, {self.z_max}]")
        return zz


@functools.lru_cache(maxsize=8)
def cosmology_table(name: str = "Planck13", z_max: float = 0.5, n_nodes: int = 2001) -> CosmologyTable:
    """Build (once per process) the spline tables for an astropy built-in cosmology by name."""
    from astropy import cosmology as _cosmo

    try:
        cosmo = getattr(_cosmo, name)
    except AttributeError:
        raise ValueError(f"unknown astropy cosmology {name!r}") from None
    z = np.linspace(0.0, z_max, n_nodes)
    age = cosmo.age(z).to_value("Gyr")
    dl = cosmo.luminosity_distance(z[1:]).to_value("Mpc") * MPC_CM
    # d_L/z at z = 0 is c/H0.
    c_over_h0 = (cosmo.hubble_distance.to_value("Mpc")) * MPC_CM
    dl_over_z = np.concatenate([[c_over_h0], dl / z[1:]])
    return CosmologyTable(name, z_max, CubicSpline(z, age), CubicSpline(z, dl_over_z))
