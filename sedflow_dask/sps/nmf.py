"""PROVABGS non-negative-matrix-factorisation bases: lookback bins, SFH and ZH (pure numpy).

Follows ``sps-model.md`` §3–§6 exactly. Times are lookback times in Gyr.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

#: The 43 fixed lookback-bin edges [Gyr] (§3): 0, 10^(-2.95 + 0.1 (m-1)) for m = 1..41, 13.8.
BIN_EDGES: np.ndarray = np.concatenate([[0.0], 10.0 ** (-2.95 + 0.1 * np.arange(41)), [13.8]])
BIN_EDGES.flags.writeable = False
#: Bins whose edges do not depend on the galaxy (all but the last one).
N_FIXED_BINS = 41

#: ZH clip limits (§6): the MIST limits 0.0142 x 10^[-2.5, +0.5] of FSPS v3.2, as the float32
#: values upstream uses (7e-9 relative from the exact products).
Z_MIN = 4.49043431e-05
Z_MAX = 4.49043431e-02

# File rows of the SFH table that multiply beta1..beta4 (the file rows are "jumbled", §4).
_SFH_ROW_ORDER = (2, 0, 1, 3)


@dataclass(frozen=True, eq=False)
class PiecewiseLinear:
    """Piecewise-linear functions through common nodes, linearly extrapolated on both sides.

    ``values`` has shape (n_functions, n_nodes). Mirrors scipy's
    ``InterpolatedUnivariateSpline(k=1)`` which upstream uses, including its extrapolation.
    """

    nodes: np.ndarray
    values: np.ndarray

    @functools.cached_property
    def _slopes(self) -> np.ndarray:
        return np.diff(self.values, axis=1) / np.diff(self.nodes)

    def _segment(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.nodes, t, side="right") - 1, 0, self.nodes.size - 2)

    def __call__(self, t) -> np.ndarray:
        """Values at ``t``; shape (n_functions,) + t.shape."""
        t = np.asarray(t, dtype=np.float64)
        seg = self._segment(t)
        return self.values[:, seg] + self._slopes[:, seg] * (t - self.nodes[seg])

    @functools.cached_property
    def _cumulative_at_nodes(self) -> np.ndarray:
        # Integral from t = 0 to each node; the piece [0, t_0] uses the first segment's line.
        head = self(0.0)[:, None]
        first = 0.5 * (head[:, 0] + self.values[:, 0]) * self.nodes[0]
        steps = 0.5 * (self.values[:, 1:] + self.values[:, :-1]) * np.diff(self.nodes)
        return np.concatenate([first[:, None], first[:, None] + np.cumsum(steps, axis=1)], axis=1)

    def integral(self, t) -> np.ndarray:
        """Exact integral from 0 to ``t`` (extrapolated pieces included); shape (n_functions,) + t.shape."""
        t = np.asarray(t, dtype=np.float64)
        # Anchor each t at the node to its left, or at node 0 when t lies before it.
        seg = self._segment(t)
        anchor = self.nodes[seg]
        dt = t - anchor
        return (
            self._cumulative_at_nodes[:, seg]
            + self.values[:, seg] * dt
            + 0.5 * self._slopes[:, seg] * dt**2
        )

    def bin_averages(self, edges: np.ndarray) -> np.ndarray:
        """Exact averages over consecutive bins of ``edges``; shape (n_functions, len(edges) - 1)."""
        cum = self.integral(edges)
        return np.diff(cum, axis=-1) / np.diff(edges)


def _data_dir() -> Path:
    return Path(str(resources.files("sedflow_dask") / "data" / "provabgs"))


@dataclass(frozen=True, eq=False)
class NMFBases:
    """The four SFH bases B_1..B_4 (young to old) and two ZH bases Z_1, Z_2 (§4)."""

    sfh: PiecewiseLinear
    zh: PiecewiseLinear

    @classmethod
    def load(cls, directory: str | Path | None = None) -> NMFBases:
        """Load the PROVABGS tables with upstream's ordering rules (reverse time, reorder rows)."""
        d = Path(directory) if directory is not None else _data_dir()
        t = np.loadtxt(d / "sfh_t_int.txt")[::-1]
        sfh = np.loadtxt(d / "NMF_2basis_SFH_components_nowgt_lin_Nc4.txt")[:, ::-1]
        zh = np.loadtxt(d / "NMF_2basis_Z_components_nowgt_lin_Nc2.txt")[:, ::-1]
        if t.shape != (50,) or sfh.shape != (4, 50) or zh.shape != (2, 50):
            raise ValueError(f"unexpected NMF table shapes in {d}: t{t.shape} sfh{sfh.shape} zh{zh.shape}")
        sfh = sfh[list(_SFH_ROW_ORDER)]
        return cls(PiecewiseLinear(t, np.ascontiguousarray(sfh)), PiecewiseLinear(t, np.ascontiguousarray(zh)))


@functools.lru_cache(maxsize=1)
def default_bases() -> NMFBases:
    """The shipped PROVABGS bases, loaded once per process."""
    return NMFBases.load()


