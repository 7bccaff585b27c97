"""``sedflow demo`` (``make demo``): the whole pipeline on the embedded defaults, in a few minutes.

A mock NSA catalog with known truths → ingestion into a HATS catalog → posteriors with the
shipped model on a LocalCluster (1,000 draws per galaxy; the MCMC fallback for a capped number of
out-of-support galaxies, the rest marked ``timeout``) → the output catalog ``catalogs/demo`` → a
validation figure against the truths → a sample query. Then it prints where everything is and
the commands to try next.

A re-run reuses what is there: the mock and the ingested catalog when they were made with the
same settings (``demo/demo.json`` records them), and the catalog's finished partitions (``sedflow
infer`` resumes); ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import __version__
from .config import Config

#: The sample query: the README's first example.
MASSIVE_SF_SQL = """\
SELECT nsaid, ra, dec, z, log_mstar_p50, log_mstar_p16, log_mstar_p84, log_sfr_1gyr_p50,
       log_sfr_1gyr_p50 - log_mstar_p50 AS log_ssfr
FROM catalog
WHERE status IN ('ok', 'mcmc') AND z < 0.05 AND log_sfr_1gyr_p50 - log_mstar_p50 > -11
ORDER BY log_mstar_p50 DESC
LIMIT 100"""
STAMP = "demo.json"


def register(sub) -> None:
    from .cli import add_config_args
    from .cluster import add_cluster_args

    p = sub.add_parser(
        "demo", help="run the whole pipeline on a mock NSA catalog (what `make demo` runs)",
        description="Mock NSA catalog with truths -> ingest (HATS) -> infer with the shipped model on a Dask "
                    "cluster (MCMC fallback capped) -> catalogs/demo -> validation figure against the truths -> a "
                    "sample query; prints where everything is and what to try next. A re-run reuses finished work "
                    "(--fresh starts over).")
    add_config_args(p)
    p.add_argument("--n", type=int, default=3000, help="mock galaxies (default 3,000; 2 golden rows come on top)")
    p.add_argument("--samples", type=int, default=1000, help="posterior draws per galaxy (default 1,000)")
    p.add_argument("--max-fallback", type=int, default=16, metavar="N",
                   help="at most N galaxies get the MCMC fallback (default 16; each gets up to "
                        "fallback.max_seconds_per_galaxy, 10 s); the others keep the flow's posterior, status timeout")
    p.add_argument("--seed", type=int, default=None, help="seed of the mock and the run (default: the config's)")
    p.add_argument("--workdir", default="demo", metavar="DIR",
                   help="mock catalog, ingested catalog, figure and query result (default demo/)")
    p.add_argument("--out", default="catalogs/demo", metavar="DIR", help="output catalog (default catalogs/demo)")
    p.add_argument("--fresh", action="store_true", help="delete the previous demo's files first")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_cluster_args(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from .cluster import cluster_from_args

    if args.n < 10:
        raise ValueError(f"--n must be >= 10, got {args.n}")
    if args.samples < 100:
        raise ValueError(f"--samples must be >= 100 (the catalog stores 100 draws per galaxy), got {args.samples}")
    seed = config.seed if args.seed is None else args.seed
    config = dataclasses.replace(
        config, seed=seed,
        sample=dataclasses.replace(config.sample, n_samples=args.samples,
                                   n_stored=min(config.sample.n_stored, args.samples)),
        fallback=dataclasses.replace(config.fallback, max_galaxies=args.max_fallback))
    run_demo(config, n=args.n, workdir=Path(args.workdir), out=Path(args.out), fresh=args.fresh,
             cluster=cluster_from_args(args, config.cluster), progress=not args.no_progress,
             performance_report=args.performance_report)
    return 0


@dataclasses.dataclass
class DemoResult:
    """Where the demo put things, and what it found."""

    mock: Path
    truth: Path
    ingested: Path
    catalog: Path
    figure: Path
    metrics: Path
    query: Path
    status_counts: dict[str, int]
    n_rows: int
    wall_s: float
    steps: dict[str, float]


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _settings(config: Config, n: int) -> dict[str, Any]:
    """What the mock and the ingested catalog depend on (recorded in ``demo.json``)."""
    settings = {"version": __version__, "n": n, "seed": config.seed, "sps": dataclasses.asdict(config.sps),
                "ingest": dataclasses.asdict(_ingest_config(config, n)), "noise_model": config.noise.model,
                "outlier_sigma": config.noise.outlier_sigma}
    return json.loads(json.dumps(settings, sort_keys=True))  # as read back from demo.json (tuples -> lists)


def _ingest_config(config: Config, n: int):
    # a few thousand galaxies in ~16 pixels, so every worker gets several tasks
    return dataclasses.replace(config.ingest, pixel_threshold=min(config.ingest.pixel_threshold, max(100, n // 6)))


def run_demo(config: Config, *, n: int = 3000, workdir: Path = Path("demo"), out: Path = Path("catalogs/demo"),
             fresh: bool = False, cluster=None, progress: bool = True, performance_report: str | None = None,
             stream: TextIO | None = sys.stdout) -> DemoResult:
    """Run the demo; see the module docstring. Messages go to ``stream``, progress bars to stderr."""
    from .cluster import dask_client
    from .infer.run import infer_catalog
    from .ingest.pipeline import ingest_nsa
    from .mock.write import default_paths, write_mock_nsa
    from .noise.model import load_noise_model
    from .simulate import training_colour_quantiles
    from .sps import PROVABGSModel

    t_start = time.perf_counter()
    steps: dict[str, float] = {}
    workdir, out = Path(workdir), Path(out)
    if fresh:
        _remove_previous(workdir, out)
    workdir.mkdir(parents=True, exist_ok=True)
    mock = workdir / "nsa_mock.fits"
    paths = default_paths(mock)
    ingested = workdir / "nsa_ingested"
    settings = _settings(config, n)
    stamp = workdir / STAMP
    reuse = (stamp.is_file() and _read_json(stamp) == settings and paths["truth"].is_file()
             and (ingested / "hats.properties").is_file())
    _say(stream, f"sedflow demo (sedflow_dask {__version__}): {n:,} mock galaxies, {config.sample.n_samples:,} "
                 f"posterior draws each, MCMC fallback for at most {config.fallback.max_galaxies} of them")

    if reuse:
        _say(stream, f"[1/5] mock NSA catalog and [2/5] ingestion: reusing {mock} and {ingested} "
                     f"(same settings; --fresh redoes them)")
    else:
        t0 = time.perf_counter()
        stamp.unlink(missing_ok=True)
        files = write_mock_nsa(mock, n, seed=config.seed, noise_model=config.noise.model,
                               model=PROVABGSModel(config=config.sps))
        steps["mock"] = time.perf_counter() - t0
        _say(stream, f"[1/5] mock NSA catalog: {files.n_rows:,} rows -> {mock} (truth {paths['truth']}), "
                     f"{steps['mock']:.0f} s")

    with dask_client(cluster, stream=sys.stderr if stream is not None else None,
                     performance_report=performance_report) as client:
        if not reuse:
            t0 = time.perf_counter()
            noise_path = config.noise.model
            result = ingest_nsa(
                mock, ingested, client=client, flags_path=paths["flags_parquet"], config=_ingest_config(config, n),
                noise_model=load_noise_model(noise_path),
                noise_model_source=str(noise_path) if noise_path else "default (shipped)",
                outlier_sigma=config.noise.outlier_sigma, colour_quantiles=training_colour_quantiles(None),
                colour_source="default (shipped)", overwrite=True, progress=progress,
                stream=sys.stderr if stream is not None else None)
            steps["ingest"] = time.perf_counter() - t0
            s = result.summary
            _say(stream, f"[2/5] ingest: {result.rows:,} galaxies -> {ingested} (HATS), {s['usable']:,} usable, "
                         f"{s['oos_noise'] + s['oos_color_only']:,} flagged out of support, {steps['ingest']:.0f} s")
            stamp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")

        t0 = time.perf_counter()
        _say(stream, f"[3/5] infer: the shipped model on {len(client.scheduler_info(n_workers=-1)['workers'])} Dask "
                     f"workers (dashboard {client.dashboard_link})")
        summary = infer_catalog(config, ingested, out, client=client, progress=progress,
                                stream=sys.stderr if stream is not None and progress else None)
        steps["infer"] = time.perf_counter() - t0
    counts = summary.status_counts
    _say(stream, f"      {summary.n_rows:,} galaxies -> {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                 + f"; {summary.n_skipped} of {summary.n_partitions} pixels already complete, {steps['infer']:.0f} s")
    _say(stream, "      " + fallback_report(out, config.fallback.max_galaxies,
                                            config.fallback.max_seconds_per_galaxy))

    t0 = time.perf_counter()
    figure, metrics_path = workdir / "validation.png", workdir / "validation.json"
    metrics = validation_figure(out, paths["truth"], figure)
    metrics_path.write_text(json.dumps(metrics, indent=1) + "\n")
    steps["validate"] = time.perf_counter() - t0
    cov = metrics["coverage_box"]
    _say(stream, f"[4/5] validation against the truths ({metrics['n_galaxies']:,} galaxies with status ok): median "
                 f"|log M* - truth| {metrics['log_mstar_median_abs_error']:.3f} dex; 68% intervals cover "
                 f"{min(cov['68'].values()):.0%}-{max(cov['68'].values()):.0%}, 95% cover "
                 f"{min(cov['95'].values()):.0%}-{max(cov['95'].values()):.0%} of the 11 parameters -> {figure}")

    t0 = time.perf_counter()
    from .query import query_catalog

    query_path = workdir / "massive_star_forming.csv"
    top = query_catalog(out, MASSIVE_SF_SQL)
    top.to_csv(query_path, index=False)
    steps["query"] = time.perf_counter() - t0
    _say(stream, f"[5/5] sample query: the {len(top)} most massive star-forming galaxies (sSFR > 1e-11/yr) at "
                 f"z < 0.05 -> {query_path}")
    if stream is not None and len(top):
        import pandas as pd

        with pd.option_context("display.width", 200, "display.precision", 3):
            print(top[["nsaid", "z", "log_mstar_p50", "log_sfr_1gyr_p50", "log_ssfr"]].head(5).to_string(index=False),
                  file=stream)

    wall = time.perf_counter() - t_start
    res = DemoResult(mock=mock, truth=paths["truth"], ingested=ingested, catalog=out, figure=figure,
                     metrics=metrics_path, query=query_path, status_counts=counts, n_rows=summary.n_rows,
                     wall_s=wall, steps=steps)
    _say(stream, _epilogue(res, top))
    return res


def fallback_report(catalog: str | Path, cap: int, seconds: float) -> str:
    """One line on the fallback's outcome, from the catalog's status and method columns."""
    from .query import query_catalog

    rows = query_catalog(catalog, "SELECT status, method, count(*) AS n FROM catalog "
                                  "WHERE status IN ('mcmc', 'timeout') GROUP BY ALL")
    n = {(r.status, r.method): int(r.n) for r in rows.itertuples()}
    converged, bound = n.get(("mcmc", "mcmc"), 0), n.get(("timeout", "mcmc"), 0)
    kept = n.get(("timeout", "flow"), 0)
    return (f"fallback: {converged + bound + kept} galaxies out of support; {converged + bound} ran the MCMC "
            f"(cap {cap}, {seconds:g} s each): {converged} converged (status mcmc), {bound} reached the time bound "
            f"(status timeout, MCMC draws); {kept} keep the flow's posterior (status timeout, method flow)")


def _remove_previous(workdir: Path, out: Path) -> None:
    """Delete a previous demo's files (only what the demo writes: refuses foreign directories)."""
    if out.exists():
        if not (out / "provenance.json").is_file() and any(out.iterdir()):
            raise ValueError(f"--fresh: {out} is not a catalog written by sedflow infer; not deleting it")
        shutil.rmtree(out)
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / STAMP).is_file() and not (workdir / "nsa_mock.fits").exists():
            raise ValueError(f"--fresh: {workdir} does not look like a demo directory; not deleting it")
        shutil.rmtree(workdir)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _epilogue(res: DemoResult, top) -> str:
    nsaid = int(top["nsaid"].iloc[0]) if len(top) else "NSAID"
    first = top.iloc[0] if len(top) else None
    ra, dec = (f"{first['ra']:.3f}", f"{first['dec']:.3f}") if first is not None else ("RA", "DEC")
    cat = res.catalog.as_posix()
    return f"""
done in {res.wall_s / 60:.1f} min ({", ".join(f"{k} {v:.0f} s" for k, v in res.steps.items())}).

  mock NSA catalog    {res.mock}  (truth per NSAID: {res.truth})
  ingested catalog    {res.ingested}/  (HATS)
  output catalog      {cat}/  (HATS, one row per galaxy; columns: docs/data-contracts.md §6)
  validation figure   {res.figure}  (numbers: {res.metrics})
  sample query        {res.query}

next:
  sedflow query {cat} "SELECT status, method, count(*) AS n FROM catalog GROUP BY ALL ORDER BY n DESC"
  sedflow query {cat} "DESCRIBE catalog"
  sedflow cone {cat} --ra {ra} --dec {dec} --radius-arcsec 3600
  sedflow resample {cat} {nsaid} --n 10000 --out draws.parquet
  notebooks/walkthrough.ipynb, notebooks/validation.ipynb   (Jupyter: pip install jupyterlab; jupyter lab notebooks/)
  make demo                                    (again: reuses what is done; sedflow demo --fresh starts over)"""


