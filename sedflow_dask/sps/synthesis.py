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

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..runtime import single_threaded_torch
from .cosmology import cosmology_table
from .dust import LAMBDA_V, diffuse_curve_terms
from .filters import ZeroPoint, band_weight_table, observed_coverage_limit
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
class ScaledBinGroup:
    """The first G shared bins, when every galaxy's masses and metallicities in them follow

        mass_k = s · shape_k,    Z_k = clip(10^u · factor_k, z_clip)

    for two per-galaxy scalars (s, u). Their summed spectrum is then a piecewise-linear function
    of u alone (metallicity weights are linear in log Z between table nodes, and the clip is
    piecewise linear too), which the engine tabulates exactly at its breakpoints: the group costs
    an interpolation between two table rows per galaxy instead of G bins x Z-nodes of the dense
    product. (PROVABGS: the bins younger than ~0.3 Gyr, where only the first SFH and ZH bases
    are non-zero; s ∝ β1, u = log10 γ1.)

    Attributes:
        shape: (G,) mass per unit s in each bin [M_sun].
        factor: (G,) metallicity per unit 10^u in each bin.
        z_clip: (Z_min, Z_max) absolute metallicity clip.
    """

    shape: np.ndarray
    factor: np.ndarray
    z_clip: tuple[float, float]

    @property
    def size(self) -> int:
        return int(np.size(self.shape))


@dataclass(frozen=True)
class Populations:
    """Everything the engine needs about N galaxies' stars.

    Attributes:
        bin_mass: (N, K) M_sun formed in each of the engine's shared bins.
        bin_metallicity: (N, K) absolute Z in each shared bin.
        extra: extra populations (see ExtraPopulation).
        group: optional (s, u), each (N,): the same galaxies' first G bins in the form of the
            engine's ``ScaledBinGroup`` (bin_mass/bin_metallicity there must agree with it;
            the engine then uses the faster tabulated form for the spectra).
    """

    bin_mass: np.ndarray
    bin_metallicity: np.ndarray
    extra: tuple[ExtraPopulation, ...] = field(default_factory=tuple)
    group: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return self.bin_mass.shape[0]


# Range of the diffuse-dust slope offset n covered by the Chebyshev form (the prior's range);
# other values take the exact exponential.
_N_DUST_LO, _N_DUST_HI = -2.0, 1.0
_CHEB_DEGREE = 10
_CHEB_TOL = 1e-8


