"""Galaxy age and luminosity distance as fast, dense interpolants of an astropy cosmology.

astropy integrates numerically per redshift for cosmologies with massive neutrinos (Planck13),
which costs milliseconds per galaxy; a cubic spline on a dense grid reproduces it to ~1e-12
relative (checked in the tests), as upstream PROVABGS does with a coarser grid. The grid's own
values come from astropy's 1/E(z) (vectorised, neutrinos included) integrated by 8-point
Gauss-Legendre over each grid interval, which matches astropy's per-redshift quadrature to
~1e-15 relative at a hundredth of its cost (0.2 s per process otherwise).
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
    if cosmo.Ok0 != 0:
        # every astropy built-in is flat; a curved one would need the transverse distance
        raise ValueError(f"cosmology {name!r} is not flat (Ok0 = {cosmo.Ok0}): not supported")
    z = np.linspace(0.0, z_max, n_nodes)
    nodes, weights = np.polynomial.legendre.leggauss(8)
    half = 0.5 * np.diff(z)
    points = z[:-1, None] + half[:, None] * (nodes + 1.0)   # (n_nodes - 1, 8)
    inv_e = cosmo.inv_efunc(points)
    # ∫_0^z dz'/((1+z')E) and ∫_0^z dz'/E, cumulated over the grid's intervals
    lookback = np.concatenate([[0.0], np.cumsum(half * ((inv_e / (1.0 + points)) @ weights))])
    comoving = np.concatenate([[0.0], np.cumsum(half * (inv_e @ weights))])
    c_over_h0 = cosmo.hubble_distance.to_value("Mpc") * MPC_CM
    age = cosmo.age(0).to_value("Gyr") - cosmo.hubble_time.to_value("Gyr") * lookback
    dl = (1.0 + z[1:]) * comoving[1:] * c_over_h0
    # d_L/z at z = 0 is c/H0.
    dl_over_z = np.concatenate([[c_over_h0], dl / z[1:]])
    return CosmologyTable(name, z_max, CubicSpline(z, age), CubicSpline(z, dl_over_z))
