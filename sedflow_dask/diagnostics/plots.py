"""Figures of the validation: p-p curves, SBC rank histograms, TARP, parameter recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int):
    plt = _pyplot()
    cols = 4
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return plt, fig, axes.ravel()


def plot_pp(levels, coverage, names, path: Path, n_galaxies: int) -> Path:
    """p-p curves (empirical vs nominal coverage) with a 99 % binomial band."""
    plt, fig, axes = _grid(len(names))
    band = 2.576 * np.sqrt(levels * (1 - levels) / max(n_galaxies, 1))
    for d, ax in enumerate(axes[: len(names)]):
        ax.fill_between(levels, levels - band, levels + band, color="0.85")
        ax.plot(levels, levels, "k:", lw=0.8)
        ax.plot(levels, coverage[:, d], "C0")
        ax.set_title(names[d], fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    fig.supxlabel("credibility level")
    fig.supylabel("empirical coverage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sbc(normalized_ranks, names, path: Path, bins: int = 20) -> Path:
    """SBC rank histograms with the 99 % band of a uniform histogram."""
    plt, fig, axes = _grid(len(names))
    g = normalized_ranks.shape[0]
    expected = g / bins
    half = 2.576 * np.sqrt(expected * (1 - 1 / bins))
    for d, ax in enumerate(axes[: len(names)]):
        ax.axhspan(expected - half, expected + half, color="0.85")
        ax.hist(normalized_ranks[:, d], bins=bins, range=(0, 1), histtype="step", color="C0")
        ax.set_title(names[d], fontsize=9)
    fig.supxlabel("normalised rank")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_tarp(levels, curves: dict[str, np.ndarray], path: Path) -> Path:
    """TARP expected coverage of one or more estimators."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for label, cov in curves.items():
        ax.plot(levels, cov, label=label)
    ax.set_xlabel("credibility level")
    ax.set_ylabel("expected coverage (TARP)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_recovery(truth: dict[str, np.ndarray], median: dict[str, np.ndarray], lo: dict[str, np.ndarray],
                  hi: dict[str, np.ndarray], path: Path) -> Path:
    """Posterior median (16–84 % bars) against truth for the derived properties."""
    plt, fig, axes = _grid(len(truth))
    for ax, name in zip(axes, truth, strict=False):
        t, m = truth[name], median[name]
        ok = np.isfinite(t) & np.isfinite(m)
        ax.errorbar(t[ok], m[ok], yerr=[m[ok] - lo[name][ok], hi[name][ok] - m[ok]], fmt=".", ms=2,
                    elinewidth=0.3, alpha=0.5)
        span = [np.nanmin(t[ok]), np.nanmax(t[ok])] if ok.any() else [0, 1]
        ax.plot(span, span, "k:", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("truth", fontsize=8)
        ax.set_ylabel("posterior median", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _save_titled(plt, fig, title: str, path: Path, dpi: int) -> Path:
    """Title, lay out, write (creating the directory) and close a figure."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


def _status_scatter(ax, frame, x: str, y: str) -> None:
    """Points coloured by status (whatever statuses occur), the commonest drawn first; rare ones larger."""
    statuses = frame["status"].astype(str).value_counts()
    for k, (status, n) in enumerate(statuses.items()):
        sel = frame[(frame["status"] == status) & np.isfinite(frame[y]) & np.isfinite(frame[x])]
        ax.scatter(sel[x], sel[y], s=2 if n > 200 else 8, color=f"C{k}", alpha=0.4, label=f"{status} ({n:,})",
                   rasterized=True)
    ax.legend(fontsize=7, markerscale=3)


def plot_truth_validation(validation, path: Path, title: str, dpi: int = 80) -> Path:
    """log M* recovery, p-p coverage of the stored draws, and the M*–SFR plane of a mock's catalog.

    Args:
        validation: a :class:`sedflow_dask.diagnostics.truth.TruthValidation`.
    """
    from ..sps.parameters import BOX_NAMES
    from .calibration import PP_LEVELS

    plt = _pyplot()
    frame, g = validation.frame, len(validation.frame)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.1))
    ax = axes[0]
    t, m = frame["theta_0"].to_numpy(), frame["log_mstar_p50"].to_numpy()
    ax.errorbar(t, m, yerr=[m - frame["log_mstar_p16"].to_numpy(), frame["log_mstar_p84"].to_numpy() - m],
                fmt=".", ms=2, elinewidth=0.3, alpha=0.5, color="C0", rasterized=True)
    lim = [min(t.min(), m.min()) - 0.2, max(t.max(), m.max()) + 0.2] if g else [7, 12.5]
    ax.plot(lim, lim, "k:", lw=0.8)
    err = validation.metrics["log_mstar_median_abs_error"]
    ax.set(xlim=lim, ylim=lim, xlabel=r"true log $M_*$ [M$_\odot$ formed]", ylabel="posterior median (16-84%)",
           title=f"log M*: {g} galaxies, median |error| {err if err is not None else float('nan'):.3f} dex")
    ax = axes[1]
    band = 2.576 * np.sqrt(PP_LEVELS * (1 - PP_LEVELS) / max(g, 1))
    ax.fill_between(PP_LEVELS, PP_LEVELS - band, PP_LEVELS + band, color="0.85", label="99% band (independent)")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for d, name in enumerate(BOX_NAMES):
        ax.plot(PP_LEVELS, validation.coverage[:, d], lw=1, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="credibility level", ylabel="fraction of truths inside",
           title=f"p-p coverage ({validation.metrics['n_stored_draws']} stored draws per galaxy)")
    ax.legend(fontsize=6, ncol=2, loc="upper left")
    _status_scatter(axes[2], validation.plane, "log_mstar_p50", "log_sfr_1gyr_p50")
    axes[2].set(xlabel=r"log $M_*$ (posterior median)", ylabel="log SFR over 1 Gyr [M$_\\odot$/yr]",
                title="the catalog's M*-SFR plane")
    return _save_titled(plt, fig, title, path, dpi)


def plot_real_report(report, path: Path, title: str, dpi: int = 80) -> Path:
    """Six panels of a real-galaxy report: log M* against kcorrect, the offset's distribution, the
    predictive χ² against χ²(5), the M*–SFR plane with the star-forming ridge, sSFR against u − r
    next to the prior's, and the posterior-to-prior width ratios.

    Args:
        report: a :class:`sedflow_dask.diagnostics.real_report.RealReport`.
    """
    from scipy.stats import chi2 as chi2_distribution

    plt = _pyplot()
    s, f = report.summary, report.frame
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    ax = axes[0, 0]
    mk, mo = f["log_mstar_kcorrect"].to_numpy(), f["log_mstar_p50"].to_numpy()
    ok = np.isfinite(mk) & np.isfinite(mo)
    ax.scatter(mk[ok], mo[ok], s=1, alpha=0.3, color="C0", rasterized=True)
    lim = [np.nanpercentile(mk[ok], 0.5) - 0.3, np.nanpercentile(mk[ok], 99.5) + 0.3] if ok.any() else [8, 12]
    ax.plot(lim, lim, "k:", lw=0.8)
    mass = s["log_mstar_vs_kcorrect"]
    ax.set(xlim=lim, ylim=lim, xlabel=r"kcorrect log $M_*$ formed (intsfh) [M$_\odot$]",
           ylabel=r"sedflow log $M_*$ formed (posterior median)",
           title=f"log M*: offset {mass['median']:+.3f}, NMAD {mass['nmad']:.3f} dex ({mass['n']:,})")
    ax = axes[0, 1]
    d = (mo - mk)[ok]
    ax.hist(d, bins=np.linspace(-1, 1, 81), histtype="step", color="C0")
    ax.axvline(mass["median"], color="C3", lw=0.8, label="median")
    ax.axvline(0, color="k", ls=":", lw=0.8)
    ax.set(xlabel="log M* (sedflow) - log M* (kcorrect) [dex]", ylabel="galaxies",
           title="the offset (IMF, SSP library, SFH form: docs)")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    c2 = np.sort(f["chi2_median_model"].to_numpy(np.float64))
    c2 = c2[np.isfinite(c2)]
    grid = np.logspace(-1, 3, 200)
    if len(c2):
        ax.plot(grid, 1 - np.searchsorted(c2, grid, side="right") / len(c2), color="C0", label="posterior-median model")
    pred = s["predictive"]
    ax.plot(grid, chi2_distribution.sf(grid, pred["dof"]), "k:", label=rf"$\chi^2$({pred['dof']})")
    ax.axvline(pred["limit"], color="C3", lw=0.8, label=f"99.9% of $\\chi^2$({pred['dof']}): {pred['limit']:.1f}")
    frac = pred["frac_over_limit"]
    ax.set(xscale="log", yscale="log", ylim=(1e-4, 1.1), xlabel=rf"$\chi^2$ ({pred['dof']} bands)",
           ylabel="fraction above",
           title=f"predictive check: {frac if frac is not None else float('nan'):.1%} above the line")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    _status_scatter(ax, f, "log_mstar_p50", "log_sfr_1gyr_p50")
    ms = s["main_sequence"]
    if ms["slope"] is not None:
        x = np.array(ms["mass_range"])
        ax.plot(x, ms["sfr_at_1e10"] + ms["slope"] * (x - 10), "k-", lw=1.5,
                label=f"ridge: slope {ms['slope']:.2f}, scatter {ms['scatter']:.2f} dex")
        ax.legend(fontsize=7, markerscale=3)
    ax.set(xlabel=r"log $M_*$ (posterior median)", ylabel=r"log SFR over 1 Gyr [M$_\odot$/yr]",
           title="M*-SFR plane (SFR from ugriz: mostly the prior's)")
    ax = axes[1, 1]
    ssfr = f["log_ssfr_p50"].to_numpy()
    sel = np.isfinite(ssfr)
    prior_ur = report.prior.mag[:, 0] - report.prior.mag[:, 2]
    ax.scatter(prior_ur, report.prior.derived["log_ssfr_1gyr"], s=1, color="0.7", alpha=0.4,
               label="prior draws (truth)", rasterized=True)
    ax.scatter(f["u_r"].to_numpy()[sel], ssfr[sel], s=2, color="C0", alpha=0.5, label="posterior medians",
               rasterized=True)
    corr = s["constraint"]["ssfr_vs_u_r"]["pearson"]
    prior_corr = s["constraint"]["prior_ssfr_vs_u_r"]["pearson"]
    ax.set(xlim=(0.5, 4.0), ylim=(-13, -8.5), xlabel="u - r [mag, observed]", ylabel=r"log sSFR (1 Gyr) [yr$^{-1}$]",
           title=f"sSFR vs u-r: r = {corr if corr is not None else float('nan'):.2f} "
                 f"(prior: {prior_corr if prior_corr is not None else float('nan'):.2f})")
    ax.legend(fontsize=7, markerscale=4)
    ax = axes[1, 2]
    ratios = s["constraint"]["width_ratio"]
    names = list(ratios)
    values = [ratios[n]["ratio_median"] if ratios[n]["ratio_median"] is not None else np.nan for n in names]
    ax.barh(names, values, color="C0")
    ax.axvline(1, color="k", ls=":", lw=0.8)
    for i, v in enumerate(values):
        ax.text(v if np.isfinite(v) else 0, i, f" {v:.2f}", va="center", fontsize=8)
    ax.set(xlim=(0, 1.2), xlabel="median posterior / prior width (16-84%)", title="what the data constrain")
    return _save_titled(plt, fig, title, path, dpi)
