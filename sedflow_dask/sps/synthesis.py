"""Composite stellar populations on an SSP table: rest spectra, dust, and broadband photometry.

This is the numerical core shared by every model (pure numpy/torch, no I/O). A galaxy is:

* masses formed and metallicities in a set of lookback bins shared by all galaxies (one
  precomputed bin-SSP per bin and metallicity node, so N galaxies are one dense matrix product),
* plus any number of *extra* populations whose ages differ per galaxy (a partial last bin, a
  burst), each a time interval [t_lo, t_hi] (a single-age SSP when t_lo == t_hi),
* optional two-component dust (birth clouds on young table ages + a diffuse KC13 screen),
* observed at redshift z: f_λ = L · L_sun / (4π d_L² (1+z)), then SDSS AB maggies.

Units: masses M_sun formed, ages Gyr (lookback), spectra L_sun/Å (rest), fluxes maggies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .cosmology import cosmology_table
from .dust import LAMBDA_V, diffuse_curve_terms
from .filters import band_weight_table, observed_coverage_limit
from .interpolation import (
    SparseWeights,
    age_average_weights,
    age_point_weights,
    dense_to_sparse,
    metallicity_weights,
)
from .ssp_table import SSPTable


@dataclass(frozen=True)
class ExtraPopulation:
    """A population whose age interval differs per galaxy.

    Attributes:
        mass: (N,) M_sun formed.
        metallicity: (N,) absolute metal mass fraction Z.
        t_lo: (N,) youngest lookback time [Gyr]; t_hi: (N,) oldest. Equal for a single-age SSP.
        birth_cloud: whether its young table-age shares get birth-cloud attenuation.
    """

    mass: np.ndarray
    metallicity: np.ndarray
    t_lo: np.ndarray
    t_hi: np.ndarray
    birth_cloud: bool = True


@dataclass(frozen=True)
class Dust:
    """Per-galaxy dust: optical depths at 5500 Å and the diffuse slope offset n, each (N,)."""

    tau_bc: np.ndarray
    tau_ism: np.ndarray
    n_dust: np.ndarray


@dataclass(frozen=True)
class Populations:
    """Everything the engine needs about N galaxies' stars.

    Attributes:
        bin_mass: (N, K) M_sun formed in each of the engine's shared bins.
        bin_metallicity: (N, K) absolute Z in each shared bin.
        extra: extra populations (see ExtraPopulation).
    """

    bin_mass: np.ndarray
    bin_metallicity: np.ndarray
    extra: tuple[ExtraPopulation, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        return self.bin_mass.shape[0]


def _coarsen_table(table: SSPTable, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge ``factor`` adjacent wavelength bins: exact averages of the table's bin averages."""
    lum = table.lum.astype(np.float64)
    edges = table.wave_edges
    if factor == 1:
        return lum, edges
    w = (edges.size - 1) // factor * factor
    widths = np.diff(edges[: w + 1])
    summed = (lum[..., :w] * widths).reshape(lum.shape[:-1] + (w // factor, factor)).sum(-1)
    new_edges = edges[: w + 1 : factor]
    return summed / np.diff(new_edges), new_edges


class SpectralSynthesis:
    """Precomputed tables and the vectorised synthesis for one SSP table and one set of shared bins.

    Args:
        table: the SSP table.
        bin_edges: (K+1,) shared lookback-bin edges [Gyr].
        age_rule: "centre" (one SSP at each bin's arithmetic centre) or "average" (time average).
        young_age_yr: table ages at or below this are birth-cloud attenuated (node rule, D8).
        metallicity_reference: the solar Z that input metallicities are scaled by before lookup
            at the table's ζ_j = log10(Z_j / table.zsun); the table's own zsun looks up Z itself.
        extrapolate_metallicity: extrapolate linearly beyond the table's metallicities (FSPS)
            instead of clamping.
        lsun_erg_s: L_sun [erg/s]; None = the table's own.
        cosmology: astropy built-in cosmology name for d_L.
        wave_step_factor: merge this many adjacent wavelength bins.
        filter_dz: redshift step of the band-weight table.
        z_max: largest redshift to prepare for (checked against the table's coverage).
        dtype: torch dtype of the synthesis.
        chunk_size: galaxies per block.
    """

    def __init__(
        self,
        table: SSPTable,
        bin_edges: np.ndarray,
        *,
        age_rule: str = "centre",
        young_age_yr: float = 1e7,
        metallicity_reference: float | None = None,
        extrapolate_metallicity: bool = False,
        lsun_erg_s: float | None = None,
        cosmology: str = "Planck13",
        wave_step_factor: int = 1,
        filter_dz: float = 0.002,
        z_max: float = 0.2,
        dtype: torch.dtype = torch.float32,
        chunk_size: int = 1024,
    ) -> None:
        if age_rule not in ("centre", "average"):
            raise ValueError(f"age_rule must be 'centre' or 'average', not {age_rule!r}")
        self.table = table
        self.age_rule = age_rule
        self.bin_edges = np.asarray(bin_edges, dtype=np.float64)
        self.extrapolate_metallicity = extrapolate_metallicity
        self.lsun_erg_s = float(lsun_erg_s if lsun_erg_s is not None else table.lsun_erg_s)
        self.cosmology = cosmology_table(cosmology)
        self.dtype = dtype
        self.chunk_size = int(chunk_size)
        self.log_age = np.log10(table.age_yr)
        self.zeta_nodes = np.log10(table.z_abs / table.zsun)
        self.zeta_shift = float(np.log10((metallicity_reference or table.zsun)))
        self.young_node = table.age_yr <= young_age_yr * (1 + 1e-9)

        lum, edges = _coarsen_table(table, wave_step_factor)
        self.wave_edges = edges
        self.wave = 0.5 * (edges[1:] + edges[:-1])
        z_lo, z_hi = observed_coverage_limit(edges[0], edges[-1])
        z_lo = max(z_lo, 0.0)
        if z_max > z_hi:
            raise ValueError(f"the SSP table's wavelength range covers ugriz only up to z = {z_hi:.4f}")
        self.z_min_covered, self.z_max = z_lo, float(z_max)
        self._lum64 = lum  # (A, J, W) float64

        # Shared bins: age weights (K, A), split by node youth, contracted with the table.
        centres = 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])
        if age_rule == "centre":
            pw = age_point_weights(self.log_age, centres * 1e9)
            wage = np.zeros((centres.size, self.log_age.size))
            np.put_along_axis(wage, pw.index, pw.weight, axis=1)
        else:
            wage = age_average_weights(self.log_age, self.bin_edges[:-1] * 1e9, self.bin_edges[1:] * 1e9)
        self.bin_age_weights = wage
        young_w = wage * self.young_node
        old_w = wage * ~self.young_node
        self.young_bins = np.nonzero(young_w.sum(1) > 0)[0]
        self.old_bins = np.nonzero(old_w.sum(1) > 0)[0]
        n_j, n_w = lum.shape[1], lum.shape[2]
        t_young = np.einsum("ka,ajw->kjw", young_w[self.young_bins], lum).reshape(-1, n_w)
        t_old = np.einsum("ka,ajw->kjw", old_w[self.old_bins], lum).reshape(-1, n_w)
        self._t_young = torch.as_tensor(t_young, dtype=dtype)
        self._t_old = torch.as_tensor(t_old, dtype=dtype)
        self._t_native = torch.as_tensor(lum.reshape(-1, n_w), dtype=dtype)  # rows a*J + j
        self.n_z = n_j

        a, b, ell = diffuse_curve_terms(self.wave)
        self._dust_a = torch.as_tensor(a, dtype=dtype)
        self._dust_b = torch.as_tensor(b, dtype=dtype)
        self._dust_ell = torch.as_tensor(ell, dtype=dtype)
        self._bc_shape = torch.as_tensor(LAMBDA_V / self.wave, dtype=dtype)

        bands = band_weight_table(self.wave, z_max + filter_dz, filter_dz)
        self.bands = bands.bands
        self._filter_dz = bands.dz
        self._n_filter_z = bands.z_grid.size
        # Pair each redshift node with the next so that one product gives both interpolants.
        pair = np.concatenate([bands.table[:-1], bands.table[1:]], axis=2)  # (nz-1, W, 2*nb)
        self._band_pairs = torch.as_tensor(pair, dtype=dtype)

    # ------------------------------------------------------------------ inputs
    def _zeta(self, metallicity: np.ndarray) -> np.ndarray:
        return np.log10(metallicity) - self.zeta_shift

    def metallicity_weights(self, metallicity: np.ndarray) -> SparseWeights:
        """Weights on the table's metallicity nodes for absolute ``metallicity`` Z."""
        return metallicity_weights(self.zeta_nodes, self._zeta(metallicity), self.extrapolate_metallicity)

    def extra_age_weights(self, pop: ExtraPopulation) -> SparseWeights:
        """Age-node weights of an extra population (point weights, or time-averaged)."""
        if self.age_rule == "centre" or np.all(pop.t_hi <= pop.t_lo):
            centre = 0.5 * (pop.t_lo + pop.t_hi)
            return age_point_weights(self.log_age, centre * 1e9)
        return dense_to_sparse(age_average_weights(self.log_age, pop.t_lo * 1e9, pop.t_hi * 1e9))

    def _extra_slots(self, pops: Populations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flattened table rows and young/old weights (each (N, S)) for all extra populations."""
        idx, w_young, w_old = [], [], []
        for pop in pops.extra:
            aw = self.extra_age_weights(pop)
            zw = self.metallicity_weights(pop.metallicity)
            rows = aw.index[:, :, None] * self.n_z + zw.index[:, None, :]
            w = aw.weight[:, :, None] * zw.weight[:, None, :] * pop.mass[:, None, None]
            young = self.young_node[aw.index][:, :, None] & pop.birth_cloud
            n = rows.shape[0]
            idx.append(rows.reshape(n, -1))
            w_young.append(np.where(young, w, 0.0).reshape(n, -1))
            w_old.append(np.where(young, 0.0, w).reshape(n, -1))
        if not idx:
            empty = np.zeros((pops.n, 0))
            return empty.astype(np.int64), empty, empty
        return np.concatenate(idx, 1), np.concatenate(w_young, 1), np.concatenate(w_old, 1)

    def _check(self, pops: Populations, dust: Dust | None) -> None:
        n, k = pops.bin_mass.shape
        if k != self.bin_edges.size - 1 or pops.bin_metallicity.shape != (n, k):
            raise ValueError(
                f"bin_mass and bin_metallicity must have shape (N, {self.bin_edges.size - 1}); got "
                f"{pops.bin_mass.shape} and {pops.bin_metallicity.shape}"
            )
        for name, arr in (("bin_mass", pops.bin_mass), ("bin_metallicity", pops.bin_metallicity)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains non-finite values")
        if np.any(pops.bin_metallicity <= 0):
            raise ValueError("bin_metallicity must be > 0 (absolute Z)")
        for i, pop in enumerate(pops.extra):
            for name in ("mass", "metallicity", "t_lo", "t_hi"):
                arr = getattr(pop, name)
                if np.shape(arr) != (n,) or not np.all(np.isfinite(arr)):
                    raise ValueError(f"extra population {i}: {name} must be finite with shape ({n},)")
            if np.any(pop.metallicity <= 0) or np.any(pop.t_hi < pop.t_lo) or np.any(pop.t_lo < 0):
                raise ValueError(f"extra population {i}: need Z > 0 and 0 <= t_lo <= t_hi")
        if dust is not None:
            for name in ("tau_bc", "tau_ism", "n_dust"):
                arr = getattr(dust, name)
                if np.shape(arr) != (n,) or not np.all(np.isfinite(arr)):
                    raise ValueError(f"dust {name} must be finite with shape ({n},)")

    # ------------------------------------------------------------------ core
    def _components(self, pops: Populations, zw: SparseWeights, extra, sl: slice):
        """Unattenuated young and old rest spectra (n, W) for the galaxies in ``sl``."""
        dt = self.dtype
        mass = torch.as_tensor(pops.bin_mass[sl], dtype=dt)
        idx = torch.as_tensor(zw.index[sl])
        wz = torch.as_tensor(zw.weight[sl], dtype=dt) * mass[..., None]
        n, k = mass.shape
        dense = torch.zeros((n, k, self.n_z), dtype=dt)
        dense.scatter_add_(2, idx, wz)
        young = dense[:, self.young_bins].reshape(n, -1) @ self._t_young
        old = dense[:, self.old_bins].reshape(n, -1) @ self._t_old
        rows, w_young, w_old = extra
        if rows.shape[1]:
            gathered = self._t_native[torch.as_tensor(rows[sl]).reshape(-1)].reshape(n, rows.shape[1], -1)
            weights = torch.stack(
                [torch.as_tensor(w_young[sl], dtype=dt), torch.as_tensor(w_old[sl], dtype=dt)], dim=1
            )
            both = torch.bmm(weights, gathered)
            young += both[:, 0]
            old += both[:, 1]
        return young, old

    def _attenuate(self, young: torch.Tensor, old: torch.Tensor, dust: Dust | None, sl: slice) -> torch.Tensor:
        if dust is None:
            return young + old
        dt = self.dtype
        n_d = torch.as_tensor(dust.n_dust[sl], dtype=dt)[:, None]
        tau_ism = torch.as_tensor(dust.tau_ism[sl], dtype=dt)[:, None]
        tau_bc = torch.as_tensor(dust.tau_bc[sl], dtype=dt)[:, None]
        # τ_ISM(λ) = τ (a + n b) e^{n ℓ}; L = e^{−τ_ISM} (O + e^{−τ_BC} Y).
        transmission = torch.exp(n_d * self._dust_ell)
        transmission.mul_(self._dust_a + n_d * self._dust_b).mul_(-tau_ism).exp_()
        young.mul_(torch.exp(-tau_bc * self._bc_shape))
        young.add_(old).mul_(transmission)
        return young

    def _prepare(self, pops: Populations, dust: Dust | None):
        self._check(pops, dust)
        zw = self.metallicity_weights(pops.bin_metallicity)
        return zw, self._extra_slots(pops)

    def rest_spectra(self, pops: Populations, dust: Dust | None = None) -> np.ndarray:
        """Rest-frame spectra (N, W) [L_sun/Å] on ``self.wave``, attenuated if ``dust`` is given."""
        zw, extra = self._prepare(pops, dust)
        out = np.empty((pops.n, self.wave.size))
        for start in range(0, pops.n, self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            young, old = self._components(pops, zw, extra, sl)
            out[sl] = self._attenuate(young, old, dust, sl).double().numpy()
        return out

    def check_redshift(self, z: np.ndarray) -> np.ndarray:
        """Return z as float64 (N,), or raise ValueError when outside (0, z_max] or not finite."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 1:
            raise ValueError(f"z must be one-dimensional; got shape {z.shape}")
        bad = ~np.isfinite(z) | (z <= 0) | (z > self.z_max) | (z < self.z_min_covered)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"z[{i}] = {z[i]!r} is outside the model's redshift range "
                f"(0, {self.z_max}] ({int(bad.sum())} bad values)"
            )
        return z

    def photometry(self, pops: Populations, z: np.ndarray, dust: Dust | None = None) -> np.ndarray:
        """AB maggies (N, 5) in ugriz for galaxies at redshifts ``z`` (N,)."""
        z = self.check_redshift(z)
        if z.shape != (pops.n,):
            raise ValueError(f"z must have shape ({pops.n},); got {z.shape}")
        # Sorting by redshift makes each block span few band-weight cells, so the photometry
        # is a handful of dense products per block instead of per-galaxy filter interpolation.
        order = np.argsort(z, kind="stable")
        pops_s = _take(pops, order)
        dust_s = _take_dust(dust, order)
        zs = z[order]
        zw, extra = self._prepare(pops_s, dust_s)
        pos = zs / self._filter_dz
        cell = np.minimum(pos.astype(np.int64), self._n_filter_z - 2)
        frac = torch.as_tensor(pos - cell, dtype=self.dtype)[:, None]
        scale = self.lsun_erg_s / (4 * np.pi * self.cosmology.luminosity_distance_cm(zs) ** 2)
        out = np.empty((pops.n, len(self.bands)))
        nb = len(self.bands)
        for start in range(0, pops.n, self.chunk_size):
            sl = slice(start, start + self.chunk_size)
            young, old = self._components(pops_s, zw, extra, sl)
            lum = self._attenuate(young, old, dust_s, sl)
            cells = cell[sl]
            bounds = np.flatnonzero(np.diff(cells)) + 1
            res = torch.empty((lum.shape[0], nb), dtype=self.dtype)
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, cells.size]):
                both = lum[lo:hi] @ self._band_pairs[cells[lo]]
                f = frac[start + lo : start + hi]
                res[lo:hi] = both[:, :nb] * (1 - f) + both[:, nb:] * f
            out[sl] = res.double().numpy()
        out *= scale[:, None]
        result = np.empty_like(out)
        result[order] = out
        return result

    def surviving_mass(self, pops: Populations) -> np.ndarray:
        """Surviving stellar mass (N,) [M_sun] of all populations, from the table's ``live_frac``."""
        if self.table.live_frac is None:
            raise ValueError("the SSP table has no surviving-mass fraction")
        mu = self.table.live_frac.astype(np.float64)  # (A, J)
        zw = self.metallicity_weights(pops.bin_metallicity)
        mu_bins = self.bin_age_weights @ mu  # (K, J)
        k = np.arange(mu_bins.shape[0])[None, :, None]
        per_bin = (mu_bins[k, zw.index] * zw.weight).sum(-1)  # (N, K)
        surv = (per_bin * pops.bin_mass).sum(1)
        for pop in pops.extra:
            aw = self.extra_age_weights(pop)
            zwe = self.metallicity_weights(pop.metallicity)
            vals = mu[aw.index[:, :, None], zwe.index[:, None, :]]
            w = aw.weight[:, :, None] * zwe.weight[:, None, :]
            surv = surv + pop.mass * (vals * w).sum((1, 2))
        return surv


def _take(pops: Populations, order: np.ndarray) -> Populations:
    extra = tuple(
        ExtraPopulation(p.mass[order], p.metallicity[order], p.t_lo[order], p.t_hi[order], p.birth_cloud)
        for p in pops.extra
    )
    return Populations(pops.bin_mass[order], pops.bin_metallicity[order], extra)


def _take_dust(dust: Dust | None, order: np.ndarray) -> Dust | None:
    if dust is None:
        return None
    return Dust(dust.tau_bc[order], dust.tau_ism[order], dust.n_dust[order])
