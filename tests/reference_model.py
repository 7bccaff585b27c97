"""Independent scalar float64 reference implementation of the PROVABGS forward model.

Written from ``docs/sps-model.md`` (§1–§11, decisions D1–D9) only, for ONE galaxy per
call, with plain Python loops over bins and no vectorisation tricks, so that the package's
vectorised model (``sedflow_dask.sps.model``) can be checked against it.

Independence rule: nothing from ``sedflow_dask`` is imported here. The SSP table is passed in
by the caller (any object with the ``SSPTable`` attributes ``lum``, ``age_yr``, ``z_abs``,
``zsun``, ``wave_edges``, ``wave``, ``live_frac``, ``lsun_erg_s``), and the three NMF text
files are read from the package data directory with ``numpy.loadtxt``.

Conventions (the package defaults, spec decisions):

* Planck13 from astropy, evaluated exactly (no spline) — §2.
* 43 fixed lookback edges truncated at t_age (strict ``<``), arithmetic bin centres — §3.
* NMF bases: time file reversed, SFH rows re-ordered (2, 0, 1, 3), columns reversed;
  piecewise-linear with linear extrapolation; exact bin averages — §4, §5.1.
* burst at exactly t_b, metallicity clip(γ·Z(t_b)), never birth-cloud attenuated — §5.2.
* D3 "consistent": f = f_b' = f_b·[t_b < t_age] for the NMF scaling; option "provabgs".
* one SSP per bin at the bin centre, linear in log10(age) between bracketing table ages (all
  weight to the youngest node at or below it), linear in ζ = log10(Z/0.019) against
  ζ_j = log10(Z_j/Z_sun,table); D6 "clamp" outside the ζ range (option "linear") — §7.
* D8: a table age node is young iff age ≤ 1e7 yr; young node shares get the birth-cloud
  term; everything gets the KC13 diffuse curve with the tied UV bump — §8.
* observed frame: λ_obs = (1+z) λ, f_λ = L·L_sun / (4π d_L² (1+z)), L_sun = the table's own;
  maggies with speclite's ``get_ab_maggies`` on sdss2010-ugriz (spectrum resampled on a
  0.5 Å grid first, see ``ab_maggies``) — §10.
* derived properties of §11 (D9 "bin" by default, option "exact").
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------
# constants
# ----------------------------------------------------------------------------------------

NMF_DIR = Path(__file__).resolve().parents[1] / "sedflow_dask" / "data" / "provabgs"
SFH_FILE = "NMF_2basis_SFH_components_nowgt_lin_Nc4.txt"
ZH_FILE = "NMF_2basis_Z_components_nowgt_lin_Nc2.txt"
T_FILE = "sfh_t_int.txt"

#: §6: the clip limits exactly as the spec (and upstream's code) writes them. They are the
#: MIST (FSPS v3.2) grid limits 0.0142 × 10^(−2.5, +0.5) as float32 values (FSPS' zlegend), so
#: they differ from the float64 products 0.0142 × 10^±… by ~7e-9 relative.
Z_MIN = 4.49043431e-05
Z_MAX = 4.49043431e-02
#: §7.2 / D5: PROVABGS measures Z against 0.019
Z_SUN_PROVABGS = 0.019
#: §8.1 / D8: a table node is "young" iff age <= 10^7 yr
YOUNG_MAX_YR = 1e7
#: §11.2 averaging window for the SFR
SFR_WINDOW_GYR = 1.0

#: §1.2 box bounds
LOG_GAMMA_LO = math.log10(4.5e-5)
LOG_GAMMA_HI = math.log10(1.5e-2)
BOX_LO = np.array([7.0, 0.0, 0.0, 0.0, 0.0, 0.01, LOG_GAMMA_LO, LOG_GAMMA_LO, 0.0, 0.0, -2.0])
BOX_HI = np.array([12.5, 1.0, 1.0, 1.0, 1.0, 13.27, LOG_GAMMA_HI, LOG_GAMMA_HI, 3.0, 3.0, 1.0])

SDSS_FILTERS = ("sdss2010-u", "sdss2010-g", "sdss2010-r", "sdss2010-i", "sdss2010-z")
PC_CM = 3.0856775814913673e18


# ----------------------------------------------------------------------------------------
# cosmology (§2)
# ----------------------------------------------------------------------------------------

def t_age_gyr(z: float) -> float:
    """Age of the Universe at ``z`` in Gyr, astropy Planck13, exact."""
    from astropy.cosmology import Planck13

    return float(Planck13.age(float(z)).to_value("Gyr"))


def lum_distance_cm(z: float) -> float:
    """Luminosity distance in cm, astropy Planck13, exact."""
    from astropy.cosmology import Planck13

    return float(Planck13.luminosity_distance(float(z)).to_value("cm"))


# ----------------------------------------------------------------------------------------
# lookback-time bins (§3)
# ----------------------------------------------------------------------------------------

def fixed_edges() -> np.ndarray:
    """The 43 fixed edges e_0..e_42 (Gyr)."""
    e = [0.0]
    for m in range(1, 42):
        e.append(10.0 ** (-2.95 + 0.1 * (m - 1)))
    e.append(13.8)
    return np.array(e)


def bin_edges(t_age: float) -> np.ndarray:
    """[all e_m < t_age] + [t_age]; raises if t_age > 13.8 Gyr (bases end there)."""
    if not t_age > 0:
        raise ValueError("t_age must be > 0")
    if t_age > 13.8:
        raise ValueError("t_age > 13.8 Gyr is outside the NMF basis tabulation")
    return np.array([e for e in fixed_edges() if e < t_age] + [t_age])


# ----------------------------------------------------------------------------------------
# NMF bases (§4)
# ----------------------------------------------------------------------------------------

class PiecewiseLinear:
    """Piecewise-linear function through (x_c, y_c), linearly extrapolated with the end segments."""

    def __init__(self, x, y):
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        assert self.x.ndim == 1 and self.x.shape == self.y.shape and np.all(np.diff(self.x) > 0)

    def __call__(self, t: float) -> float:
        x, y = self.x, self.y
        t = float(t)
        if t <= x[0]:
            a = 0
        elif t >= x[-1]:
            a = len(x) - 2
        else:
            a = int(np.searchsorted(x, t, side="right")) - 1
        # the segment [x_a, x_{a+1}] (end segments extended beyond the node range)
        return float(y[a] + (t - x[a]) * (y[a + 1] - y[a]) / (x[a + 1] - x[a]))

    def integral(self, a: float, b: float) -> float:
        """Exact ∫_a^b: trapezoid rule on {a, b} ∪ {nodes strictly inside (a, b)}.

        Exact because the function is linear between consecutive points of that set (the
        extrapolated pieces are continuations of the end segments, linear as well).
        """
        if b < a:
            return -self.integral(b, a)
        pts = [a] + [float(xc) for xc in self.x if a < xc < b] + [b]
        tot = 0.0
        for p, q in zip(pts[:-1], pts[1:]):
            tot += 0.5 * (q - p) * (self(p) + self(q))
        return tot


@lru_cache(maxsize=1)
def nmf_raw():
    """(t ascending (50,), SFH (4, 50) in β order, ZH (2, 50)), per the §4 loading rule."""
    t = np.loadtxt(NMF_DIR / T_FILE)
    sfh = np.loadtxt(NMF_DIR / SFH_FILE)
    zh = np.loadtxt(NMF_DIR / ZH_FILE)
    assert t.shape == (50,) and sfh.shape == (4, 50) and zh.shape == (2, 50)
    t = t[::-1].copy()
    sfh = sfh[:, ::-1][[2, 0, 1, 3], :].copy()
    zh = zh[:, ::-1].copy()
    return t, sfh, zh


def nmf_bases():
    """([B_1..B_4], [Z_1, Z_2]) as PiecewiseLinear callables of lookback time (Gyr)."""
    t, sfh, zh = nmf_raw()
    return [PiecewiseLinear(t, row) for row in sfh], [PiecewiseLinear(t, row) for row in zh]


def bin_averages(edges: np.ndarray) -> np.ndarray:
    """B̄_ik (4, K): exact bin averages of the extrapolated piecewise-linear SFH bases."""
    B, _ = nmf_bases()
    K = len(edges) - 1
    out = np.zeros((4, K))
    for i in range(4):
        for k in range(K):
            out[i, k] = B[i].integral(edges[k], edges[k + 1]) / (edges[k + 1] - edges[k])
    return out


# ----------------------------------------------------------------------------------------
# parameters (§1.3)
# ----------------------------------------------------------------------------------------

def betas_from_u(u1: float, u2: float, u3: float) -> np.ndarray:
    return np.array([1 - u1, u1 * (1 - u2), u1 * u2 * (1 - u3), u1 * u2 * u3])


def u_from_betas(beta) -> np.ndarray:
    """Inverse stick-breaking with u2 = u3 = 0 at the singular points (§1.3)."""
    b1, b2, b3 = float(beta[0]), float(beta[1]), float(beta[2])
    u1 = 1.0 - b1
    u2 = 1.0 - b2 / u1 if u1 > 0 else 0.0
    r = 1.0 - b1 - b2
    u3 = 1.0 - b3 / r if r > 0 else 0.0
    return np.array([u1, u2, u3])


def box_to_physical(tb) -> np.ndarray:
    """One (11,) box vector → (12,) physical vector."""
    tb = np.asarray(tb, dtype=np.float64)
    return np.concatenate([
        [tb[0]], betas_from_u(tb[1], tb[2], tb[3]), [tb[4], tb[5]],
        [10.0 ** tb[6], 10.0 ** tb[7]], tb[8:11],
    ])


def physical_to_box(th) -> np.ndarray:
    th = np.asarray(th, dtype=np.float64)
    return np.concatenate([
        [th[0]], u_from_betas(th[1:5]), [th[5], th[6]],
        [math.log10(th[7]), math.log10(th[8])], th[9:12],
    ])


# ----------------------------------------------------------------------------------------
# SFH, ZH (§5, §6)
# ----------------------------------------------------------------------------------------

def zh_value(t: float, gamma1: float, gamma2: float) -> float:
    """clip(γ1 Z_1(t) + γ2 Z_2(t), Z_min, Z_max) at lookback time t (point evaluation)."""
    _, Zb = nmf_bases()
    return min(max(gamma1 * Zb[0](t) + gamma2 * Zb[1](t), Z_MIN), Z_MAX)


def burst_bin(edges: np.ndarray, t_b: float) -> int:
    """k_b with edges_k <= t_b < edges_{k+1}; -1 when t_b >= t_age."""
    for k in range(len(edges) - 1):
        if edges[k] <= t_b < edges[k + 1]:
            return k
    return -1


def nmf_sfh(beta, edges):
    """(ŝ_k [1/yr] normalised to 1 M_sun over [0, t_age], m̂_k (Σ = 1))."""
    Bbar = bin_averages(edges)
    dt = np.diff(edges)
    s = np.array([sum(beta[i] * Bbar[i, k] for i in range(4)) for k in range(len(dt))])
    norm = sum(1e9 * dt[k] * s[k] for k in range(len(dt)))
    shat = s / norm
    return shat, 1e9 * dt * shat


# ----------------------------------------------------------------------------------------
# SSP interpolation (§7)
# ----------------------------------------------------------------------------------------

def age_weights(age_yr: float, table_ages_yr) -> list[tuple[int, float]]:
    """Linear-in-log10(age) weights between the bracketing table ages A_a <= age < A_{a+1}."""
    A = np.asarray(table_ages_yr, dtype=np.float64)
    if age_yr <= A[0]:
        return [(0, 1.0)]
    if age_yr > A[-1]:
        raise ValueError(f"age {age_yr} yr beyond the table ({A[-1]} yr)")
    if age_yr == A[-1]:
        return [(len(A) - 1, 1.0)]
    a = int(np.searchsorted(A, age_yr, side="right")) - 1  # A[a] <= age < A[a+1]
    lo, hi, x = math.log10(A[a]), math.log10(A[a + 1]), math.log10(age_yr)
    w_lo = (hi - x) / (hi - lo)
    return [(a, w_lo), (a + 1, 1.0 - w_lo)]


def zeta_weights(Z: float, z_abs, zsun_table: float, extrapolation: str = "clamp"):
    """Weights over table metallicity nodes, linear in ζ = log10(Z/0.019) vs log10(Z_j/Z_sun,table)."""
    zeta_nodes = [math.log10(zj / zsun_table) for zj in z_abs]
    zeta = math.log10(Z / Z_SUN_PROVABGS)
    J = len(zeta_nodes)
    if zeta <= zeta_nodes[0]:
        if extrapolation == "clamp":
            return [(0, 1.0)]
        j = 0
    elif zeta >= zeta_nodes[-1]:
        if extrapolation == "clamp":
            return [(J - 1, 1.0)]
        j = J - 2
    else:
        j = max(jj for jj in range(J - 1) if zeta_nodes[jj] <= zeta)
    w_lo = (zeta_nodes[j + 1] - zeta) / (zeta_nodes[j + 1] - zeta_nodes[j])
    return [(j, w_lo), (j + 1, 1.0 - w_lo)]


def ssp(age_gyr: float, Z: float, table, extrapolation: str = "clamp", young_max_yr: float = YOUNG_MAX_YR,
        age_interval: tuple[float, float] | None = None):
    """(young (W,), old (W,), μ): the interpolated SSP per M_sun formed, split by node age.

    With ``age_interval`` = (t_lo, t_hi) [Gyr] the SSP is time-averaged over that interval
    instead of evaluated at ``age_gyr`` (``ssp_age_rule = "average"``).
    """
    W = table.lum.shape[2]
    young = np.zeros(W)
    old = np.zeros(W)
    mu = 0.0
    if age_interval is None:
        aw = age_weights(age_gyr * 1e9, table.age_yr)
    else:
        aw = sorted(age_average_weights(age_interval[0], age_interval[1], table.age_yr).items())
    zw = zeta_weights(Z, table.z_abs, float(table.zsun), extrapolation)
    for a, wa in aw:
        for j, wz in zw:
            w = wa * wz
            spec = w * np.asarray(table.lum[a, j, :], dtype=np.float64)
            if float(table.age_yr[a]) <= young_max_yr:
                young += spec
            else:
                old += spec
            mu += w * float(table.live_frac[a, j])
    return young, old, mu


def age_average_weights(t_lo_gyr: float, t_hi_gyr: float, table_ages_yr, n_gauss: int = 12) -> dict[int, float]:
    """Weights of the SSP time-averaged over [t_lo, t_hi] (Gyr): (1/Δt) ∫ w_a(t) dt.

    ``ssp_age_rule = "average"``. Gauss–Legendre on every sub-interval between consecutive
    break points (bin edges and table ages): the point weights are smooth (linear in ln t, or
    constant below the youngest node) inside each, so the quadrature converges to ~1e-15.
    """
    A = np.asarray(table_ages_yr, dtype=np.float64)
    lo, hi = t_lo_gyr * 1e9, t_hi_gyr * 1e9
    if not hi > lo:
        return dict(age_weights(lo, A))
    br = [lo] + [float(a) for a in A if lo < a < hi] + [hi]
    x, w = np.polynomial.legendre.leggauss(n_gauss)
    out: dict[int, float] = {}
    for p, q in zip(br[:-1], br[1:]):
        for xi, wi in zip(x, w):
            t = 0.5 * (p + q) + 0.5 * (q - p) * xi
            for a, wa in age_weights(t, A):
                out[a] = out.get(a, 0.0) + 0.5 * (q - p) * wi * wa / (hi - lo)
    return out


def young_share(age_gyr: float, table_ages_yr, young_max_yr: float = YOUNG_MAX_YR) -> float:
    """Fraction of a bin SSP's age weight on young nodes (§8.1)."""
    return sum(w for a, w in age_weights(age_gyr * 1e9, table_ages_yr) if table_ages_yr[a] <= young_max_yr)


