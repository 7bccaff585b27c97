"""What a posterior catalog of real galaxies says about itself and about the sky, where no truth exists.

Pure functions on a catalog frame (the columns of :data:`REPORT_COLUMNS`, read by
:func:`load_report_frame` with DuckDB) plus the posterior model's prior and forward model; no Dask.
:func:`real_report` assembles them into the JSON report of ``sedflow demo`` (``docs/real-report.md``
says what each number means and what to expect of it):

- **counts**: rows, usable rows, each ingest reason bit, out of support by kind, routed to the
  fallback (by reason), each status and method — whatever statuses occur;
- **posterior-predictive check**: the χ² of the posterior-median model photometry against the
  data (5 bands) — its quantiles and the fraction above the 99.9th percentile of χ²(5);
- **an independent estimator**: log M* against kcorrect's own template fit of the same
  photometry (NNLS on the v4 templates, total formed mass ``intsfh``, same cosmology);
- **the M*–SFR plane**: the ridge (slope, scatter) of the star-forming sequence over
  9.5 < log M* < 11;
- **how much the data constrain each derived property**: the median ratio of posterior to prior
  width, and the correlation of the posterior-median sSFR with the observed u − r colour.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_distribution

from ..fallback.routing import FallbackReason
from ..ingest.reasons import IngestReason
from ..likelihood import fluxes_from_mags
from ..noise.fit import MAD_TO_SIGMA
from ..photometry import BANDS
from .validate import derived_properties

#: Degrees of freedom of the predictive χ² (five bands, the parameters not subtracted: a conservative
#: yardstick — a fitted model's χ² runs below χ²(5), never above it for honest errors).
CHI2_DOF = 5
#: 99.9th percentile of χ²(5), 20.515.
CHI2_LIMIT = float(chi2_distribution.ppf(0.999, CHI2_DOF))
#: Mass range [log10 M_sun] of the star-forming-sequence fit, and the sSFR cut [log10 yr⁻¹] that
#: defines "star-forming" there.
MS_MASS_RANGE: tuple[float, float] = (9.5, 11.0)
SF_MIN_LOG_SSFR = -11.0
#: Derived properties whose widths are compared with the prior's; log_ssfr_1gyr is log_sfr_1gyr − log_mstar.
WIDTH_NAMES: tuple[str, ...] = ("log_mstar", "log_mstar_surviving", "log_sfr_1gyr", "log_ssfr_1gyr", "log_z_mw",
                                "t_mw")
_CATALOG_WIDTH_NAMES = ("log_mstar", "log_mstar_surviving", "log_sfr_1gyr", "log_z_mw", "t_mw")

#: Catalog columns the report reads (the stored ``samples`` only for the galaxies of the sSFR subset).
REPORT_COLUMNS: tuple[str, ...] = (
    "nsaid", "z", *(f"mag_{b}" for b in BANDS), *(f"sigma_{b}" for b in BANDS), "ingest_reason", "oos_noise",
    "oos_color", "status", "method", "fallback_reason", "chi2_median_model",
    *(f"{n}_{s}" for n in _CATALOG_WIDTH_NAMES for s in ("p16", "p50", "p84")))


def load_report_frame(catalog: str | Path, *, samples: bool = True) -> pd.DataFrame:
    """The catalog's rows with :data:`REPORT_COLUMNS` (and ``samples`` when asked), ordered by nsaid."""
    from ..query import query_catalog

    cols = [*REPORT_COLUMNS, *(["samples"] if samples else [])]
    return query_catalog(catalog, f"SELECT {', '.join(cols)} FROM catalog ORDER BY nsaid")