# --- the validation figure ----------------------------------------------------------------------------

def catalog_with_truth(catalog: str | Path, truth_path: str | Path, statuses=("ok",)):
    """Catalog rows of ``statuses`` joined to the mock's truth, for galaxies whose θ reproduce their fluxes.

    Returns (frame, draws (G, K, 11) box-space stored draws, truth (G, 11) box θ).
    """
    import pandas as pd

    from .query import query_catalog

    status_list = ", ".join(f"'{s}'" for s in statuses)
    frame = query_catalog(catalog, f"SELECT nsaid, status, z, log_mstar_p16, log_mstar_p50, log_mstar_p84, "
                                   f"log_sfr_1gyr_p50, samples FROM catalog WHERE status IN ({status_list})")
    truth = pd.read_parquet(truth_path)
    truth = truth[truth["theta_reproduces_flux"]]
    merged = frame.merge(truth[["nsaid", *[f"theta_{i}" for i in range(11)]]], on="nsaid", how="inner")
    draws = np.stack([np.asarray(s, dtype=np.float64).reshape(-1, 11) for s in merged["samples"]]) if len(merged) \
        else np.zeros((0, 1, 11))
    theta = merged[[f"theta_{i}" for i in range(11)]].to_numpy(np.float64)
    return merged.drop(columns="samples"), draws, theta