# ----------------------------------------------------------------------------------------
# dust (§8)
# ----------------------------------------------------------------------------------------

def kc13_tau(lam: float, n: float) -> float:
    """τ_ISM(λ)/τ_ISM of the Kriek & Conroy (2013) curve as coded in FSPS (§8.3), λ in Å."""
    lam = float(lam)
    x = 1e4 / lam
    if lam <= 6300.0:
        k = 1.17 * (-2.156 + 1.509 * x - 0.198 * x * x + 0.011 * x * x * x) + 1.78
    else:
        k = 1.17 * (-1.857 + 1.040 * x) + 1.78
    C = max(k / (0.44 * 4.05), 0.0)
    Eb = 0.85 - 1.9 * n
    lw2 = (lam * 350.0) ** 2
    D = Eb * lw2 / ((lam * lam - 2175.0 * 2175.0) ** 2 + lw2)
    return (C + D / 4.05) * (lam / 5500.0) ** n


def bc_tau(lam: float) -> float:
    """τ_BC(λ)/τ_BC = (λ/5500)^−1 (§8.2)."""
    return 5500.0 / float(lam)


# ----------------------------------------------------------------------------------------
# photometry (§10)
# ----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _filters():
    import speclite.filters

    return speclite.filters.load_filters(*SDSS_FILTERS)