def nmad(x) -> float:
    """Normalised median absolute deviation, 1.4826 × median |x − median x| (σ for a Gaussian); nan when empty."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(MAD_TO_SIGMA * np.median(np.abs(v - np.median(v)))) if len(v) else float("nan")


def has_posterior(frame: pd.DataFrame) -> np.ndarray:
    """(N,) True for rows with posterior draws (``method`` is set), whatever their status."""
    return frame["method"].notna().to_numpy()


def _fraction(k: int, n: int) -> float | None:
    return k / n if n else None


def count_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Row counts: usable, each reason bit, out of support by kind, routed by reason, statuses, methods.

    Fractions of out-of-support and routed galaxies are of the usable rows (``ingest_reason`` = 0).
    """
    reason = frame["ingest_reason"].to_numpy(np.int64)
    usable = reason == 0
    n_usable = int(usable.sum())
    noise = frame["oos_noise"].to_numpy(bool) & usable
    colour = frame["oos_color"].to_numpy(bool) & usable
    routing = frame["fallback_reason"].fillna(0).to_numpy(np.int64)
    routed = (routing != 0) & usable
    oos_any = int((noise | colour).sum())
    statuses = Counter(frame["status"].astype(str))
    methods = Counter("none" if m is None or m != m else str(m) for m in frame["method"])
    return {
        "rows": len(frame),
        "usable": n_usable,
        "reason_bits": {r.name: int(((reason & int(r)) != 0).sum()) for r in IngestReason},
        "out_of_support": {"noise": int(noise.sum()), "color": int(colour.sum()),
                           "color_not_noise": int((colour & ~noise).sum()), "any": oos_any},
        "oos_frac": _fraction(oos_any, n_usable),
        "routed": int(routed.sum()),
        "routed_frac": _fraction(int(routed.sum()), n_usable),
        "routed_by_reason": {r.name: int(((routing & int(r)) != 0).sum()) for r in FallbackReason},
        "status_counts": dict(statuses.most_common()),
        "method_counts": dict(methods.most_common()),
    }


def predictive_check(chi2) -> dict[str, Any]:
    """Quantiles of the posterior-median model's χ² and the fraction above :data:`CHI2_LIMIT`.

    Args:
        chi2: (G,) χ² (5 bands, fluxes) of galaxies with a posterior; non-finite values are counted
            separately and left out of the quantiles.
    """
    c = np.asarray(chi2, dtype=np.float64)
    finite = c[np.isfinite(c)]
    levels = (0.16, 0.5, 0.84, 0.99)
    q = np.quantile(finite, levels) if len(finite) else np.full(len(levels), np.nan)
    reference = chi2_distribution.ppf(levels, CHI2_DOF)
    names = ("p16", "p50", "p84", "p99")
    return {"n": len(finite), "n_nonfinite": int((~np.isfinite(c)).sum()), **dict(zip(names, map(float, q))),
            "dof": CHI2_DOF, "limit": CHI2_LIMIT,
            "frac_over_limit": _fraction(int((finite > CHI2_LIMIT).sum()), len(finite)),
            "chi2_5": dict(zip(names, map(float, reference)))}


@dataclasses.dataclass(frozen=True)
class KcorrectMasses:
    """kcorrect's template fit of ugriz photometry (Blanton & Roweis 2007 v4 templates, Chabrier IMF).

    Attributes:
        log_mstar_formed: (G,) log10 of the total mass formed (``intsfh``) [M_sun]; nan where the
            NNLS gave all-zero coefficients or the input was unusable.
        log_mstar_remaining: (G,) log10 of the mass in stars and remnants (``mremain``) [M_sun].
        chi2: (G,) χ² of kcorrect's best fit against the same fluxes and errors.
        provenance: package version, templates, responses, cosmology.
    """

    log_mstar_formed: np.ndarray
    log_mstar_remaining: np.ndarray
    chi2: np.ndarray
    provenance: dict[str, Any]


