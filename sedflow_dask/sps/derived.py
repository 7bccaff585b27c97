"""Derived properties of PROVABGS parameters from tables precomputed once (pure numpy).

The properties (``docs/sps-model.md`` §11) depend on the star-formation and metallicity
histories alone, and those are fixed linear maps of β and γ on the 41 galaxy-independent bins:

* each bin's NMF mass is β · A_k with A_ik = B̄_ik Δt_k [Gyr]; the partial last bin's is β · J(t_age)
  with J_i = ∫_{e_41}^{t_age} B_i dt, so the normalisation, the mass formed in the last Gyr and
  the mass-weighted bin centre are each one dot product with a precomputed 4-vector;
* in the bins where Z_2 is zero (the 30 youngest for the shipped bases) Z_k = clip(γ1 Z_1k), so
  Σ_k A_ik Z_k is piecewise linear in γ1 and Σ_k A_ik μ_k(Z_k) (μ_k: the bin's surviving
  fraction, linear in log Z between table metallicities) piecewise linear in u = log10 γ1: both
  are tabulated exactly at their kinks in u and read with one lookup per draw;
* only the other fixed bins (11), the last bin and the burst are evaluated per draw, each bin's
  μ_k from its linear pieces in log10 Z (``SpectralSynthesis.bin_surviving_pieces``).

Cost per draw: a few flops and one log10 per evaluated bin, instead of the full (N, 42) history
with sparse metallicity weights in every bin. Agreement with the per-bin evaluation of the full
history (``SpectralSynthesis.surviving_mass``, ``tests/test_derived.py``) and with the scalar
reference is tested to 1e-6 relative (≤ 1e-14 in practice). ``docs/sps-model.md`` §11.6.

Units: masses M_sun, times Gyr (lookback), SFR M_sun/yr, metallicity absolute Z.
"""

from __future__ import annotations

import numpy as np

from ..config import SPSConfig, SSPAgeRule
from .nmf import BIN_EDGES, N_FIXED_BINS, Z_MAX, Z_MIN, NMFBases
from .synthesis import ExtraPopulation, SpectralSynthesis

#: Averaging window of the SFR property [Gyr].
SFR_WINDOW_GYR = 1.0
DERIVED_NAMES: tuple[str, ...] = ("log_mstar_formed", "log_mstar_surviving", "log_sfr_1gyr", "log_z_mw", "t_mw")
#: Draws evaluated together: the (rows, bins) temporaries stay cache-sized.
ROWS_PER_BLOCK = 8192


def last_bin_interval(t_age: np.ndarray, age_rule: SSPAgeRule) -> tuple[np.ndarray, np.ndarray]:
    """Youngest and oldest SSP age [Gyr] of the partial last bin [e_41, t_age) under ``age_rule``:
    the bin itself ("average"), or its centre twice ("centre")."""
    e_last = BIN_EDGES[N_FIXED_BINS]
    if age_rule == "average":
        return np.full_like(t_age, e_last), t_age
    centre = 0.5 * (e_last + t_age)
    return centre, centre