#: Spacing [Å] of the grid the spectrum is handed to speclite on (see ``ab_maggies``).
SPECLITE_SAMPLING_AA = 0.5


def ab_maggies(wave_obs, flam) -> np.ndarray:
    """speclite maggies (5,) of an observed-frame f_λ [erg/s/cm²/Å] on λ_obs [Å]; zero padded.

    The spectrum is linear between its samples; it is handed to speclite resampled on a
    ``SPECLITE_SAMPLING_AA`` grid (exact for a piecewise-linear spectrum), because speclite's
    trapezoid on the union of a 10 Å spectrum grid and the filter grid is itself off by up to
    1e-3 in u on steep spectra. The AB normalisation is speclite's ``ab_zeropoint``.
    """
    import astropy.units as u

    filt = _filters()
    w0 = np.asarray(wave_obs, dtype=np.float64)
    w = np.arange(w0[0], w0[-1], SPECLITE_SAMPLING_AA)
    f = np.interp(w, w0, np.asarray(flam, dtype=np.float64))
    lo = min(fi.wavelength.min() for fi in filt)
    hi = max(fi.wavelength.max() for fi in filt)
    if w[0] > lo:
        w = np.concatenate([[lo - 1.0, w[0] - 1e-3], w])
        f = np.concatenate([[0.0, 0.0], f])
    if w[-1] < hi:
        w = np.concatenate([w, [w[-1] + 1e-3, hi + 1.0]])
        f = np.concatenate([f, [0.0, 0.0]])
    tab = filt.get_ab_maggies(f * u.erg / (u.s * u.cm**2 * u.Angstrom), w * u.Angstrom)
    return np.array([float(tab[name][0]) for name in tab.colnames])