def _chebyshev_dust_curve(a: np.ndarray, b: np.ndarray, ell: np.ndarray) -> np.ndarray | None:
    """Coefficients C (degree+1, W) with (a + n b) e^{nℓ} = Σ_r T_r(x(n)) C_r over n in [−2, 1].

    Returns None when the fit misses ``_CHEB_TOL`` relative to the curve's scale (never for
    the shipped tables; the exact form is then used).
    """
    nodes = np.cos(np.pi * (np.arange(4 * _CHEB_DEGREE) + 0.5) / (4 * _CHEB_DEGREE))
    n_vals = 0.5 * (nodes * (_N_DUST_HI - _N_DUST_LO) + _N_DUST_HI + _N_DUST_LO)
    curve = (a + n_vals[:, None] * b) * np.exp(n_vals[:, None] * ell)
    coef = np.polynomial.chebyshev.chebfit(nodes, curve, _CHEB_DEGREE)
    check_x = np.linspace(-1, 1, 301)
    check_n = 0.5 * (check_x * (_N_DUST_HI - _N_DUST_LO) + _N_DUST_HI + _N_DUST_LO)
    exact = (a + check_n[:, None] * b) * np.exp(check_n[:, None] * ell)
    err = np.abs(np.polynomial.chebyshev.chebval(check_x, coef).T - exact).max()
    return coef if err <= _CHEB_TOL * np.abs(exact).max() else None


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
        metallicity_range: (Z_min, Z_max) of the shared-bin metallicities; table nodes that no
            value in the range can touch are left out of the synthesis product (a model whose
            ZH is clipped, like PROVABGS, saves one of BC03's seven nodes). None = all nodes.
        extrapolate_metallicity: extrapolate linearly beyond the table's metallicities (FSPS)
            instead of clamping.
        lsun_erg_s: L_sun [erg/s]; None = the table's own.
        cosmology: astropy built-in cosmology name for d_L.
        wave_step_factor: merge this many adjacent wavelength bins.
        filter_dz: redshift step of the band-weight table.
        zeropoint: AB normalisation, "speclite" (its ab_zeropoint) or "exact" (see filters).
        z_max: largest redshift to prepare for (checked against the table's coverage).
        dtype: torch dtype of the synthesis.
        chunk_size: galaxies per block.
        threads: blocks computed concurrently (default: torch's intra-op thread count).
        group: a ScaledBinGroup of the first shared bins (see there), used when inputs carry
            ``Populations.group``.
    """

    def __init__(
        self,
        table: SSPTable,
        bin_edges: np.ndarray,
        *,
        age_rule: str = "centre",
        young_age_yr: float = 1e7,
        metallicity_reference: float | None = None,
        metallicity_range: tuple[float, float] | None = None,
        extrapolate_metallicity: bool = False,
        lsun_erg_s: float | None = None,
        cosmology: str = "Planck13",
        wave_step_factor: int = 1,
        filter_dz: float = 0.0005,
        zeropoint: ZeroPoint = "speclite",
        z_max: float = 0.2,
        dtype: torch.dtype = torch.float32,
        chunk_size: int = 2048,
        threads: int | None = None,
        group: ScaledBinGroup | None = None,
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
        self.threads = int(threads) if threads is not None else torch.get_num_threads()
        self.log_age = np.log10(table.age_yr)
        self.zeta_nodes = np.log10(table.z_abs / table.zsun)
        self.zeta_shift = float(np.log10(metallicity_reference or table.zsun))
        self.young_node = table.age_yr <= young_age_yr * (1 + 1e-9)
        self.metallicity_range = metallicity_range
        self.group = group
        lum = self._prepare_wavelengths(wave_step_factor, z_max)
        self._prepare_shared_bins(lum)
        self._prepare_dust()
        self._prepare_bands(z_max, filter_dz, zeropoint)

    def _prepare_wavelengths(self, wave_step_factor: int, z_max: float) -> np.ndarray:
        """The (coarsened) wavelength grid and the redshifts it covers; returns the table's
        luminosities (A, J, W) [L_sun/Å] on that grid. ValueError when ugriz leave it below ``z_max``."""
        lum, edges = _coarsen_table(self.table, wave_step_factor)
        self.wave_edges = edges
        self.wave = 0.5 * (edges[1:] + edges[:-1])
        z_lo, z_hi = observed_coverage_limit(edges[0], edges[-1])
        z_lo = max(z_lo, 0.0)
        if z_max > z_hi:
            raise ValueError(f"the SSP table's wavelength range covers ugriz only up to z = {z_hi:.4f}")
        self.z_min_covered, self.z_max = z_lo, float(z_max)
        return lum

    def _prepare_shared_bins(self, lum: np.ndarray) -> None:
        """Age weights (K, A) of the shared bins, split by node youth and contracted with the
        table (A, J, W) into the young and old bin tables, plus the sparse-product table."""
        centres = 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])
        if self.age_rule == "centre":
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
        # The products read young bins as a prefix and old bins as a suffix of the shared bins,
        # which holds when bins and table ages both increase.
        n_bins = wage.shape[0]
        if (not np.array_equal(self.young_bins, np.arange(self.young_bins.size)) or self.old_bins.size == 0
                or not np.array_equal(self.old_bins, np.arange(self.old_bins[0], n_bins))):
            raise ValueError(f"the shared bins' young ({self.young_bins.tolist()}) and old ({self.old_bins.tolist()}) "
                             f"bins must be a prefix and a suffix of the {n_bins} bins: bin edges and table ages "
                             f"must increase")
        n_j, n_w = lum.shape[1], lum.shape[2]
        self.n_z = n_j
        used = self._used_nodes(self.metallicity_range)
        t_young = np.einsum("ka,ajw->kjw", young_w[self.young_bins], lum[:, used]).reshape(-1, n_w)
        t_old = np.einsum("ka,ajw->kjw", old_w[self.old_bins], lum[:, used]).reshape(-1, n_w)
        self._t_young = torch.as_tensor(t_young, dtype=self.dtype)
        self._t_old = torch.as_tensor(t_old, dtype=self.dtype)
        self._n_used_nodes = int(used.size)
        self._zeta_nodes_t = torch.as_tensor(self.zeta_nodes, dtype=self.dtype)
        self._first_node = int(used[0])
        # Rows of the sparse product: the native table (row a*J + j), then the group's tables.
        sparse_rows = [lum.reshape(-1, n_w)]
        if self.group is not None:
            self._group_u, group_young, group_old = self._tabulate_group(self.group, young_w, old_w, lum)
            self._group_young_row = sparse_rows[0].shape[0]
            self._group_old_row = self._group_young_row + self._group_u.size
            sparse_rows += [group_young, group_old]
        self._t_sparse = torch.as_tensor(np.concatenate(sparse_rows), dtype=self.dtype)

    def _prepare_dust(self) -> None:
        """The diffuse-dust curve terms on the grid (and their Chebyshev form) and the birth-cloud shape."""
        dtype = self.dtype
        a, b, ell = diffuse_curve_terms(self.wave)
        self._dust_a = torch.as_tensor(a, dtype=dtype)
        self._dust_b = torch.as_tensor(b, dtype=dtype)
        self._dust_ell = torch.as_tensor(ell, dtype=dtype)
        self._bc_shape = torch.as_tensor(LAMBDA_V / self.wave, dtype=dtype)
        cheb = _chebyshev_dust_curve(a, b, ell)
        self._dust_cheb = None if cheb is None else torch.as_tensor(cheb, dtype=dtype)

    def _prepare_bands(self, z_max: float, filter_dz: float, zeropoint: ZeroPoint) -> None:
        """The ugriz weights on the grid at redshift nodes up to ``z_max``, paired node by node."""
        bands = band_weight_table(self.wave, z_max + filter_dz, filter_dz, zeropoint)
        self.bands = bands.bands
        self._filter_dz = bands.dz
        self._n_filter_z = bands.z_grid.size
        # Pair each redshift node with the next so that one product gives both interpolants.
        pair = np.concatenate([bands.table[:-1], bands.table[1:]], axis=2)  # (nz-1, W, 2*nb)
        self._band_pairs = torch.as_tensor(pair, dtype=self.dtype)
        # Rest wavelengths each redshift cell's bands see: a block of galaxies sorted by z only
        # needs the union of its cells' ranges (~15 % of the grid is unseen at any one z).
        seen = np.any(pair != 0, axis=2)
        self._cell_first = np.argmax(seen, axis=1)
        self._cell_stop = seen.shape[1] - np.argmax(seen[:, ::-1], axis=1)

    def _tabulate_group(self, group: ScaledBinGroup, young_w: np.ndarray, old_w: np.ndarray,
                        lum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The group's young and old spectra (B, W) at every breakpoint u_b of their u-dependence."""
        g = group.size
        if g > self.bin_edges.size - 1 or np.shape(group.factor) != (g,):
            raise ValueError("ScaledBinGroup: shape and factor must have one entry per grouped bin")
        with np.errstate(divide="ignore"):
            log_f = np.log10(np.asarray(group.factor, dtype=np.float64))
        log_lo, log_hi = np.log10(group.z_clip[0]), np.log10(group.z_clip[1])
        # u where some bin's ζ crosses a table node or its clip starts: the only kinks of F(u).
        nodes = np.concatenate([self.zeta_nodes + self.zeta_shift, [log_lo, log_hi]])
        kinks = (nodes[:, None] - log_f[None, :]).ravel()
        kinks = kinks[np.isfinite(kinks)]
        u = np.unique(kinks)
        metal = np.clip(10.0 ** u[:, None] * group.factor[None, :], *group.z_clip)  # (B, G)
        zw = self.metallicity_weights(metal)
        dense = np.zeros(metal.shape + (self.n_z,))
        np.put_along_axis(dense, zw.index, zw.weight, axis=-1)
        dense *= np.asarray(group.shape, dtype=np.float64)[None, :, None]
        flat = dense.reshape(u.size, -1)
        young = flat @ np.einsum("ka,ajw->kjw", young_w[:g], lum).reshape(flat.shape[1], -1)
        old = flat @ np.einsum("ka,ajw->kjw", old_w[:g], lum).reshape(flat.shape[1], -1)
        return u, young, old

    # ------------------------------------------------------------------ inputs
    def _used_nodes(self, metallicity_range: tuple[float, float] | None) -> np.ndarray:
        """Indices of the metallicity nodes that shared-bin weights can touch."""
        if metallicity_range is None:
            return np.arange(self.n_z)
        lo, hi = metallicity_range
        if not 0 < lo <= hi:
            raise ValueError(f"metallicity_range must satisfy 0 < Z_min <= Z_max; got {metallicity_range}")
        zw = self.metallicity_weights(np.array([lo, hi]))
        touched = np.unique(zw.index[(zw.weight != 0)])
        # Every node between the two ends can be touched by some Z in the range.
        first = min(int(touched.min()), int(zw.index[0, 0]))
        last = max(int(touched.max()), int(zw.index[1, 0]))
        return np.arange(first, last + 1)

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

    def _extra_slots(self, pops: Populations) -> _ExtraSlots:
        """Rows of the sparse-product table and their weights, for the young and the old component.

        Extra populations take 2 ages x 2 metallicities of the native table each (young or old
        by table age); the bin group (when used) two rows of each of its young and old tables.
        """
        young_rows, young_w, old_rows, old_w = [], [], [], []
        for pop in pops.extra:
            aw = self.extra_age_weights(pop)
            zw = self.metallicity_weights(pop.metallicity)
            n = aw.index.shape[0]
            rows = (aw.index[:, :, None] * self.n_z + zw.index[:, None, :]).reshape(n, -1)
            w = (aw.weight[:, :, None] * zw.weight[:, None, :] * pop.mass[:, None, None]).reshape(n, -1)
            young = np.repeat(self.young_node[aw.index] & pop.birth_cloud, zw.index.shape[1], axis=1)
            old_rows.append(rows)
            old_w.append(np.where(young, 0.0, w))
            if young.any():
                young_rows.append(rows)
                young_w.append(np.where(young, w, 0.0))
        if self.group is not None and pops.group is not None:
            scale, u = pops.group
            grid = self._group_u
            uc = np.clip(u, grid[0], grid[-1])  # F(u) is constant beyond the outermost kinks
            b = np.clip(np.searchsorted(grid, uc, side="right") - 1, 0, grid.size - 2)
            t = (uc - grid[b]) / (grid[b + 1] - grid[b])
            w = np.stack([scale * (1 - t), scale * t], axis=1)
            young_rows.append(np.stack([b, b + 1], axis=1) + self._group_young_row)
            young_w.append(w)
            old_rows.append(np.stack([b, b + 1], axis=1) + self._group_old_row)
            old_w.append(w)

        def cat(parts):
            return np.concatenate(parts, 1) if parts else np.zeros((pops.n, 0))

        return _ExtraSlots(cat(young_rows).astype(np.int64), cat(young_w), cat(old_rows).astype(np.int64), cat(old_w))

    def check_inputs(self, pops: Populations, dust: Dust | None) -> None:
        """Raise ValueError naming the first malformed input (shapes, non-finite values, ranges)."""
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
            raise ValueError("bin metallicity must be > 0 (absolute Z) in every bin")
        if self.metallicity_range is not None:
            lo, hi = self.metallicity_range
            if pops.bin_metallicity.min() < lo * (1 - 1e-6) or pops.bin_metallicity.max() > hi * (1 + 1e-6):
                raise ValueError(f"bin_metallicity outside the engine's metallicity_range {self.metallicity_range}")
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
        if pops.group is not None:
            if self.group is None:
                raise ValueError("Populations.group is given but the engine has no ScaledBinGroup")
            if any(np.shape(a) != (n,) or not np.all(np.isfinite(a)) for a in pops.group):
                raise ValueError(f"Populations.group must be two finite arrays of shape ({n},)")

    def check_redshift(self, z: np.ndarray) -> np.ndarray:
        """Return z as float64 (N,), or raise ValueError when outside (0, z_max] or not finite."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 1:
            raise ValueError(f"z must be one-dimensional; got shape {z.shape}")
        bad = ~np.isfinite(z) | (z <= 0) | (z > self.z_max) | (z < self.z_min_covered)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"z[{i}] = {float(z[i])!r} is outside the model's redshift range "
                f"(0, {self.z_max}] ({int(bad.sum())} bad values)"
            )
        return z

    # ------------------------------------------------------------------ core (one block)
    def _dense_metallicity_weights(self, metallicity: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
        """Mass-weighted weights on the used metallicity nodes, dense (n, k, J_used)."""
        nodes = self._zeta_nodes_t
        zeta = torch.log10(metallicity).sub_(self.zeta_shift)
        j = (torch.bucketize(zeta, nodes, right=True) - 1).clamp_(0, nodes.numel() - 2)
        lo = nodes[j]
        frac = (zeta - lo).div_(nodes[j + 1] - lo)
        if not self.extrapolate_metallicity:
            frac.clamp_(0.0, 1.0)
        j.sub_(self._first_node)
        upper = frac.mul_(mass)
        dense = torch.zeros(mass.shape + (self._n_used_nodes,), dtype=mass.dtype)
        dense.scatter_add_(2, j.unsqueeze(-1), (mass - upper).unsqueeze(-1))
        dense.scatter_add_(2, j.add_(1).unsqueeze(-1), upper.unsqueeze(-1))
        return dense

    def _block_tensors(self, pops: Populations, dust: Dust | None) -> _BlockTensors:
        """The torch inputs of one block's spectra: product weights, gather slots, dust factors."""
        dt = self.dtype
        first = self.group.size if self.group is not None and pops.group is not None else 0
        mass = torch.as_tensor(pops.bin_mass[:, first:], dtype=dt)
        dense = self._dense_metallicity_weights(torch.as_tensor(pops.bin_metallicity[:, first:], dtype=dt), mass)
        n, ju = dense.shape[0], self._n_used_nodes
        # Young bins are a prefix and old bins a suffix of the (age-ordered) shared bins, so the
        # products read strided views of one weight array and row ranges of the bin tables.
        n_young = self.young_bins.size - first
        old_start = max(int(self.old_bins[0]), first)
        extra = self._extra_slots(pops)

        def slots(rows: np.ndarray, weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor] | None:
            return (torch.as_tensor(rows), torch.as_tensor(weights, dtype=dt)) if rows.shape[1] else None

        neg_tau_bc = neg_tau_ism = basis = None
        if dust is not None:
            neg_tau_bc = torch.as_tensor(-dust.tau_bc, dtype=dt)[:, None]
            neg_tau_ism = torch.as_tensor(-dust.tau_ism, dtype=dt)[:, None]
            basis = self._dust_basis(torch.as_tensor(dust.n_dust, dtype=dt)[:, None])
        return _BlockTensors(
            young_weights=dense[:, :n_young].reshape(n, -1) if n_young > 0 else None,
            young_table=self._t_young[first * ju:] if n_young > 0 else None,
            old_weights=dense[:, old_start - first:].reshape(n, -1),
            old_table=self._t_old[(old_start - self.old_bins[0]) * ju:],
            young_slots=slots(extra.young_rows, extra.young_w),
            old_slots=slots(extra.old_rows, extra.old_w),
            neg_tau_bc=neg_tau_bc,
            neg_tau_ism=neg_tau_ism,
            dust_basis=basis,
        )

    def _dust_basis(self, n_dust: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """(T, True): the Chebyshev basis (n, D) in the slope offsets ``n_dust`` (n, 1), with
        T @ cheb = τ_ISM(λ)/τ_ISM; or (n_dust, False) when the series is unavailable or some n
        leaves its range (the exact exponential is then used)."""
        if self._dust_cheb is not None and bool(((n_dust >= _N_DUST_LO) & (n_dust <= _N_DUST_HI)).all()):
            # (a + n b) e^{nℓ} as a Chebyshev series in n: a small product instead of one
            # exponential per wavelength (fit error checked at construction).
            x = (2 * n_dust - (_N_DUST_LO + _N_DUST_HI)) / (_N_DUST_HI - _N_DUST_LO)
            basis = [torch.ones_like(x), x]
            for _ in range(self._dust_cheb.shape[0] - 2):
                basis.append(2 * x * basis[-1] - basis[-2])
            return torch.cat(basis, dim=1), True
        return n_dust, False

    def _luminosity(self, inputs: _BlockTensors, cols: slice = slice(None)) -> torch.Tensor:
        """Rest spectra (n, W[cols]) of one block: L = e^{−τ_ISM} (O + e^{−τ_BC} Y), or Y + O without dust.

        Each component starts as the weighted sum of its extra populations' table rows and the
        dense shared-bin product is accumulated into it in place; the birth-cloud factor's array
        then takes the diffuse transmission. Three arrays of the output's size in all.
        """
        young = self._gather_rows(inputs.young_slots, cols)
        if inputs.young_weights is not None and inputs.young_table is not None:
            young = _accumulate(young, inputs.young_weights, inputs.young_table, cols)
        old = _accumulate(self._gather_rows(inputs.old_slots, cols), inputs.old_weights, inputs.old_table, cols)
        if inputs.dust_basis is None or inputs.neg_tau_ism is None:
            return old if young is None else old.add_(young)
        spare = None
        if young is not None and inputs.neg_tau_bc is not None:
            spare = torch.mul(inputs.neg_tau_bc, self._bc_shape[cols]).exp_()
            old.addcmul_(young, spare)
        basis, series = inputs.dust_basis
        if series and self._dust_cheb is not None:
            curve = torch.mm(basis, self._dust_cheb[:, cols], out=spare)
        else:
            curve = torch.exp(basis * self._dust_ell[cols]).mul_(self._dust_a[cols] + basis * self._dust_b[cols])
        # −τ multiplies the curve, not the basis: at exponents up to ~40 (τ_ISM = 3, n = −2,
        # 2400 Å) the scaled basis loses float32 digits (1.0e-5 against 6.7e-6 relative).
        return old.mul_(curve.mul_(inputs.neg_tau_ism).exp_())

    def _gather_rows(self, slots: tuple[torch.Tensor, torch.Tensor] | None, cols: slice) -> torch.Tensor | None:
        """Σ_s w[:, s] · table[r[:, s], cols] (n, W[cols]) of the sparse-product table for
        ``slots`` = (r, w), each (n, S); None without slots.

        ``embedding_bag`` (one bag per galaxy) streams each galaxy's few rows once: several
        times faster than a CSR product, which also needs its pattern rebuilt every block.
        """
        if slots is None:
            return None
        out = torch.nn.functional.embedding_bag(slots[0], self._t_sparse, mode="sum", per_sample_weights=slots[1])
        return out[:, cols]

    def spectra_block(self, pops: Populations, dust: Dust | None = None) -> np.ndarray:
        """Rest-frame spectra (n, W) [L_sun/Å] of one block of validated inputs."""
        return self._luminosity(self._block_tensors(pops, dust)).double().numpy()

    def photometry_block(self, pops: Populations, z: np.ndarray, dust: Dust | None = None) -> np.ndarray:
        """AB maggies (n, 5) of one block of validated inputs with ``z`` sorted ascending."""
        pos = z / self._filter_dz
        cell = np.minimum(pos.astype(np.int64), self._n_filter_z - 2)
        span = slice(int(cell[0]), int(cell[-1]) + 1)
        cols = slice(int(self._cell_first[span].min()), int(self._cell_stop[span].max()))
        lum = self._luminosity(self._block_tensors(pops, dust), cols)
        frac = torch.as_tensor(pos - cell, dtype=self.dtype)[:, None]
        nb = len(self.bands)
        res = torch.empty((lum.shape[0], nb), dtype=self.dtype)
        # Sorted redshifts make a block span few band-weight cells: a handful of dense
        # products instead of per-galaxy filter interpolation.
        bounds = np.flatnonzero(np.diff(cell)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, cell.size]):
            both = lum[lo:hi] @ self._band_pairs[cell[lo], cols]
            res[lo:hi] = torch.lerp(both[:, :nb], both[:, nb:], frac[lo:hi])
        scale = self.lsun_erg_s / (4 * np.pi * self.cosmology.luminosity_distance_cm(z) ** 2)
        return res.double().numpy() * scale[:, None]

    # ------------------------------------------------------------------ whole batches
    def rest_spectra(self, pops: Populations, dust: Dust | None = None) -> np.ndarray:
        """Rest-frame spectra (N, W) [L_sun/Å] on ``self.wave``, attenuated if ``dust`` is given."""
        self.check_inputs(pops, dust)
        return self.map_blocks(lambda sl: self.spectra_block(_take(pops, sl), _take_dust(dust, sl)),
                               pops.n, self.wave.size)

    def photometry(self, pops: Populations, z: np.ndarray, dust: Dust | None = None) -> np.ndarray:
        """AB maggies (N, 5) in ugriz for galaxies at redshifts ``z`` (N,)."""
        z = self.check_redshift(z)
        if z.shape != (pops.n,):
            raise ValueError(f"z must have shape ({pops.n},); got {z.shape}")
        self.check_inputs(pops, dust)
        order = np.argsort(z, kind="stable")
        pops, dust, z = _take(pops, order), _take_dust(dust, order), z[order]
        out = self.map_blocks(
            lambda sl: self.photometry_block(_take(pops, sl), z[sl], _take_dust(dust, sl)), pops.n, len(self.bands)
        )
        return unsort(out, order)

    def map_blocks(self, block, n: int, width: int) -> np.ndarray:
        """Stack ``block(slice)`` (each (rows, width)) over blocks of ``chunk_size`` rows.

        With several threads each torch op runs single-threaded in its own block: on these
        block-sized tensors that beats splitting every op across cores, and the numpy work
        around the blocks runs in parallel too.
        """
        out = np.empty((n, width))
        slices = [slice(s, min(s + self.chunk_size, n)) for s in range(0, n, self.chunk_size)]

        def run(sl: slice) -> None:
            out[sl] = block(sl)

        if self.threads <= 1 or len(slices) <= 1:
            for sl in slices:
                run(sl)
            return out
        with single_threaded_torch(), ThreadPoolExecutor(self.threads) as pool:
            for fut in [pool.submit(run, sl) for sl in slices]:
                fut.result()
        return out

    @functools.cached_property
    def _bin_live_fraction(self) -> np.ndarray:
        """(K, J) surviving fraction of each shared bin's age mix at each metallicity node."""
        if self.table.live_frac is None:
            raise ValueError("the SSP table has no surviving-mass fraction")
        return self.bin_age_weights @ self.table.live_frac.astype(np.float64)

    def bin_surviving_fraction(self, metallicity: np.ndarray, bins: np.ndarray | None = None) -> np.ndarray:
        """Surviving mass per M_sun formed (N, K') of the shared ``bins`` (K',) (default: all K) at
        absolute metallicities ``metallicity`` (N, K')."""
        mu = self._bin_live_fraction
        k = np.arange(mu.shape[0]) if bins is None else np.asarray(bins)
        zw = self.metallicity_weights(metallicity)
        return (mu[k[None, :, None], zw.index] * zw.weight).sum(-1)

    @property
    def surviving_breaks(self) -> np.ndarray:
        """(J,) log10 of the table's metallicities: where the surviving fraction's linear pieces in
        log10 Z meet (see ``bin_surviving_pieces``)."""
        return self.zeta_nodes + self.zeta_shift

    def surviving_piece(self, log_z: np.ndarray) -> np.ndarray:
        """Index p of the linear piece holding each log10 Z: the number of ``surviving_breaks`` <= it."""
        p = np.zeros(np.shape(log_z), dtype=np.intp)
        for b in self.surviving_breaks:  # J comparisons beat a binary search over so few breaks
            p += log_z >= b
        return p

    def _pieces(self, at_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intercepts and slopes (R, J+1) in log10 Z of functions given at the table's metallicities
        (R, J), interpolated as metallicity weights do: clamped or extrapolated beyond them."""
        breaks = self.surviving_breaks
        slope = np.diff(at_nodes, axis=1) / np.diff(breaks)
        intercept = at_nodes[:, :-1] - slope * breaks[:-1]
        if self.extrapolate_metallicity:
            outer = (intercept[:, :1], slope[:, :1]), (intercept[:, -1:], slope[:, -1:])
        else:
            zero = np.zeros((at_nodes.shape[0], 1))
            outer = (at_nodes[:, :1], zero), (at_nodes[:, -1:], zero)
        return (np.concatenate([outer[0][0], intercept, outer[1][0]], axis=1),
                np.concatenate([outer[0][1], slope, outer[1][1]], axis=1))

    def bin_surviving_pieces(self, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The surviving fraction of the shared ``bins`` (K',) as linear pieces in x = log10 Z.

        Returns (intercept, slope), each (K', J+1): on piece p = ``surviving_piece(x)`` the
        fraction is intercept[:, p] + slope[:, p] x, exactly as ``bin_surviving_fraction``
        interpolates. One lookup per value instead of sparse metallicity weights.
        """
        breaks = self.surviving_breaks
        at_nodes = self.bin_surviving_fraction(np.broadcast_to(10.0 ** breaks[:, None], (breaks.size, len(bins))),
                                               bins).T  # (K', J)
        return self._pieces(at_nodes)

    @functools.cached_property
    def _table_surviving_pieces(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear pieces in log10 Z (each (A, J+1)) of the table's surviving fraction at each age."""
        if self.table.live_frac is None:
            raise ValueError("the SSP table has no surviving-mass fraction")
        return self._pieces(self.table.live_frac.astype(np.float64))

    def surviving_fraction(self, pop: ExtraPopulation) -> np.ndarray:
        """Surviving mass per M_sun formed (N,) of an extra population (its ``mass`` is not used)."""
        intercept, slope = self._table_surviving_pieces
        aw = self.extra_age_weights(pop)
        x = np.log10(pop.metallicity)[:, None]
        flat = aw.index * intercept.shape[1] + self.surviving_piece(x)
        return (aw.weight * (intercept.take(flat) + slope.take(flat) * x)).sum(1)

    def surviving_mass(self, pops: Populations) -> np.ndarray:
        """Surviving stellar mass (N,) [M_sun] of all populations, from the table's ``live_frac``.

        Every shared bin is evaluated on its own (``pops.group`` is not used).
        """
        surv = (self.bin_surviving_fraction(pops.bin_metallicity) * pops.bin_mass).sum(1)
        for pop in pops.extra:
            surv = surv + pop.mass * self.surviving_fraction(pop)
        return surv


def _accumulate(acc: torch.Tensor | None, weights: torch.Tensor, table: torch.Tensor, cols: slice) -> torch.Tensor:
    """acc + weights @ table[:, cols], written into ``acc`` (a view of a larger array is fine); None = 0."""
    return weights @ table[:, cols] if acc is None else acc.addmm_(weights, table[:, cols])


@dataclass(frozen=True)
class _BlockTensors:
    """One block's inputs to its (n, W) stages.

    Attributes:
        young_weights, young_table: the dense young product (n, C_y) @ (C_y, W), or None.
        old_weights, old_table: the dense old product (n, C_o) @ (C_o, W).
        young_slots, old_slots: (rows (n, S), weights (n, S)) into the sparse-product table, or None.
        neg_tau_bc, neg_tau_ism: (n, 1) −τ_BC and −τ_ISM, or None without dust.
        dust_basis: see ``SpectralSynthesis._dust_basis``; None without dust.
    """

    young_weights: torch.Tensor | None
    young_table: torch.Tensor | None
    old_weights: torch.Tensor
    old_table: torch.Tensor
    young_slots: tuple[torch.Tensor, torch.Tensor] | None
    old_slots: tuple[torch.Tensor, torch.Tensor] | None
    neg_tau_bc: torch.Tensor | None
    neg_tau_ism: torch.Tensor | None
    dust_basis: tuple[torch.Tensor, bool] | None


@dataclass(frozen=True)
class _ExtraSlots:
    """Rows of the sparse-product table and their weights: (N, S_young) and (N, S_old)."""

    young_rows: np.ndarray
    young_w: np.ndarray
    old_rows: np.ndarray
    old_w: np.ndarray


def unsort(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Undo ``values = original[order]`` along the first axis."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _take(pops: Populations, order: np.ndarray | slice) -> Populations:
    extra = tuple(
        ExtraPopulation(p.mass[order], p.metallicity[order], p.t_lo[order], p.t_hi[order], p.birth_cloud)
        for p in pops.extra
    )
    group = None if pops.group is None else (pops.group[0][order], pops.group[1][order])
    return Populations(pops.bin_mass[order], pops.bin_metallicity[order], extra, group)


def _take_dust(dust: Dust | None, order: np.ndarray | slice) -> Dust | None:
    if dust is None:
        return None
    return Dust(dust.tau_bc[order], dust.tau_ism[order], dust.n_dust[order])