class DerivedProperties:
    """The five derived properties of validated physical parameters, vectorised over draws.

    Args:
        bases: the NMF bases.
        engine: the synthesis engine of the same model (its SSP table's surviving fractions and
            metallicity lookup).
        config: the model options (D3 burst convention, D9 derived-burst rule, SSP age rule).
    """

    def __init__(self, bases: NMFBases, engine: SpectralSynthesis, config: SPSConfig) -> None:
        self.bases = bases
        self.engine = engine
        self.config = config
        fixed = BIN_EDGES[: N_FIXED_BINS + 1]
        widths = np.diff(fixed)
        centres = 0.5 * (fixed[1:] + fixed[:-1])
        self._centres = centres
        area = bases.sfh.bin_averages(fixed) * widths  # (4, 41) A_ik [Gyr]
        self._zbase = bases.zh(centres)  # (2, 41)
        self._area_sum = area.sum(1)
        self._area_centre = area @ centres  # (4,) [Gyr²]
        k_star = int(np.searchsorted(BIN_EDGES, SFR_WINDOW_GYR, side="right") - 1)
        if k_star >= N_FIXED_BINS:
            raise ValueError("the SFR window must end inside the galaxy-independent bins")
        self._area_window = area[:, :k_star].sum(1) + area[:, k_star] * ((SFR_WINDOW_GYR - fixed[k_star]) / widths[k_star])
        self._integral_e41 = bases.sfh.integral(BIN_EDGES[N_FIXED_BINS])  # (4,)
        single = self._zbase[1] == 0  # bins whose ZH is clip(γ1 Z_1k): functions of γ1 alone
        self._dense = np.flatnonzero(~single)
        self._area_dense = area[:, self._dense]
        self._zbase_dense = self._zbase[:, self._dense]
        intercept, slope = engine.bin_surviving_pieces(self._dense)
        self._surv_intercept, self._surv_slope = intercept.ravel(), slope.ravel()
        self._piece_offset = np.arange(self._dense.size) * intercept.shape[1]
        self._tabulate_single(np.flatnonzero(single), area)

    def _tabulate_single(self, bins: np.ndarray, area: np.ndarray) -> None:
        """Σ_k A_ik clip(γ1 Z_1k) (linear in γ1) and Σ_k A_ik μ_k(clip(γ1 Z_1k)) (linear in
        u = log10 γ1) over the metallicity-single ``bins``, as linear pieces between their kinks
        in u: where a bin's Z crosses a table metallicity or a clip limit."""
        factor = self._zbase[0, bins]
        with np.errstate(divide="ignore"):
            log_f = np.log10(factor)
        nodes = np.concatenate([self.engine.surviving_breaks, np.log10([Z_MIN, Z_MAX])])
        kinks = (nodes[:, None] - log_f[None, :]).ravel()
        u = np.unique(kinks[np.isfinite(kinks)])
        if u.size < 2:  # no bin, or none whose Z can move: constants (both are then flat)
            u = np.array([0.0, 1.0])
        gamma1 = 10.0 ** u
        metal = np.clip(gamma1[:, None] * factor[None, :], Z_MIN, Z_MAX)  # (B, G)
        surv = (self.engine.bin_surviving_fraction(metal, bins) if bins.size else metal) @ area[:, bins].T  # (B, 4)
        metal = metal @ area[:, bins].T
        self._single_u = u
        # Pieces p = 0..B (u < u_0, between kinks, u >= u_{B-1}): constant outside the kinks,
        # where every bin sits at a clip limit.
        self._single_metal = _pieces(gamma1, metal)
        self._single_surv = _pieces(u, surv)

    def __call__(self, th: np.ndarray, t_age: np.ndarray) -> dict[str, np.ndarray]:
        """Derived properties (each (N,)) of validated physical parameters ``th`` (N, 12) of
        galaxies aged ``t_age`` (N,) [Gyr]; see ``PROVABGSModel.derived_properties``."""
        n = th.shape[0]
        out = {name: np.empty(n) for name in DERIVED_NAMES}
        for start in range(0, n, ROWS_PER_BLOCK):
            sl = slice(start, min(start + ROWS_PER_BLOCK, n))
            for name, values in self._block(th[sl], t_age[sl]).items():
                out[name][sl] = values
        return out

    def _block(self, th: np.ndarray, t_age: np.ndarray) -> dict[str, np.ndarray]:
        """The properties of one block of draws (n, 12), ages (n,) [Gyr]."""
        cfg, eng = self.config, self.engine
        mass = 10.0 ** th[:, 0]
        beta, gamma = th[:, 1:5], th[:, 7:9]
        f_b, t_b = th[:, 5], th[:, 6]
        fb_eff = np.where(t_b < t_age, f_b, 0.0)
        f_nmf = fb_eff if cfg.burst_convention == "consistent" else f_b

        # NMF mass in units of the β-weighted shape: fixed bins β·A_k, last bin β·J(t_age).
        last_area = self.bases.sfh.integral(t_age) - self._integral_e41[:, None]  # (4, n)
        m_last = np.einsum("ni,in->n", beta, last_area)
        total = beta @ self._area_sum + m_last
        c_last = 0.5 * (BIN_EDGES[N_FIXED_BINS] + t_age)
        z_last = np.clip(np.einsum("ni,in->n", gamma, self.bases.zh(c_last)), Z_MIN, Z_MAX)

        # Σ_k m_k Z_k and Σ_k m_k μ_k(Z_k) over the NMF bins, in the same units.
        z_dense = np.clip(gamma @ self._zbase_dense, Z_MIN, Z_MAX)  # (n, K')
        m_dense = beta @ self._area_dense
        x = np.log10(z_dense)
        piece = eng.surviving_piece(x) + self._piece_offset
        mu = self._surv_intercept.take(piece) + self._surv_slope.take(piece) * x
        u = np.log10(gamma[:, 0])
        p = np.searchsorted(self._single_u, u, side="right")
        metal = ((m_dense * z_dense).sum(1) + m_last * z_last
                 + np.einsum("ni,ni->n", beta, self._single_metal[0][p] + self._single_metal[1][p] * gamma[:, :1]))
        lo, hi = last_bin_interval(t_age, cfg.ssp_age_rule)
        surv = ((m_dense * mu).sum(1) + m_last * eng.surviving_fraction(ExtraPopulation(m_last, z_last, lo, hi))
                + np.einsum("ni,ni->n", beta, self._single_surv[0][p] + self._single_surv[1][p] * u[:, None]))

        z_burst = np.clip(np.einsum("ni,in->n", gamma, self.bases.zh(t_b)), Z_MIN, Z_MAX)
        burst_pop = ExtraPopulation(mass * fb_eff, z_burst, t_b, t_b, birth_cloud=False)
        surviving = mass * ((1 - f_nmf) * surv / total + fb_eff * eng.surviving_fraction(burst_pop))

        # SFR over the last Δ (§11.2): the burst counts fully when younger than Δ.
        within = (1 - fb_eff) * (beta @ self._area_window) / total + f_b * (t_b < SFR_WINDOW_GYR)
        sfr = mass * within / (1e9 * SFR_WINDOW_GYR)

        nmf_z = metal / total
        nmf_t = (beta @ self._area_centre + m_last * c_last) / total
        if cfg.derived_burst == "bin":  # D9: the burst at its bin's centre and ZH value
            kb = np.searchsorted(BIN_EDGES[1:N_FIXED_BINS + 1], t_b, side="right")
            inner = kb < N_FIXED_BINS
            kf = np.minimum(kb, N_FIXED_BINS - 1)
            z_bin = np.clip(np.einsum("ni,in->n", gamma, self._zbase[:, kf]), Z_MIN, Z_MAX)
            burst_z = np.where(inner, z_bin, z_last)
            burst_t = np.where(inner, self._centres[kf], c_last)
        else:
            burst_z, burst_t = z_burst, t_b
        with np.errstate(divide="ignore"):
            return {
                "log_mstar_formed": th[:, 0].copy(),
                "log_mstar_surviving": np.log10(surviving),
                "log_sfr_1gyr": np.log10(sfr),
                "log_z_mw": np.log10((1 - fb_eff) * nmf_z + fb_eff * burst_z),
                "t_mw": (1 - fb_eff) * nmf_t + fb_eff * burst_t,
            }


def _pieces(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts and slopes (B+1, F) of the piecewise-linear functions through (x_b, y_b) (B,),
    (B, F), constant before x_0 and after x_{B-1}: piece p covers x_{p-1} <= x < x_p."""
    slope = np.diff(y, axis=0) / np.diff(x)[:, None]
    intercept = y[:-1] - slope * x[:-1, None]
    flat = np.zeros((1, y.shape[1]))
    return np.concatenate([y[:1], intercept, y[-1:]]), np.concatenate([flat, slope, flat])