def ab_maggies_exact(wave_obs, flam) -> np.ndarray:
    """Maggies (5,) with exact quadrature, for the same spectrum model speclite uses.

    The spectrum is linear between its samples (zero outside them) and each filter response is
    linear between its tabulated points, so on every interval of the union grid the integrand
    f_λ R λ is a cubic: 3-point Gauss–Legendre integrates it exactly. The AB denominator
    3631 Jy · c ∫ R/λ dλ is integrated analytically (R linear: ∫ (a + bλ)/λ = a ln + b Δ).
    """
    w = np.asarray(wave_obs, dtype=np.float64)
    f = np.asarray(flam, dtype=np.float64)
    gx, gw = np.polynomial.legendre.leggauss(3)
    out = []
    for filt in _filters():
        fw = np.asarray(filt.wavelength, dtype=np.float64)
        fr = np.asarray(filt.response, dtype=np.float64)
        grid = np.union1d(fw, w[(w > fw[0]) & (w < fw[-1])])
        num = 0.0
        for p, q in zip(grid[:-1], grid[1:]):
            for xi, wi in zip(gx, gw):
                lam = 0.5 * (p + q) + 0.5 * (q - p) * xi
                fl = np.interp(lam, w, f, left=0.0, right=0.0)
                num += 0.5 * (q - p) * wi * fl * np.interp(lam, fw, fr) * lam
        den = 0.0
        for (p, rp), (q, rq) in zip(zip(fw[:-1], fr[:-1]), zip(fw[1:], fr[1:])):
            b = (rq - rp) / (q - p)
            a = rp - b * p
            den += a * math.log(q / p) + b * (q - p)
        den *= 3631e-23 * 2.99792458e18
        out.append(num / den)
    return np.array(out)