def validation_figure(catalog: str | Path, truth_path: str | Path, path: str | Path) -> dict[str, Any]:
    """Recovery of log M*, p-p coverage of the stored draws, and the M*–SFR plane, against the truths.

    The mock's galaxies are not drawn from the prior (their masses are set by a target r
    magnitude), so this is a check on a realistic population, not simulation-based calibration
    (``sedflow validate`` does that). Returns the numbers shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .diagnostics.calibration import PP_LEVELS, central_interval_coverage
    from .query import query_catalog
    from .sps.parameters import BOX_NAMES

    frame, draws, theta = catalog_with_truth(catalog, truth_path)
    g = len(frame)
    coverage = central_interval_coverage(draws, theta) if g else np.full((len(PP_LEVELS), 11), np.nan)
    cov68, cov95 = (central_interval_coverage(draws, theta, [lvl])[0] if g else np.full(11, np.nan)
                    for lvl in (0.68, 0.95))
    err = np.abs(frame["log_mstar_p50"].to_numpy() - frame["theta_0"].to_numpy())
    plane = query_catalog(catalog, "SELECT status, log_mstar_p50, log_sfr_1gyr_p50 FROM catalog "
                                   "WHERE status IN ('ok', 'mcmc', 'timeout')")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    ax = axes[0]
    t, m = frame["theta_0"].to_numpy(), frame["log_mstar_p50"].to_numpy()
    ax.errorbar(t, m, yerr=[m - frame["log_mstar_p16"].to_numpy(), frame["log_mstar_p84"].to_numpy() - m],
                fmt=".", ms=2, elinewidth=0.3, alpha=0.5, color="C0")
    lim = [min(t.min(), m.min()) - 0.2, max(t.max(), m.max()) + 0.2] if g else [7, 12.5]
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set(xlim=lim, ylim=lim, xlabel=r"true log $M_*$ [M$_\odot$ formed]", ylabel="posterior median (16-84%)",
           title=f"log M* recovery: {g} galaxies, median |error| {np.median(err) if g else np.nan:.3f} dex")
    ax = axes[1]
    band = 2.576 * np.sqrt(PP_LEVELS * (1 - PP_LEVELS) / max(g, 1))
    ax.fill_between(PP_LEVELS, PP_LEVELS - band, PP_LEVELS + band, color="0.85", label="99% band (independent)")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for d, name in enumerate(BOX_NAMES):
        ax.plot(PP_LEVELS, coverage[:, d], lw=1, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="credibility level", ylabel="fraction of truths inside",
           title=f"p-p coverage ({draws.shape[1]} stored draws per galaxy)")
    ax.legend(fontsize=6, ncol=2, loc="upper left")
    ax = axes[2]
    for status, colour in (("ok", "C0"), ("mcmc", "C2"), ("timeout", "C1")):
        sel = plane[(plane["status"] == status) & np.isfinite(plane["log_sfr_1gyr_p50"])]
        if len(sel):
            ax.scatter(sel["log_mstar_p50"], sel["log_sfr_1gyr_p50"], s=2 if status == "ok" else 8, color=colour,
                       alpha=0.6, label=f"{status} ({len(sel)})")
    ax.set(xlabel=r"log $M_*$ (posterior median)", ylabel="log SFR over 1 Gyr [M$_\\odot$/yr]",
           title="the catalog's M*-SFR plane")
    ax.legend(fontsize=7, markerscale=3)
    fig.suptitle(f"sedflow demo: {Path(catalog).as_posix()} against the mock's truths (the mock is not a prior "
                 f"sample: a population check, not SBC)", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {
        "catalog": str(catalog), "truth": str(truth_path), "n_galaxies": g, "statuses": ["ok"],
        "n_stored_draws": int(draws.shape[1]),
        "log_mstar_median_abs_error": float(np.median(err)) if g else None,
        "coverage_box": {"68": {n: float(c) for n, c in zip(BOX_NAMES, cov68)},
                         "95": {n: float(c) for n, c in zip(BOX_NAMES, cov95)}},
        "note": "the mock is not drawn from the prior (masses follow a target r magnitude): a population check, "
                "not simulation-based calibration",
    }