def lookback_bin_edges(t_age: np.ndarray) -> np.ndarray:
    """Per-galaxy bin edges (N, 43) for ages ``t_age`` [Gyr] with BIN_EDGES[41] < t_age <= 13.8.

    The last edge is t_age itself (§3). Younger galaxies (z > 0.2062 for Planck13) have fewer
    bins and are outside this model's redshift range.
    """
    t_age = np.asarray(t_age, dtype=np.float64)
    if np.any(t_age <= BIN_EDGES[N_FIXED_BINS]) or np.any(t_age > BIN_EDGES[-1]):
        raise ValueError(
            f"galaxy age must lie in ({BIN_EDGES[N_FIXED_BINS]:.6f}, 13.8] Gyr for the 42-bin model"
        )
    edges = np.broadcast_to(BIN_EDGES, t_age.shape + (43,)).copy()
    edges[..., -1] = t_age
    return edges


@dataclass(frozen=True, eq=False)
class BinnedHistory:
    """SFH and ZH of N galaxies on their 42 lookback bins.

    Attributes:
        edges: (N, 43) bin edges [Gyr].
        nmf_mass_frac: (N, 42) fraction of the NMF mass formed in each bin (rows sum to 1).
        zh: (N, 42) absolute metallicity at the bin centres, clipped to [Z_MIN, Z_MAX].
        shape_integral: (N,) Σ_k Δt_k Σ_i β_i B̄_ik [Gyr], the normalisation of the mass fractions.
    """

    edges: np.ndarray
    nmf_mass_frac: np.ndarray
    zh: np.ndarray
    shape_integral: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """(N, 42) arithmetic bin centres [Gyr] (the SSP ages of the PROVABGS model)."""
        return 0.5 * (self.edges[:, 1:] + self.edges[:, :-1])

    @property
    def widths(self) -> np.ndarray:
        """(N, 42) bin widths [Gyr]."""
        return np.diff(self.edges, axis=1)


@functools.lru_cache(maxsize=4)
def _fixed_bin_averages(bases: NMFBases) -> tuple[np.ndarray, np.ndarray]:
    """B-bar for the 41 galaxy-independent bins (4, 41), and ZH at their centres (2, 41)."""
    fixed = BIN_EDGES[: N_FIXED_BINS + 1]
    centres = 0.5 * (fixed[1:] + fixed[:-1])
    return bases.sfh.bin_averages(fixed), bases.zh(centres)


def nmf_history(beta: np.ndarray, gamma: np.ndarray, t_age: np.ndarray,
                bases: NMFBases | None = None) -> BinnedHistory:
    """NMF SFH mass fractions and bin-centre ZH for N galaxies (§5.1, §6).

    Args:
        beta: (N, 4) SFH basis coefficients.
        gamma: (N, 2) ZH basis coefficients.
        t_age: (N,) galaxy ages [Gyr].
    """
    bases = bases or default_bases()
    edges = lookback_bin_edges(t_age)
    bbar_fixed, zbase_fixed = _fixed_bin_averages(bases)
    e_last = BIN_EDGES[N_FIXED_BINS]
    # The last bin [e_41, t_age) is the only galaxy-dependent one: its average comes from the
    # exact cumulative integral of the piecewise-linear bases.
    bbar_last = (bases.sfh.integral(t_age) - bases.sfh.integral(e_last)[:, None]) / (t_age - e_last)
    shape = beta[:, :] @ bbar_fixed  # (N, 41)
    shape_last = np.einsum("ni,in->n", beta, bbar_last)
    widths = np.diff(edges, axis=1)
    mass = np.concatenate([shape, shape_last[:, None]], axis=1) * widths
    total = mass.sum(axis=1)
    nmf_mass_frac = mass / total[:, None]

    c_last = 0.5 * (e_last + t_age)
    z_fixed = gamma @ zbase_fixed
    z_last = np.einsum("ni,in->n", gamma, bases.zh(c_last))
    zh = np.clip(np.concatenate([z_fixed, z_last[:, None]], axis=1), Z_MIN, Z_MAX)
    return BinnedHistory(edges, nmf_mass_frac, zh, total)


def young_single_basis_bins(bases: NMFBases | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """The leading fixed bins where only the first SFH basis and the first ZH basis are non-zero.

    Returns (G, B̄_1k Δt_k (G,) [Gyr], Z_1(c_k) (G,)): in those bins every galaxy's NMF masses are
    β1 · B̄_1k Δt_k up to one per-galaxy factor and its ZH is clip(γ1 Z_1(c_k)), which the
    synthesis engine exploits (``ScaledBinGroup``).
    """
    bases = bases or default_bases()
    bbar, zbase = _fixed_bin_averages(bases)
    single = (np.all(bbar[1:] == 0, axis=0) & (zbase[1] == 0)).tolist() + [False]
    g = single.index(False)
    widths = np.diff(BIN_EDGES[: g + 1])
    return g, bbar[0, :g] * widths, zbase[0, :g].copy()


def burst_metallicity(gamma: np.ndarray, tburst: np.ndarray, bases: NMFBases | None = None) -> np.ndarray:
    """Z_b = clip(gamma1 Z_1(t_b) + gamma2 Z_2(t_b)) (§5.2); shape (N,)."""
    bases = bases or default_bases()
    return np.clip(np.einsum("ni,in->n", gamma, bases.zh(tburst)), Z_MIN, Z_MAX)


def bin_index(t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index k with edges[k] <= t < edges[k+1] for each row of (N, K+1) ``edges``; clipped to [0, K-1]."""
    k = (edges[:, 1:-1] <= t[:, None]).sum(axis=1)
    return k