def rest_frame_abs_mags(wave, lum, lsun: float) -> np.ndarray:
    """Absolute AB magnitudes (5,) of a rest-frame L_λ [L_sun/Å] placed at 10 pc, no redshift."""
    flam = np.asarray(lum) * lsun / (4 * math.pi * (10 * PC_CM) ** 2)
    return -2.5 * np.log10(ab_maggies(wave, flam))


# ----------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------

def reference_sed(
    theta_phys,
    z: float,
    table,
    *,
    burst_convention: str = "consistent",
    metallicity_extrapolation: str = "clamp",
    derived_burst: str = "bin",
    ssp_age_rule: str = "centre",
    lsun: float | None = None,
    young_max_yr: float = YOUNG_MAX_YR,
    photometry: bool = True,
) -> dict:
    """Evaluate the model for one galaxy (12 physical parameters, redshift z > 0)."""
    th = np.asarray(theta_phys, dtype=np.float64)
    if th.shape != (12,):
        raise ValueError("theta_phys must have shape (12,)")
    if not np.all(np.isfinite(th)) or not z > 0:
        raise ValueError("non-finite theta or z <= 0")
    logM = th[0]
    beta = th[1:5]
    fb, tb, g1, g2, tau_bc, tau_ism, n = th[5:12]
    if burst_convention not in ("consistent", "provabgs"):
        raise ValueError(burst_convention)
    if ssp_age_rule not in ("centre", "average"):
        raise ValueError(ssp_age_rule)
    M = 10.0**logM

    t_age = t_age_gyr(z)
    dL = lum_distance_cm(z)
    edges = bin_edges(t_age)
    K = len(edges) - 1
    dt = np.diff(edges)
    cen = 0.5 * (edges[:-1] + edges[1:])

    shat, mhat = nmf_sfh(beta, edges)
    fb_eff = fb if tb < t_age else 0.0
    f_nmf = fb_eff if burst_convention == "consistent" else fb
    kb = burst_bin(edges, tb)

    # §5.3 full SFH (always with f_b')
    sfh = M * (1.0 - fb_eff) * shat
    if fb_eff > 0:
        sfh[kb] += M * fb_eff / (1e9 * dt[kb])
    zh = np.array([zh_value(c, g1, g2) for c in cen])
    Zb = zh_value(tb, g1, g2)

    # §7–§9 spectrum. The table's values are 10 Å bin averages; like the package, the
    # reference treats them as samples at the bin centres (dust curves evaluated there, and
    # linear interpolation between centres for the photometry).
    wave = np.asarray(table.wave, dtype=np.float64)
    W = len(wave)
    t_ism = np.array([tau_ism * kc13_tau(l, n) for l in wave])
    t_bc = np.array([tau_bc * bc_tau(l) for l in wave])
    att_ism = np.exp(-t_ism)
    att_bc = np.exp(-t_bc)
    L_nmf = np.zeros(W)
    L_nmf_intr = np.zeros(W)
    mu_nmf = 0.0
    young_frac = np.zeros(K)
    for k in range(K):
        interval = None if ssp_age_rule == "centre" else (edges[k], edges[k + 1])
        y, o, mu = ssp(cen[k], zh[k], table, metallicity_extrapolation, young_max_yr, interval)
        L_nmf += mhat[k] * att_ism * (att_bc * y + o)
        L_nmf_intr += mhat[k] * (y + o)
        mu_nmf += mhat[k] * mu
        young_frac[k] = young_share(cen[k], table.age_yr, young_max_yr)  # diagnostic (centre rule)
    if tb < t_age:
        y, o, mu_b = ssp(tb, Zb, table, metallicity_extrapolation, young_max_yr)
        L_b_intr = y + o
    else:
        L_b_intr, mu_b = np.zeros(W), 0.0
    L_b = att_ism * L_b_intr
    lum = M * ((1.0 - f_nmf) * L_nmf + fb_eff * L_b)
    lum_intr = M * ((1.0 - f_nmf) * L_nmf_intr + fb_eff * L_b_intr)

    # §11 derived
    m_surv = M * ((1.0 - f_nmf) * mu_nmf + fb_eff * mu_b)
    kstar = burst_bin(edges, SFR_WINDOW_GYR)
    F = sum(mhat[k] for k in range(kstar)) + 1e9 * (SFR_WINDOW_GYR - edges[kstar]) * shat[kstar]
    Fp = (1.0 - fb_eff) * F + (fb if tb < SFR_WINDOW_GYR else 0.0)
    sfr = M * Fp / (1e9 * SFR_WINDOW_GYR)
    mass_k = 1e9 * dt * sfh
    if derived_burst == "bin":
        z_mw = float(np.sum(mass_k * zh)) / M
        t_mw = float(np.sum(mass_k * cen)) / M
    elif derived_burst == "exact":
        mass_nmf = M * (1.0 - fb_eff) * mhat
        z_mw = (float(np.sum(mass_nmf * zh)) + M * fb_eff * Zb) / M
        t_mw = (float(np.sum(mass_nmf * cen)) + M * fb_eff * tb) / M
    else:
        raise ValueError(derived_burst)

    # §10 observed frame
    Ls = float(table.lsun_erg_s) if lsun is None else float(lsun)
    wave_obs = (1.0 + z) * wave
    flam = lum * Ls / (4.0 * math.pi * dL * dL * (1.0 + z))
    out = {
        "wave": wave,
        "lum_rest": lum,
        "lum_intrinsic": lum_intr,
        "wave_obs": wave_obs,
        "flam_obs": flam,
        "edges": edges,
        "centres": cen,
        "shat": shat,
        "mhat": mhat,
        "sfh": sfh,
        "zh": zh,
        "z_burst": Zb,
        "burst_bin": kb,
        "fb_eff": fb_eff,
        "young_frac": young_frac,
        "t_age": t_age,
        "d_l_cm": dL,
        "log_mstar_formed": float(logM),
        "log_mstar_surviving": math.log10(m_surv),
        "mstar_surviving": m_surv,
        "sfr_1gyr": sfr,
        "z_mw": z_mw,
        "t_mw": t_mw,
    }
    if photometry:
        out["maggies"] = ab_maggies(wave_obs, flam)
        out["maggies_exact"] = ab_maggies_exact(wave_obs, flam)
    return out


