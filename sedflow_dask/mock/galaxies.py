"""The astrophysics of the mock: galaxies from the forward model, their noise and the golden rows.

Pure numpy given the forward model and the noise model; ``docs/mock-nsa.md`` states what is
drawn and why (the truncations that keep ordinary galaxies inside the training support, and the
redraws that make the out-of-support labels exact).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammainc, gammaincinv, ndtr, ndtri

from ..noise.model import NoiseModel
from ..photometry import (
    COLOUR_PAIRS,
    N_BANDS,
    colours,
    flux_to_mag,
    ivar_from_sigma_mag,
    mag_to_flux,
    sigma_flux_from_mag,
)
from ..sps.parameters import BOX_LOWER, BOX_UPPER, N_BOX, draw_box_prior
from ..survey.sdss import KCORRECT_FLOORS
from .labels import stream_rng

# Redshift: Gamma(3, 0.012) truncated to [Z_MIN, Z_MAX[version]].
Z_GAMMA_SHAPE = 3.0
Z_GAMMA_SCALE = 0.012
Z_MIN = 0.002
Z_MAX: dict[str, float] = {"v1_0_1": 0.15, "v0_1_2": 0.055}

#: Target r magnitude mixture: (weight, kind, lo, hi).
R_MIXTURE: tuple[tuple[float, str, float, float], ...] = (
    (0.85, "exp0.5", 13.0, 17.77),
    (0.10, "uniform", 10.0, 13.0),
    (0.05, "uniform", 17.77, 20.5),
)

#: Ordinary σ_m is kept at least this relative margin above the floor, so that σ recomputed
#: from the float32 flux and ivar (relative error ~1e-7) is still >= the floor.
FLOOR_MARGIN = 1e-6
#: Ordinary σ_m is truncated at μ + ORDINARY_SIGMA_MAX · s (the paper's outlier test is μ + 3 s,
#: evaluated at the noisy magnitude, hence the margin).
ORDINARY_SIGMA_MAX = 2.5
#: Noise outliers: one band's σ_m × U(5, 20), and at least this factor above μ + 3 s.
NOISE_OUTLIER_FACTOR = (5.0, 20.0)
NOISE_OUTLIER_MIN_EXCESS = 1.5
#: Margins of the label check at the noisy magnitudes: ordinary rows stay below μ + 2.9 s and
#: 0.01 mag above the colour limits, outliers beyond μ + 3.1 s and 0.01 mag below them.
OOS_MARGIN_SIGMA = 0.1
OOS_MARGIN_COLOUR = 0.01
#: Draws of σ_m and noise per row before a row whose observed values disagree with its
#: out-of-support label is kept anyway (with a warning); a handful suffice in practice.
MAX_OBSERVE_ATTEMPTS = 50
#: Redraws of a non-positive noisy flux before its absolute value is kept (with a warning).
MAX_FLUX_REDRAWS = 100
#: Rounds of candidate galaxies for one block before generation stops with an error; each round
#: draws enough candidates for the rows still missing at the acceptance rate seen so far.
MAX_CANDIDATE_ROUNDS = 200

#: u−g and i−z are set this much [mag] bluer than the training 0.1th percentile (plus U(0, 0.3)):
#: several times the colour noise at the magnitudes involved, so the ingest's OOS_COLOR test
#: flags them whatever the seed. ("3σ bluer than the mean" can stay inside the support; the
#: intent, bluer than the training data, is what is kept.)
COLOUR_OUTLIER_MARGIN = (0.3, 0.6)
COLOUR_QUANTILE = 0.001
REFERENCE_SAMPLE = 65_536
#: Fixed seed of the training-like reference sample: every mock shares the same colour limits.
REFERENCE_SEED = 20220315

#: The first golden row (``docs/nsa-ingest.md`` §5), appended with NSAID n: fluxes [nmgy],
#: ivars [nmgy⁻²], z; σ_r ≈ 0.116, a clear noise outlier.
GOLDEN_1 = {
    "flux": (35.560593, 91.709236, 139.84373, 169.70816, 194.97598),
    "ivar": (0.22200741, 0.30760366, 0.00446658, 0.05008115, 0.01728794),
    "z": 0.0351418,
}
#: The second (NSAID n + 1): the paper's conditioning vector x = (m_ugriz, σ_ugriz, z); σ_i =
#: 0.177 (the paper's sampler timed out on it).
GOLDEN_2_X = (18.714787, 18.016953, 17.825827, 17.731255, 17.677258,
              0.08050386, 0.02300007, 0.02354047, 0.17673106, 0.06297234, 0.02071856)


def draw_redshifts(n: int, rng: np.random.Generator, z_max: float) -> np.ndarray:
    """(n,) Gamma(3, 0.012) truncated to [Z_MIN, z_max] by inverse CDF, rounded to float32 values."""
    lo, hi = gammainc(Z_GAMMA_SHAPE, Z_MIN / Z_GAMMA_SCALE), gammainc(Z_GAMMA_SHAPE, z_max / Z_GAMMA_SCALE)
    z = Z_GAMMA_SCALE * gammaincinv(Z_GAMMA_SHAPE, lo + (hi - lo) * rng.random(n))
    # Stored as float32 'E': the forward model must see the value the catalog holds.
    return np.clip(z, Z_MIN, z_max).astype(np.float32).astype(np.float64)


def draw_r_targets(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) target r magnitudes [AB] from :data:`R_MIXTURE`."""
    weights = np.array([w for w, *_ in R_MIXTURE])
    comp = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right")
    u = rng.random(n)
    r = np.empty(n)
    for k, (_, kind, lo, hi) in enumerate(R_MIXTURE):
        sel = comp == k
        if kind == "uniform":
            r[sel] = lo + (hi - lo) * u[sel]
        else:  # p(r) ∝ 10^(0.5 r): inverse CDF of an exponential in r
            b = 0.5 * np.log(10.0)
            r[sel] = np.log(np.exp(b * lo) + u[sel] * (np.exp(b * hi) - np.exp(b * lo))) / b
    return r


