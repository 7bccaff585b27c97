"""Photometry and spectra of arbitrary tabulated star-formation histories, one call each.

The convenience API over :class:`~sedflow_dask.sps.synthesis.SpectralSynthesis` for users with
their own SFHs: masses formed and metallicities in lookback bins shared by all galaxies. Engines
are cached per (table, bin edges, options), so repeated calls with the same bins reuse one.
"""

from __future__ import annotations

import functools

import numpy as np

from .ssp_table import SSPTable
from .synthesis import Dust, Populations, SpectralSynthesis


def _as_rows(values, n: int, k: int, name: str) -> np.ndarray:
    """``values`` (scalar, (K,) or (N, K)) as a contiguous float64 (N, K) array; ValueError naming ``name``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full((n, k), float(arr))
    elif arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape == (1, k) and n > 1:
        arr = np.broadcast_to(arr, (n, k))
    if arr.shape != (n, k):
        raise ValueError(f"{name} must have shape ({n}, {k}) (galaxies, bins); got {np.shape(values)}")
    return np.ascontiguousarray(arr)


def _tabulated_inputs(bin_edges, mass_formed, metallicity, z, dust
                      ) -> tuple[np.ndarray, Populations, np.ndarray, Dust | None]:
    """Checked (edges (K+1,), populations, z (N,), dust) from the public functions' arguments."""
    edges = np.asarray(bin_edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise ValueError("bin_edges must be increasing lookback times [Gyr], starting at >= 0")
    k = edges.size - 1
    zz = np.atleast_1d(np.asarray(z, dtype=np.float64))
    mass = np.asarray(mass_formed, dtype=np.float64)
    n = max(zz.size, mass.shape[0] if mass.ndim == 2 else 1)
    if zz.size == 1 and n > 1:
        zz = np.full(n, zz[0])
    pops = Populations(_as_rows(mass, n, k, "mass_formed"), _as_rows(metallicity, n, k, "metallicity"))
    if dust is not None and not isinstance(dust, Dust):
        dust = Dust(*(np.broadcast_to(np.asarray(dust[key], dtype=np.float64), (n,)).copy()
                      for key in ("tau_bc", "tau_ism", "n_dust")))
    return edges, pops, zz, dust


@functools.lru_cache(maxsize=8)
def _engine_for(table: SSPTable, edges: tuple[float, ...], options: tuple) -> SpectralSynthesis:
    return SpectralSynthesis(table, np.asarray(edges), **dict(options))


def photometry_from_sfh(bin_edges, mass_formed, metallicity, z, *, dust=None, table: SSPTable | None = None,
                        cosmology: str = "Planck13", lsun_erg_s: float | None = None,
                        age_rule: str = "centre", zeropoint: str = "speclite") -> np.ndarray:
    """SDSS ugriz AB maggies (N, 5) of arbitrary tabulated star-formation histories.

    Args:
        bin_edges: (K+1,) lookback-bin edges [Gyr], shared by all galaxies.
        mass_formed: (N, K) or (K,) M_sun formed in each bin.
        metallicity: (N, K), (K,) or scalar absolute metal mass fraction Z in each bin (looked up
            in the table at Z itself, linear in log Z, clamped at the table's ends).
        z: (N,) or scalar redshift, 0 < z <= 0.2.
        dust: None, a :class:`~sedflow_dask.sps.synthesis.Dust`, or a mapping with ``tau_bc``,
            ``tau_ism``, ``n_dust`` (scalars or (N,)): birth clouds act on table ages <= 10 Myr,
            the KC13 screen on all.
        table: SSP table (default: the shipped BC03 table).
        cosmology: astropy built-in cosmology name for the luminosity distance.
        lsun_erg_s: L_sun [erg/s] converting the table's L_sun/Å; None = the table's own.
        age_rule: "centre" (one SSP at each bin's centre) or "average" (time-averaged).
        zeropoint: AB normalisation, "speclite" or "exact" (see :mod:`sedflow_dask.sps.filters`).
    """
    from .ssp_table import load_ssp_table

    table = table if table is not None else load_ssp_table()
    edges, pops, zz, dust = _tabulated_inputs(bin_edges, mass_formed, metallicity, z, dust)
    options = (("age_rule", age_rule), ("cosmology", cosmology), ("lsun_erg_s", lsun_erg_s),
               ("zeropoint", zeropoint))
    return _engine_for(table, tuple(edges.tolist()), options).photometry(pops, zz, dust)


def spectrum_from_sfh(bin_edges, mass_formed, metallicity, *, dust=None, table: SSPTable | None = None,
                      age_rule: str = "centre") -> tuple[np.ndarray, np.ndarray]:
    """Rest-frame spectra of tabulated SFHs: (wave (W,) [Å], L (N, W) [L_sun/Å]).

    Arguments as :func:`photometry_from_sfh`; redshift and cosmology do not enter rest-frame spectra.
    """
    from .ssp_table import load_ssp_table

    table = table if table is not None else load_ssp_table()
    edges, pops, _, dust = _tabulated_inputs(bin_edges, mass_formed, metallicity, 0.1, dust)
    engine = _engine_for(table, tuple(edges.tolist()), (("age_rule", age_rule),))
    return engine.wave.copy(), engine.rest_spectra(pops, dust)