def reference_single_ssp(age_gyr: float, Z: float, table, extrapolation: str = "clamp") -> np.ndarray:
    """Intrinsic L_λ per M_sun formed of one SSP (young + old node shares together)."""
    y, o, _ = ssp(age_gyr, Z, table, extrapolation)
    return y + o


# ----------------------------------------------------------------------------------------
# a synthetic SSP table (for tests that must not depend on the shipped BC03 data)
# ----------------------------------------------------------------------------------------

def synthetic_table(seed: int = 1, n_age: int = 120, wave_step: float = 10.0):
    """A made-up but table-shaped SSPTable on the shipped 2400–11200 Å grid.

    Irregular log-age nodes (with one exactly at 1e7 yr), the BC03 metallicities, smooth
    age/Z-dependent continua times pixel-level random "absorption features", and a declining
    surviving-mass fraction. Values are positive and finite, float32 as in a real table.
    Only ``SSPTable`` (a data class) is taken from the package.
    """
    from sedflow_dask.sps.ssp_table import SSPTable

    rng = np.random.default_rng(seed)
    edges = np.arange(2400.0, 11200.0 + 0.5 * wave_step, wave_step)
    wave = 0.5 * (edges[1:] + edges[:-1])
    la = np.sort(np.concatenate([rng.uniform(5.0, 10.146, n_age - 3), [5.0, 7.0, math.log10(14e9)]]))
    age = 10.0**la
    age[np.argmin(np.abs(la - 7.0))] = 1e7
    z_abs = np.array([1e-4, 4e-4, 4e-3, 8e-3, 0.02, 0.05, 0.1])
    zeta = np.log10(z_abs / 0.02)
    x = np.log(wave / 5500.0)
    feat = 1.0 - 0.3 * rng.random(wave.size) ** 4
    lum = np.empty((age.size, z_abs.size, wave.size))
    for a, lga in enumerate(la):
        for j, zt in enumerate(zeta):
            slope = -2.6 + 0.55 * (lga - 5.0) + 0.25 * zt
            curv = -0.2 - 0.05 * (lga - 5.0)
            norm = 10.0 ** (1.5 - 0.9 * (lga - 5.0) - 0.05 * zt)
            depth = 0.3 + 0.1 * zt + 0.05 * (lga - 5.0)
            lum[a, j] = norm * np.exp(slope * x + curv * x * x) * (1.0 - depth * (1.0 - feat))
    live = np.clip(1.0 - 0.12 * np.clip(la - 6.5, 0.0, None)[:, None] + 0.01 * zeta[None, :], 0.3, 1.0)
    meta = {
        "format": "sedflow-ssp-table",
        "format_version": 1,
        "zsun": 0.02,
        "lsun_erg_s": 3.826e33,
        "units": "L_sun/Angstrom per M_sun formed",
        "live_frac_definition": "synthetic",
        "sha256": "synthetic",
        "source": "synthetic (tests/reference_model.py)",
    }
    return SSPTable(lum=lum.astype(np.float32), age_yr=age, z_abs=z_abs, wave_edges=edges,
                    live_frac=live.astype(np.float32), meta=meta)
