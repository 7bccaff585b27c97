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