def kcorrect_masses(mag, sigma_mag, z, *, cosmology: str = "Planck13") -> KcorrectMasses:
    """Fit kcorrect's templates to AB ugriz magnitudes and return its stellar masses.

    Args:
        mag: (G, 5) AB magnitudes, Galactic-extinction corrected (the catalog's ``mag_*``).
        sigma_mag: (G, 5) their errors [mag], floors included (the catalog's ``sigma_*``): converted
            to flux errors with the same first-order rule the flow and the MCMC use.
        z: (G,) spectroscopic redshifts, 0 < z ≤ 0.25.
        cosmology: astropy cosmology for the luminosity distance (ours: Planck13). kcorrect's
            ``derived`` works in physical M_sun for the cosmology it is given (no h⁻² scaling).

    Each galaxy is one NNLS on 5 templates (~40 µs); building the interpolated response matrix
    takes ~0.7 s, so 10,000 galaxies take ~2 s.
    """
    import astropy.cosmology
    import kcorrect
    import kcorrect.kcorrect

    m = np.asarray(mag, dtype=np.float64)
    s = np.asarray(sigma_mag, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != len(BANDS) or s.shape != m.shape or zz.shape != (m.shape[0],):
        raise ValueError(f"kcorrect_masses: mag and sigma_mag must be (G, 5) and z (G,); got {m.shape}, {s.shape}, "
                         f"{zz.shape}")
    g = len(zz)
    nan = np.full(g, np.nan)
    ok = np.all(np.isfinite(m) & np.isfinite(s) & (s > 0), axis=1) & np.isfinite(zz) & (zz > 0) & (zz <= 0.25)
    flux, sigma = fluxes_from_mags(np.where(ok[:, None], m, 20.0), np.where(ok[:, None], s, 1.0))
    maggies = 1e-9 * flux  # kcorrect takes AB maggies; 1 nmgy = 1e-9 maggies
    ivar = 1.0 / (1e-9 * sigma) ** 2
    responses = [f"sdss_{b}0" for b in BANDS]
    cosmo = getattr(astropy.cosmology, cosmology)
    provenance = {"package": "kcorrect", "version": getattr(kcorrect, "__version__", None),
                  "templates": "kcorrect-default-v4 (BC03 SSPs, Chabrier 2003 IMF; Blanton & Roweis 2007)",
                  "responses": responses, "cosmology": cosmology, "mass": "intsfh (total mass formed)"}
    if not ok.any():
        return KcorrectMasses(nan, nan.copy(), nan.copy(), provenance)
    kc = kcorrect.kcorrect.Kcorrect(responses=responses, redshift_range=[0.0, 0.25], nredshift=251, cosmo=cosmo)
    coeffs = kc.fit_coeffs(redshift=zz[ok], maggies=maggies[ok], ivar=ivar[ok])
    model = kc.reconstruct(redshift=zz[ok], coeffs=coeffs)
    derived = kc.derived(redshift=zz[ok], coeffs=coeffs)
    formed, remaining, chi2 = nan.copy(), nan.copy(), nan.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        formed[ok] = np.where(derived["intsfh"] > 0, np.log10(derived["intsfh"]), np.nan)
        remaining[ok] = np.where(derived["mremain"] > 0, np.log10(derived["mremain"]), np.nan)
    chi2[ok] = np.sum((maggies[ok] - model) ** 2 * ivar[ok], axis=1)
    return KcorrectMasses(formed, remaining, chi2, provenance)


def offset_summary(delta) -> dict[str, Any]:
    """Median, NMAD and 16/84th percentiles of per-galaxy differences (finite values only)."""
    d = np.asarray(delta, dtype=np.float64)
    d = d[np.isfinite(d)]
    q = np.quantile(d, [0.16, 0.5, 0.84]) if len(d) else np.full(3, np.nan)
    return {"n": len(d), "median": float(q[1]), "nmad": nmad(d), "p16": float(q[0]), "p84": float(q[2])}


def main_sequence(log_mstar, log_sfr, *, mass_range: tuple[float, float] = MS_MASS_RANGE,
                  min_log_ssfr: float = SF_MIN_LOG_SSFR, bin_width: float = 0.25, min_per_bin: int = 10
                  ) -> dict[str, Any]:
    """Ridge of the star-forming sequence: a line through the median log SFR in mass bins.

    Galaxies count as star-forming when log SFR − log M* > ``min_log_ssfr``. Within
    ``mass_range`` they are binned in ``bin_width`` dex of log M*; the median log SFR of each bin
    with at least ``min_per_bin`` galaxies is fitted with a straight line (weights: counts). The
    scatter is the NMAD of the star-forming galaxies' log SFR about that line [dex].

    Args:
        log_mstar: (G,) log10 M* [M_sun]; log_sfr: (G,) log10 SFR [M_sun/yr] (posterior medians).

    Returns slope, intercept at log M* = 10 (``sfr_at_1e10``), scatter, counts and the bins; the
    fit values are None with fewer than two populated bins.
    """
    m = np.asarray(log_mstar, dtype=np.float64)
    s = np.asarray(log_sfr, dtype=np.float64)
    sel = np.isfinite(m) & np.isfinite(s) & (m > mass_range[0]) & (m < mass_range[1]) & (s - m > min_log_ssfr)
    in_range = np.isfinite(m) & (m > mass_range[0]) & (m < mass_range[1])
    edges = np.arange(mass_range[0], mass_range[1] + 1e-9, bin_width)
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        b = sel & (m >= lo) & (m < hi)
        if b.sum() >= min_per_bin:
            bins.append({"log_mstar": float((lo + hi) / 2), "n": int(b.sum()),
                         "log_sfr_median": float(np.median(s[b]))})
    out: dict[str, Any] = {"mass_range": list(mass_range), "min_log_ssfr": min_log_ssfr,
                           "n_in_range": int(in_range.sum()), "n_star_forming": int(sel.sum()), "bins": bins,
                           "slope": None, "sfr_at_1e10": None,
                           "scatter": None}
    if len(bins) >= 2:
        x = np.array([b["log_mstar"] for b in bins]) - 10.0
        y = np.array([b["log_sfr_median"] for b in bins])
        w = np.array([b["n"] for b in bins], dtype=np.float64)
        slope, intercept = np.polyfit(x, y, 1, w=np.sqrt(w))
        out.update(slope=float(slope), sfr_at_1e10=float(intercept),
                   scatter=nmad(s[sel] - (intercept + slope * (m[sel] - 10.0))))
    return out


@dataclasses.dataclass(frozen=True)
class PriorSample:
    """Galaxies drawn from the prior at the real set's redshifts, through the forward model.

    Attributes:
        derived: name → (n,) derived properties (:data:`WIDTH_NAMES`).
        mag: (n, 5) noise-free AB ugriz magnitudes.
        z: (n,) redshifts, drawn with replacement from the real galaxies'.
    """

    derived: dict[str, np.ndarray]
    mag: np.ndarray
    z: np.ndarray


def prior_sample(forward, prior, z_pool, n: int = 4000, seed: int = 0) -> PriorSample:
    """Draw ``n`` θ from ``prior`` (an :class:`~sedflow_dask.prior.SEDPrior`) with z from ``z_pool``.

    The redshifts come from the real galaxies so that the prior's distribution of each derived
    property (which depends on z through the age of the Universe) matches the data's.
    """
    rng = np.random.default_rng(seed)
    pool = np.asarray(z_pool, dtype=np.float64)
    pool = pool[np.isfinite(pool) & (pool > 0)]
    if not len(pool):
        raise ValueError("prior_sample: no valid redshift to draw from")
    theta, _ = prior.sample(n, rng)
    z = rng.choice(pool, size=n, replace=True)
    return PriorSample(derived=_with_ssfr(derived_properties(forward, theta, z)),
                       mag=forward.photometry(theta, z, space="box", unit="mag"), z=z)


def _with_ssfr(props: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {**props, "log_ssfr_1gyr": props["log_sfr_1gyr"] - props["log_mstar"]}


def _half_width(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Half the 16–84 % interval (σ for a Gaussian)."""
    q16, q84 = np.nanpercentile(values, [16, 84], axis=axis)
    return (q84 - q16) / 2


def posterior_ssfr(forward, samples: Sequence, z) -> np.ndarray:
    """(G, 3) 16th, 50th and 84th percentiles of log sSFR(1 Gyr) [log10 yr⁻¹] from stored draws.

    Args:
        samples: G stored-draw lists (the catalog's ``samples``: K × 11 box coordinates each).
        z: (G,) redshifts.
    """
    draws = [np.asarray(s, dtype=np.float64).reshape(-1, 11) for s in samples]
    if not draws:
        return np.zeros((0, 3))
    k = np.array([len(d) for d in draws])
    props = derived_properties(forward, np.concatenate(draws), np.repeat(np.asarray(z, dtype=np.float64), k))
    ssfr = _with_ssfr(props)["log_ssfr_1gyr"]
    out = np.empty((len(draws), 3))
    for i, (a, b) in enumerate(zip(np.cumsum(k) - k, np.cumsum(k))):
        out[i] = np.percentile(ssfr[a:b], [16, 50, 84])
    return out


def constraint_ratios(posterior_half_widths: dict[str, np.ndarray], prior: PriorSample) -> dict[str, Any]:
    """Median over galaxies of (posterior half-width) / (prior half-width), per derived property.

    Half-widths are half the 16–84 % interval; 1 means the data taught nothing, 0.1 a tenfold
    narrowing.
    """
    out = {}
    for name, post in posterior_half_widths.items():
        p = _half_width(prior.derived[name][np.isfinite(prior.derived[name])])
        w = np.asarray(post, dtype=np.float64)
        w = w[np.isfinite(w)]
        out[name] = {"n": len(w), "prior_half_width": float(p),
                     "posterior_half_width_median": float(np.median(w)) if len(w) else None,
                     "ratio_median": float(np.median(w) / p) if len(w) and p > 0 else None}
    return out


def correlation(x, y) -> dict[str, Any]:
    """Pearson and Spearman correlation of finite pairs."""
    from scipy.stats import pearsonr, spearmanr

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "pearson": None, "spearman": None}
    return {"n": int(ok.sum()), "pearson": float(pearsonr(a[ok], b[ok])[0]),
            "spearman": float(spearmanr(a[ok], b[ok])[0])}


@dataclasses.dataclass
class RealReport:
    """The JSON summary and the per-galaxy arrays its figure shows.

    Attributes:
        summary: the report (JSON-serialisable; ``docs/real-report.md``).
        frame: rows with a posterior, with added ``log_mstar_kcorrect``, ``kcorrect_chi2``,
            ``log_ssfr_p50`` (nan outside the sSFR subset) and ``u_r``.
        prior: the prior sample the widths were compared with.
    """

    summary: dict[str, Any]
    frame: pd.DataFrame
    prior: PriorSample


def real_report(frame: pd.DataFrame, *, forward, prior, kcorrect: KcorrectMasses | None = None,
                n_prior: int = 4000, max_ssfr_galaxies: int = 2000, seed: int = 0,
                cosmology: str = "Planck13") -> RealReport:
    """The real-galaxy report of a posterior catalog (see the module docstring).

    Args:
        frame: catalog rows with :data:`REPORT_COLUMNS` and, for sSFR widths, ``samples``.
        forward: the forward model the posterior model was trained with (``PROVABGSModel``).
        prior: the posterior model's :class:`~sedflow_dask.prior.SEDPrior`.
        kcorrect: kcorrect's fit of the rows with a posterior, in their order (None: fitted here).
        n_prior: prior draws for the prior widths.
        max_ssfr_galaxies: sSFR widths come from the stored draws of at most this many galaxies
            with a posterior (a seeded random subset; each costs K forward-model evaluations).
        seed: seed of the prior draws and of the subset.
    """
    counts = count_summary(frame)
    post = frame[has_posterior(frame)].reset_index(drop=True)
    mag = post[[f"mag_{b}" for b in BANDS]].to_numpy(np.float64)
    sigma = post[[f"sigma_{b}" for b in BANDS]].to_numpy(np.float64)
    z = post["z"].to_numpy(np.float64)
    if kcorrect is None:
        kcorrect = kcorrect_masses(mag, sigma, z, cosmology=cosmology)
    if len(kcorrect.log_mstar_formed) != len(post):
        raise ValueError(f"kcorrect fit has {len(kcorrect.log_mstar_formed)} rows; the catalog has {len(post)} "
                         f"galaxies with a posterior")
    post["log_mstar_kcorrect"] = kcorrect.log_mstar_formed
    post["kcorrect_chi2"] = kcorrect.chi2
    post["u_r"] = post["mag_u"] - post["mag_r"]
    statuses = list(dict.fromkeys(post["status"].astype(str)))

    delta = post["log_mstar_p50"].to_numpy() - post["log_mstar_kcorrect"].to_numpy()
    mass = {**offset_summary(delta), "by_status": {s: offset_summary(delta[post["status"] == s]) for s in statuses},
            "n_kcorrect_failed": int(np.isnan(kcorrect.log_mstar_formed).sum()),
            "kcorrect_chi2_p50": float(np.nanmedian(kcorrect.chi2)) if len(post) else None,
            "kcorrect": kcorrect.provenance}

    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(post), size=min(max_ssfr_galaxies, len(post)), replace=False))
    ssfr = np.full((len(post), 3), np.nan)
    if "samples" in post.columns and len(subset):
        ssfr[subset] = posterior_ssfr(forward, post["samples"].iloc[subset], z[subset])
    post["log_ssfr_p50"] = ssfr[:, 1]
    prior_draws = prior_sample(forward, prior, z, n=n_prior, seed=seed)
    widths = {n: (post[f"{n}_p84"] - post[f"{n}_p16"]).to_numpy() / 2 for n in _CATALOG_WIDTH_NAMES}
    widths["log_ssfr_1gyr"] = (ssfr[:, 2] - ssfr[:, 0]) / 2
    widths = {n: widths[n] for n in WIDTH_NAMES}
    prior_ssfr = prior_draws.derived["log_ssfr_1gyr"]
    prior_ur = prior_draws.mag[:, 0] - prior_draws.mag[:, 2]
    ssfr_p50 = ssfr[:, 1][np.isfinite(ssfr[:, 1])]
    constraint = {
        "width_ratio": constraint_ratios(widths, prior_draws),
        "n_prior_draws": n_prior, "n_ssfr_galaxies": int(len(subset) if "samples" in post.columns else 0),
        "ssfr_vs_u_r": correlation(post["u_r"], post["log_ssfr_p50"]),
        "prior_ssfr_vs_u_r": correlation(prior_ur, prior_ssfr),
        "ssfr_p50_spread": {"p16": float(np.percentile(ssfr_p50, 16)) if len(ssfr_p50) else None,
                            "p50": float(np.median(ssfr_p50)) if len(ssfr_p50) else None,
                            "p84": float(np.percentile(ssfr_p50, 84)) if len(ssfr_p50) else None},
        "prior_ssfr": {k: float(v) for k, v in zip(("p16", "p50", "p84"),
                                                   np.percentile(prior_ssfr[np.isfinite(prior_ssfr)], [16, 50, 84]))},
    }
    summary = {
        "counts": counts,
        "predictive": {**predictive_check(post["chi2_median_model"]),
                       "by_status": {s: predictive_check(post.loc[post["status"] == s, "chi2_median_model"])
                                     for s in statuses}},
        "log_mstar_vs_kcorrect": mass,
        "main_sequence": main_sequence(post["log_mstar_p50"], post["log_sfr_1gyr_p50"]),
        "constraint": constraint,
    }
    return RealReport(summary=summary, frame=post.drop(columns=["samples"], errors="ignore"), prior=prior_draws)