def truncated_normal(mu: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """N(mu, s) truncated to [lo, hi] by inverse CDF (s = 0 or an empty window: mu clipped)."""
    mu, s = np.broadcast_arrays(np.asarray(mu, float), np.asarray(s, float))
    lo, hi = np.broadcast_to(lo, mu.shape), np.broadcast_to(hi, mu.shape)
    u = rng.random(mu.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = ndtr((lo - mu) / s), ndtr((hi - mu) / s)
        x = mu + s * ndtri(a + u * (b - a))
    fallback = ~(s > 0) | ~(b - a > 1e-12) | ~np.isfinite(x)
    return np.clip(np.where(fallback, mu, x), lo, hi)


def reference_colour_quantiles(model, noise_model: NoiseModel, n: int = REFERENCE_SAMPLE,
                               quantile: float = COLOUR_QUANTILE, seed: int = REFERENCE_SEED) -> np.ndarray:
    """The 10 ugriz colours' ``quantile`` in a training-like sample [mag].

    Prior θ, z ~ U(1e-4, 0.2], noiseless fluxes, σ' ~ N(μ, s), f̂ = f + N(0, 0.921 f σ'), rows
    dropped by the paper's rules (range, σ' < 0, f̂ <= 0), colours of the noisy magnitudes —
    what ``sedflow simulate`` records as its training colour quantiles. Estimated from ``n`` draws
    (~1/3 kept), so good to a few hundredths of a magnitude; pass a training set's own
    quantiles to :func:`~sedflow_dask.mock.generate.plan_mock_nsa` instead where one exists.
    """
    rng = stream_rng(seed, 0)
    theta, z = draw_box_prior(n, rng)
    f = model.photometry(theta, z, space="box", unit="nanomaggies")
    m = flux_to_mag(f)
    sigma = noise_model.draw_sigmas(np.nan_to_num(m, nan=99.0), rng)
    f_obs = f + sigma_flux_from_mag(f, np.abs(sigma)) * rng.standard_normal(f.shape)
    keep = noise_model.in_range(m) & np.all(sigma >= 0, axis=1) & np.all(f_obs > 0, axis=1)
    return np.quantile(colours(flux_to_mag(f_obs[keep])), quantile, axis=0)


def shipped_colour_quantiles(model, noise_model: NoiseModel) -> np.ndarray | None:
    """The default training set's colour quantiles shipped with the package, if they apply.

    They apply when that training set used the same noise model, SSP table and forward-model
    options (its provenance records their hashes and the ``sps`` options); then the mock's
    ordinary galaxies sit inside exactly the support ``sedflow ingest`` tests by default.
    """
    try:
        from ..simulate.io import DEFAULT_QUANTILES_PATH, training_colour_quantiles

        prov = json.loads(Path(DEFAULT_QUANTILES_PATH).read_text()).get("provenance", {})
        table = getattr(model, "table", None)
        config = getattr(model, "config", None)
        if (prov.get("noise_sha256") != noise_model.sha256()
                or table is None or prov.get("ssp_sha256") != table.sha256
                or config is None or prov.get("sps") != config.to_dict()):
            return None
        return training_colour_quantiles(DEFAULT_QUANTILES_PATH)
    except (ImportError, OSError, ValueError, AttributeError, KeyError):
        return None


@dataclass(frozen=True)
class Galaxies:
    """A block's accepted galaxies (B rows).

    Attributes:
        theta_box: (B, 11) parameters in box space, log_mstar shifted to the target r.
        z: (B,) redshifts (float32 values).
        flux_true: (B, 5) noiseless ugriz fluxes [nmgy] (a colour outlier's modified ones).
        r_target: (B,) drawn r magnitudes [AB].
    """

    theta_box: np.ndarray
    z: np.ndarray
    flux_true: np.ndarray
    r_target: np.ndarray


def draw_galaxies(model: Any, noise_model: NoiseModel, colour_quantiles: np.ndarray, z_max: float,
                  colour_rows: np.ndarray, rng: np.random.Generator) -> Galaxies:
    """Accepted galaxies for a block: ordinary rows and colour-outlier rows (``colour_rows``).

    Candidates (prior θ, z, target r) are drawn in rounds sized by the acceptance seen so far;
    RuntimeError with the counts when :data:`MAX_CANDIDATE_ROUNDS` rounds do not fill the block.

    Args:
        model: the forward model (``PROVABGSModel``).
        noise_model: its valid magnitude range bounds the candidates.
        colour_quantiles: (10,) training colour 0.1th percentiles [mag].
        z_max: largest redshift.
        colour_rows: (B,) bool, the rows to fill with colour outliers.
        rng: the block's candidate stream.
    """
    b = colour_rows.size
    need_ord, need_col = int(np.sum(~colour_rows)), int(np.sum(colour_rows))
    q = colour_quantiles
    (i_ug,), (i_iz,) = (np.flatnonzero([p == pair for p in COLOUR_PAIRS]) for pair in ((0, 1), (3, 4)))
    got_ord: list[tuple] = []
    got_col: list[tuple] = []
    n_ord = n_col = n_drawn = 0
    accept = 0.6
    for _round in range(MAX_CANDIDATE_ROUNDS):
        if n_ord >= need_ord and n_col >= need_col:
            break
        missing = max(need_ord - n_ord, 0) + max(need_col - n_col, 0)
        m = int(missing / accept * 1.1) + 64
        n_drawn += m
        theta, _ = draw_box_prior(m, rng)
        z = draw_redshifts(m, rng, z_max)
        r_target = draw_r_targets(m, rng)
        margin = rng.uniform(*COLOUR_OUTLIER_MARGIN, size=(m, 2))
        flux = model.photometry(theta, z, space="box", unit="nanomaggies")
        mag = flux_to_mag(flux)
        delta = 0.4 * (mag[:, 2] - r_target)          # dex of mass that brings r to its target
        theta[:, 0] += delta
        flux *= 10.0 ** delta[:, None]
        mag -= 2.5 * delta[:, None]
        ok_mass = (theta[:, 0] >= BOX_LOWER[0]) & (theta[:, 0] <= BOX_UPPER[0])
        col = colours(mag)
        ok_ord = ok_mass & noise_model.in_range(mag) & np.all(col >= q, axis=1)
        # Colour outlier: u brighter and z fainter until u−g and i−z are well below the
        # training 0.1th percentiles; every colour involving u or z gets bluer too.
        d_u = col[:, i_ug] - (np.minimum(col[:, i_ug], q[i_ug]) - margin[:, 0])
        d_z = col[:, i_iz] - (np.minimum(col[:, i_iz], q[i_iz]) - margin[:, 1])
        mag_col = mag.copy()
        mag_col[:, 0] -= d_u
        mag_col[:, 4] += d_z
        ok_col = ok_mass & noise_model.in_range(mag_col)
        flux_col = flux.copy()
        flux_col[:, 0] *= 10.0 ** (0.4 * d_u)
        flux_col[:, 4] *= 10.0 ** (-0.4 * d_z)
        io = np.flatnonzero(ok_ord)[: max(need_ord - n_ord, 0)]
        ok_col[io] = False                                   # a candidate serves one row only
        ic = np.flatnonzero(ok_col)[: max(need_col - n_col, 0)]
        got_ord.append((theta[io], z[io], flux[io], r_target[io]))
        got_col.append((theta[ic], z[ic], flux_col[ic], r_target[ic]))
        n_ord += io.size
        n_col += ic.size
        accept = max(np.mean(ok_ord), 0.05)
    else:
        if n_ord < need_ord or n_col < need_col:
            raise RuntimeError(
                f"mock galaxies: {MAX_CANDIDATE_ROUNDS} rounds of candidates ({n_drawn} drawn) filled "
                f"{n_ord} of {need_ord} ordinary rows and {n_col} of {need_col} colour-outlier rows; the "
                f"noise model's magnitude range or the colour limits leave too little of the prior")
    theta_box = np.empty((b, N_BOX))
    z = np.empty(b)
    flux_true = np.empty((b, N_BANDS))
    r_target = np.empty(b)
    for rows, parts in ((~colour_rows, got_ord), (colour_rows, got_col)):
        if not parts:
            continue
        theta_box[rows] = np.concatenate([p[0] for p in parts])
        z[rows] = np.concatenate([p[1] for p in parts])
        flux_true[rows] = np.concatenate([p[2] for p in parts])
        r_target[rows] = np.concatenate([p[3] for p in parts])
    return Galaxies(theta_box=theta_box, z=z, flux_true=flux_true, r_target=r_target)


def golden_photometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2, 5) fluxes [nmgy], (2, 5) ivars [nmgy⁻²] and (2,) redshifts of the golden rows, float32 as written."""
    x = np.asarray(GOLDEN_2_X, dtype=np.float64)
    f2 = mag_to_flux(x[:5])
    flux = np.stack([np.asarray(GOLDEN_1["flux"]), f2]).astype(np.float32)
    ivar = np.stack([np.asarray(GOLDEN_1["ivar"]),
                     ivar_from_sigma_mag(f2, x[5:10])]).astype(np.float32)
    return flux, ivar, np.array([GOLDEN_1["z"], x[10]], dtype=np.float32)


def observe(noise_model: NoiseModel, colour_quantiles: np.ndarray, flux_true: np.ndarray, m_true: np.ndarray,
            noisy: np.ndarray, noisy_band: np.ndarray, colour_rows: np.ndarray, golden: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σ_m (drawn), σ_m (reported) and the noisy fluxes of a block's galaxies, each (B, 5).

    σ_m comes from the noise model truncated to [floor, μ + 2.5 s]; noise outliers report one
    band's σ_m × U(5, 20) (at least 1.5 (μ + 3 s)). The flux scatter uses the drawn σ (what
    is inflated is the *reported* error), so ordinary measurements stay positive; f̂ <= 0 is
    redrawn. Rows whose observed values would disagree with their label under the paper's
    tests at the *noisy* magnitudes (σ > μ + 3 s, a colour below the training 0.1th
    percentile; the galaxy's own noise can push a faint u band across) are redrawn too, with a
    small margin, so that the out-of-support labels hold for the plan's noise model. Either
    redraw that runs out of attempts warns with the number of rows it left as they were.

    Args:
        noise_model, colour_quantiles: the plan's.
        flux_true, m_true: (B, 5) noiseless fluxes [nmgy] and magnitudes [AB].
        noisy, noisy_band: (K,) rows that are noise outliers and the band each inflates.
        colour_rows, golden: (B,) bool, colour-outlier and golden rows (golden rows are not redrawn).
        rng: the block's observation stream.
    """
    nm, q = noise_model, colour_quantiles
    b = flux_true.shape[0]
    floors = np.asarray(KCORRECT_FLOORS)[None, :]
    mu, s = nm.sigma_median(m_true), nm.sigma_scatter(m_true)
    lo = np.broadcast_to(floors * (1.0 + FLOOR_MARGIN), mu.shape)
    hi = np.maximum(mu + ORDINARY_SIGMA_MAX * s, lo)
    factor = rng.uniform(*NOISE_OUTLIER_FACTOR, size=noisy.size)
    want_noise = np.zeros(b, bool)
    want_noise[noisy] = True
    sigma = np.empty_like(mu)
    sigma_rep = np.empty_like(mu)
    f_obs = np.empty_like(mu)
    todo = np.arange(b)
    kept_abs = np.zeros(b, bool)   # rows holding |f̂| of a flux still <= 0 after its redraws
    for _attempt in range(MAX_OBSERVE_ATTEMPTS):
        sigma[todo] = truncated_normal(mu[todo], s[todo], lo[todo], hi[todo], rng)
        sigma_rep[todo] = sigma[todo]
        sel = np.isin(noisy, todo)
        rows, bands = noisy[sel], noisy_band[sel]
        sigma_rep[rows, bands] = np.maximum(sigma[rows, bands] * factor[sel],
                                            NOISE_OUTLIER_MIN_EXCESS * (mu[rows, bands] + 3.0 * s[rows, bands]))
        sigma_f = sigma_flux_from_mag(flux_true[todo], sigma[todo])
        f = flux_true[todo] + sigma_f * rng.standard_normal(sigma_f.shape)
        for _ in range(MAX_FLUX_REDRAWS):
            bad = ~(f > 0)
            if not bad.any():
                break
            f[bad] = flux_true[todo][bad] + sigma_f[bad] * rng.standard_normal(int(bad.sum()))
        kept_abs[todo] = np.any(~(f > 0), axis=1)
        f_obs[todo] = np.abs(f)
        m_obs = flux_to_mag(f_obs[todo])
        sig = sigma_rep[todo]
        is_noise = nm.noise_outlier(m_obs, sig, 3.0 + OOS_MARGIN_SIGMA)
        not_noise = ~nm.noise_outlier(m_obs, sig, 3.0 - OOS_MARGIN_SIGMA)
        col = colours(m_obs)
        is_colour = np.any(col < q - OOS_MARGIN_COLOUR, axis=1)
        not_colour = np.all(col >= q + OOS_MARGIN_COLOUR, axis=1)
        ok = np.where(want_noise[todo], is_noise, not_noise) & np.where(colour_rows[todo], is_colour, not_colour)
        todo = todo[~ok & ~golden[todo]]
        if todo.size == 0:
            break
    if kept_abs.any():
        warnings.warn(f"mock observation: {int(kept_abs.sum())} of {b} rows had a noisy flux still <= 0 after "
                      f"{MAX_FLUX_REDRAWS} redraws, kept as its absolute value", RuntimeWarning, stacklevel=2)
    if todo.size:
        warnings.warn(f"mock observation: {todo.size} of {b} rows still disagree with their out-of-support label "
                      f"after {MAX_OBSERVE_ATTEMPTS} draws of σ and noise and were kept as drawn; the truth's "
                      f"injected_oos_* labels may miss them", RuntimeWarning, stacklevel=2)
    return sigma, sigma_rep, f_obs
