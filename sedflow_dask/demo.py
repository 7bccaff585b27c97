"""``sedflow demo`` (``make demo``): the whole pipeline on real galaxies, in a few minutes.

The 10,000 real SDSS galaxies shipped inside the ``kcorrect`` package (``sedflow_dask.datasets``)
→ ingestion into a HATS catalog → posteriors with the shipped model on a LocalCluster (1,000
draws per galaxy; the MCMC fallback for a capped number of routed galaxies) → the output
catalog ``catalogs/demo`` → the real-galaxy report (``demo/real_report.json`` and a figure:
counts, a posterior-predictive check, log M* against kcorrect's own fit, the M*–SFR plane, and
how much the data constrain each property; ``docs/real-report.md``) → a sample query. Then it
prints where everything is and the commands to try next.

``--mock`` runs the same pipeline on a mock NSA catalog with known truths instead, and checks the
catalog against them (``demo/validation.json``): only a mock can test calibration.

A re-run reuses what is there: the input and the ingested catalog when they were made with the
same settings (``demo/demo.json`` records them), and the catalog's finished partitions (``sedflow
infer`` resumes); ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .config import Config
from .console import STDOUT, MessageStream, resolve_stream

#: The sample query: galaxies with a trusted posterior (the flow's, as drawn or importance-reweighted,
#: or a converged MCMC), chosen by observed colour (u − r < 2.22 separates the blue, mostly
#: star-forming, from the red; Strateva et al. 2001), not by their SFR posteriors, which ugriz
#: leaves close to the prior (``docs/real-report.md``).
SAMPLE_SQL = """\
SELECT nsaid, ra, dec, z, mag_u - mag_r AS u_r, log_mstar_p16, log_mstar_p50, log_mstar_p84,
       log_sfr_1gyr_p16, log_sfr_1gyr_p50, log_sfr_1gyr_p84
FROM catalog
WHERE status IN ('ok', 'reweighted', 'mcmc') AND z < 0.05 AND mag_u - mag_r < 2.22
ORDER BY log_mstar_p50 DESC
LIMIT 100"""
STAMP = "demo.json"
QUERY_FILE = "blue_massive.csv"
#: What each kind of demo writes in its work directory (``--fresh`` deletes these and nothing else).
REAL_FILES = {"input": "sdss_subset.fits", "ingested": "sdss_ingested", "report": "real_report.json",
              "figure": "real_report.png"}
MOCK_FILES = {"input": "nsa_mock.fits", "ingested": "nsa_ingested", "report": "validation.json",
              "figure": "validation.png"}
#: Time bound per fallback chain in the demo [s]: a chain stopped by it keeps its draws, status unconverged.
DEMO_FALLBACK_SECONDS = 60.0
#: Default work directory and output catalog of each kind: a mock run leaves the real one in place.
DEFAULT_DIRS = {"real": ("demo", "catalogs/demo"), "mock": ("demo/mock", "catalogs/demo_mock")}


def register(sub) -> None:
    from .cli_args import add_config_args
    from .cluster import add_cluster_args

    p = sub.add_parser(
        "demo", help="run the whole pipeline on 10,000 real SDSS galaxies (what `make demo` runs)",
        description="Real SDSS galaxies (shipped inside kcorrect) -> ingest (HATS) -> infer with the shipped model on "
                    "a Dask cluster (MCMC fallback capped) -> catalogs/demo -> a report (counts, predictive check, "
                    "log M* against kcorrect, the M*-SFR plane, what the data constrain) and its figure -> a sample "
                    "query; prints where everything is and what to try next. --mock runs a mock catalog with truths "
                    "instead and checks calibration against them. A re-run reuses finished work (--fresh starts over).")
    add_config_args(p)
    p.add_argument("--mock", action="store_true",
                   help="a mock NSA catalog with known truths instead of the real galaxies; checks the catalog "
                        "against the truths (the only calibration check a catalog can have)")
    p.add_argument("--n", type=int, default=None,
                   help="galaxies: the first N of the 10,000 real ones (default all), or N mock galaxies with --mock "
                        "(default 3,000; 2 golden rows come on top)")
    p.add_argument("--samples", type=int, default=1000, help="posterior draws per galaxy (default 1,000)")
    p.add_argument("--max-fallback", type=int, default=16, metavar="N",
                   help="at most N routed galaxies get the MCMC fallback (default 16; -1: all); the others keep the "
                        "flow's draws, status skipped (a re-run with a larger cap runs just those)")
    p.add_argument("--fallback-seconds", type=float, default=DEMO_FALLBACK_SECONDS, metavar="S",
                   help=f"the demo's time bound per fallback chain (default {DEMO_FALLBACK_SECONDS:g} s, so the demo "
                        f"stays within minutes; sets fallback.max_seconds_per_galaxy)")
    p.add_argument("--seed", type=int, default=None, help="seed of the mock and the run (default: the config's)")
    p.add_argument("--workdir", default=None, metavar="DIR",
                   help="input, ingested catalog, report, figure and query result (default demo/; demo/mock/ with "
                        "--mock)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output catalog (default catalogs/demo; catalogs/demo_mock with --mock)")
    p.add_argument("--fresh", action="store_true", help="delete the previous demo's files first")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_cluster_args(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from .cluster import cluster_from_args

    n = args.n if args.n is not None else (3000 if args.mock else real_rows())
    if n < 10:
        raise ValueError(f"--n must be >= 10, got {n}")
    if not args.mock and n > real_rows():
        raise ValueError(f"--n: the real data set has {real_rows():,} galaxies, got {n:,}")
    if args.samples < 100:
        raise ValueError(f"--samples must be >= 100 (the catalog stores 100 draws per galaxy), got {args.samples}")
    seed = config.seed if args.seed is None else args.seed
    config = dataclasses.replace(
        config, seed=seed,
        sample=dataclasses.replace(config.sample, n_samples=args.samples,
                                   n_stored=min(config.sample.n_stored, args.samples)),
        fallback=dataclasses.replace(config.fallback, max_galaxies=args.max_fallback,
                                     max_seconds_per_galaxy=args.fallback_seconds))
    workdir, out = DEFAULT_DIRS["mock" if args.mock else "real"]
    run_demo(config, n=n, mock=args.mock, workdir=Path(args.workdir or workdir), out=Path(args.out or out),
             fresh=args.fresh,
             cluster=cluster_from_args(args, config.cluster), progress=not args.no_progress,
             performance_report=args.performance_report)
    return 0


@dataclasses.dataclass
class DemoResult:
    """Where the demo put things, and what it found.

    Attributes:
        kind: "real" or "mock".
        source: the input catalog file (the kcorrect wheel's file, a subset of it, or the mock).
        truth: the mock's truth table (None for real galaxies).
        ingested, catalog: the ingested and the output HATS catalogs.
        report: ``real_report.json`` or, with ``--mock``, ``validation.json``; figure: its figure.
        query: the sample query's CSV.
        status_counts: rows per status (whatever statuses occur); n_rows: rows in the catalog.
        wall_s: seconds for the whole run; steps: seconds per step.
    """

    kind: str
    source: Path
    truth: Path | None
    ingested: Path
    catalog: Path
    figure: Path
    report: Path
    query: Path
    status_counts: dict[str, int]
    n_rows: int
    wall_s: float
    steps: dict[str, float]


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _settings(config: Config, n: int, mock: bool) -> dict[str, Any]:
    """What the input and the ingested catalog depend on (recorded in ``demo.json``)."""
    settings: dict[str, Any] = {
        "version": __version__, "kind": "mock" if mock else "real", "n": n,
        "ingest": dataclasses.asdict(_ingest_config(config, n)), "noise_model": config.noise.model,
        "outlier_sigma": config.noise.outlier_sigma}
    if mock:
        settings.update(seed=config.seed, sps=dataclasses.asdict(config.sps))
    else:
        from .datasets.kcorrect_sdss import kcorrect_sdss_path

        settings["input_sha256"] = hashlib.sha256(kcorrect_sdss_path().read_bytes()).hexdigest()
    return json.loads(json.dumps(settings, sort_keys=True))  # as read back from demo.json (tuples -> lists)


def _ingest_config(config: Config, n: int):
    # a few thousand galaxies in ~6-16 pixels, so every worker gets several tasks
    return dataclasses.replace(config.ingest, pixel_threshold=min(config.ingest.pixel_threshold, max(100, n // 6)))


def run_demo(config: Config, *, n: int | None = None, mock: bool = False, workdir: str | Path | None = None,
             out: str | Path | None = None, fresh: bool = False, cluster=None, progress: bool = True,
             performance_report: str | None = None, stream: MessageStream = STDOUT) -> DemoResult:
    """Run the demo; see the module docstring. Messages go to ``stream``, progress bars to stderr.

    Args:
        n: galaxies (real: the first ``n`` of the data set, default all; mock: default 3,000).
        mock: run on a mock NSA catalog with truths instead of the real galaxies.
        workdir, out: work directory and output catalog (None: :data:`DEFAULT_DIRS`).
        fresh: delete what a previous demo of this kind wrote there first.
    """
    from .cluster import dask_client
    from .infer.run import infer_catalog

    stream = resolve_stream(stream)
    n = n if n is not None else (3000 if mock else real_rows())
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    steps: dict[str, float] = {}
    files = MOCK_FILES if mock else REAL_FILES
    default_workdir, default_out = DEFAULT_DIRS["mock" if mock else "real"]
    workdir, out = Path(workdir or default_workdir), Path(out or default_out)
    if fresh:
        _remove_previous(workdir, out, mock)
    workdir.mkdir(parents=True, exist_ok=True)
    ingested = workdir / files["ingested"]
    settings = _settings(config, n, mock)
    stamp = workdir / STAMP
    source, truth = _input_paths(workdir, n, mock)
    reuse = (stamp.is_file() and _read_json(stamp) == settings and source.is_file()
             and (truth is None or truth.is_file()) and (ingested / "hats.properties").is_file())
    what = f"{n:,} mock galaxies" if mock else f"{n:,} real SDSS galaxies (kcorrect's test set)"
    _say(stream, f"sedflow demo (sedflow_dask {__version__}): {what}, {config.sample.n_samples:,} posterior draws "
                 f"each, MCMC fallback for at most {config.fallback.max_galaxies} of them")

    if reuse:
        _say(stream, f"[1/5] input and [2/5] ingestion: reusing {source} and {ingested} (same settings; --fresh "
                     f"redoes them)")
    else:
        t0 = time.perf_counter()
        stamp.unlink(missing_ok=True)
        rows = _write_mock(config, source, n) if mock else _write_real_input(source, n)
        steps["input"] = time.perf_counter() - t0
        _say(stream, f"[1/5] input: {rows:,} rows -> {source}" + (f" (truth {truth})" if truth else
                     " (SDSS MODELFLUX, EXTINCTION and Z; kcorrect 5.1.9, BSD-3-Clause)"))

    with dask_client(cluster, stream=sys.stderr if stream is not None else None,
                     performance_report=performance_report) as client:
        if not reuse:
            t0 = time.perf_counter()
            result = _ingest(config, source, ingested, n, mock, client=client, progress=progress,
                             stream=sys.stderr if stream is not None else None)
            steps["ingest"] = time.perf_counter() - t0
            s = result.summary
            _say(stream, f"[2/5] ingest: {result.rows:,} galaxies -> {ingested} (HATS), {s['usable']:,} usable, "
                         f"{s['oos_noise'] + s['oos_color_only']:,} flagged out of support, {steps['ingest']:.0f} s")
            stamp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")

        t0 = time.perf_counter()
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        _say(stream, f"[3/5] infer: the shipped model on {n_workers} Dask "
                     f"workers (dashboard {client.dashboard_link})")
        summary = infer_catalog(config, ingested, out, client=client, progress=progress,
                                stream=sys.stderr if stream is not None and progress else None)
        steps["infer"] = time.perf_counter() - t0
        # what the run cost in CPU, next to its wall time (the two differ when other jobs share the cores)
        workers_cpu = sum(client.run(process_cpu_seconds).values())
    counts = {k: v for k, v in summary.status_counts.items() if v}
    _say(stream, f"      {summary.n_rows:,} galaxies -> {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                 + f"; {summary.n_skipped} of {summary.n_partitions} pixels already complete, {steps['infer']:.0f} s")
    fallback = fallback_outcome(out, config.fallback.max_galaxies, config.fallback.max_seconds_per_galaxy)
    _say(stream, "      " + fallback["text"])

    t0 = time.perf_counter()
    report_path, figure = workdir / files["report"], workdir / files["figure"]
    if mock:
        line = _mock_validation(out, truth, report_path, figure)
    else:
        line = _real_report(out, report_path, figure, fallback, config)
    steps["report"] = time.perf_counter() - t0
    _say(stream, f"[4/5] {line}")

    t0 = time.perf_counter()
    from .query import query_catalog

    query_path = workdir / QUERY_FILE
    top = query_catalog(out, SAMPLE_SQL)
    top.to_csv(query_path, index=False)
    steps["query"] = time.perf_counter() - t0
    _say(stream, f"[5/5] sample query: the {len(top)} most massive blue galaxies (u - r < 2.22, chosen by colour; "
                 f"their SFRs are mostly the prior's) at z < 0.05 -> {query_path}")
    if stream is not None and len(top):
        import pandas as pd

        with pd.option_context("display.width", 200, "display.precision", 3):
            print(top[["nsaid", "z", "u_r", "log_mstar_p16", "log_mstar_p50", "log_mstar_p84"]].head(5)
                  .to_string(index=False), file=stream)

    wall = time.perf_counter() - t_start
    record = _read_json(report_path)
    record["run"] = {"wall_s": round(wall, 1), "steps_s": {k: round(v, 1) for k, v in steps.items()},
                     "cpu_s": {"main": round(process_cpu_seconds(), 1), "workers": round(workers_cpu, 1)},
                     "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
                     "reused_input_and_ingest": reuse, "n_workers": n_workers}
    report_path.write_text(json.dumps(record, indent=1) + "\n")
    res = DemoResult(kind="mock" if mock else "real", source=source, truth=truth, ingested=ingested, catalog=out,
                     figure=figure, report=report_path, query=query_path, status_counts=counts,
                     n_rows=summary.n_rows, wall_s=wall, steps=steps)
    _say(stream, _epilogue(res, top))
    return res


def _input_paths(workdir: Path, n: int, mock: bool) -> tuple[Path, Path | None]:
    """The input catalog file and, for a mock, its truth table."""
    if mock:
        from .mock.write import default_paths

        source = workdir / MOCK_FILES["input"]
        return source, default_paths(source)["truth"]
    from .datasets.kcorrect_sdss import kcorrect_sdss_path

    # the whole set is read where the package installed it; a subset is written next to the demo
    return (kcorrect_sdss_path() if n >= real_rows() else workdir / REAL_FILES["input"]), None


def _write_mock(config: Config, path: Path, n: int) -> int:
    from .mock.write import write_mock_nsa
    from .sps import PROVABGSModel

    return write_mock_nsa(path, n, seed=config.seed, noise_model=config.noise.model,
                          model=PROVABGSModel(config=config.sps)).n_rows


def process_cpu_seconds() -> float:
    """User + system CPU time of the calling process so far [s] (the demo runs it on each Dask worker too)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def real_rows() -> int:
    """Galaxies in the real data set (10,000)."""
    import fitsio

    from .datasets.kcorrect_sdss import kcorrect_sdss_path

    with fitsio.FITS(str(kcorrect_sdss_path())) as fits:
        return int(fits[1].get_nrows())


#: The columns of the real data set an SDSS-export reader needs (the wheel's file has more bands' worth).
_REAL_COLUMNS = ("RA", "DEC", "Z", "MODELFLUX", "MODELFLUX_IVAR", "EXTINCTION")


def _write_real_input(path: Path, n: int) -> int:
    """The first ``n`` rows of the real data set as an SDSS-export FITS at ``path`` (all rows: nothing to write)."""
    import fitsio

    from .datasets.kcorrect_sdss import kcorrect_sdss_path

    if n >= real_rows():
        return real_rows()
    data = fitsio.read(str(kcorrect_sdss_path()), columns=list(_REAL_COLUMNS), rows=range(n))
    tmp = path.with_name(path.name + ".tmp")
    fitsio.write(str(tmp), data, extname="SDSS", clobber=True)
    tmp.replace(path)
    return len(data)


def _ingest(config: Config, source: Path, out: Path, n: int, mock: bool, *, client, progress: bool,
            stream: TextIO | None):
    """Ingest the demo's input into the HATS catalog ``out`` (overwriting it): the mock through the
    NSA reader with its flags companion, the real galaxies through the SDSS reader (MODELFLUX;
    extinction, SDSS→AB offsets and kcorrect floors applied)."""
    from .ingest.pipeline import SupportReference, ingest_catalog

    reference = SupportReference.from_config(config.noise)
    ingest = _ingest_config(config, n)
    if mock:
        from .mock.write import default_paths

        ingest, flags = dataclasses.replace(ingest, preset="nsa"), default_paths(source)["flags_parquet"]
    else:
        ingest, flags = dataclasses.replace(ingest, preset="sdss", sdss_flux="model"), None
    return ingest_catalog(source, out, client=client, config=ingest, flags_path=flags, reference=reference,
                          overwrite=True, progress=progress, stream=stream)


def fallback_outcome(catalog: str | Path, cap: int, seconds: float) -> dict[str, Any]:
    """What happened to the galaxies routed to the fallback, from the catalog's columns.

    Returns counts by (status, method) of the routed rows (``fallback_reason`` ≠ 0), how many ran
    the MCMC and how many the cap left with the flow's posterior, and a one-line ``text``.
    """
    from .query import query_catalog

    rows = query_catalog(catalog, "SELECT status, coalesce(method, 'none') AS method, count(*) AS n FROM catalog "
                                  "WHERE fallback_reason <> 0 GROUP BY ALL ORDER BY n DESC")
    by = {f"{r.status}/{r.method}": int(r.n) for r in rows.itertuples()}
    routed = sum(by.values())
    ran = sum(v for k, v in by.items() if k.endswith("/mcmc"))
    mcmc = ", ".join(f"{k.split('/')[0]} {v}" for k, v in by.items() if k.endswith("/mcmc")) or "none"
    flow = ", ".join(f"{k.split('/')[0]} {v}" for k, v in by.items() if k.endswith("/flow")) or "none"
    text = (f"fallback: {routed:,} galaxies routed; {ran} ran the MCMC (cap {cap}, at most {seconds:g} s each; by "
            f"status: {mcmc}); {routed - ran:,} were left to the flow's posterior by the cap (by status: {flow})")
    return {"cap": cap, "seconds_per_galaxy": seconds, "routed": routed, "ran_mcmc": ran,
            "left_by_cap": routed - ran, "by_status_method": by, "text": text}


def _shown_model_dir(model_dir: str | None) -> str | None:
    """The model directory as a report should show it: "shipped default" for the package's own
    (its absolute path names only the machine that ran the demo), else as given."""
    from .posterior import DEFAULT_MODEL_DIR

    if model_dir is None or Path(model_dir).resolve() == DEFAULT_MODEL_DIR.resolve():
        return "shipped default (sedflow_dask/data/models/default)"
    return model_dir


def _real_report(catalog: Path, path: Path, figure: Path, fallback: dict[str, Any], config: Config) -> str:
    """Write the real-galaxy report and its figure; return the line the demo prints."""
    from .diagnostics.plots import plot_real_report
    from .diagnostics.real_report import load_report_frame, real_report
    from .infer.resources import forward_model_for
    from .posterior import load_posterior_model

    provenance = _read_json(catalog / "provenance.json") or {}
    model_dir = provenance.get("model", {}).get("dir")
    posterior = load_posterior_model(model_dir)
    report = real_report(load_report_frame(catalog), forward=forward_model_for(posterior), prior=posterior.prior,
                         seed=config.seed)
    s = report.summary
    s.update({
        "catalog": str(catalog), "data_set": "kcorrect_sdss: 10,000 SDSS main-sample galaxies from the kcorrect 5.1.9 "
                                             "wheel (BSD-3-Clause), SDSS MODELFLUX", "version": __version__,
        "model": {"dir": _shown_model_dir(model_dir), "sha256": posterior.sha256,
                  "proposal_sha256": posterior.meta.get("proposal_sha256")},
        "samples_per_galaxy": config.sample.n_samples, "fallback": {k: v for k, v in fallback.items() if k != "text"}})
    path.write_text(json.dumps(s, indent=1) + "\n")
    plot_real_report(report, figure, title=f"sedflow demo: {s['counts']['rows']:,} real SDSS galaxies "
                                           f"({catalog.as_posix()})")
    m, p, c = s["log_mstar_vs_kcorrect"], s["predictive"], s["counts"]
    ratio = s["constraint"]["width_ratio"]
    return (f"report: {c['usable']:,} usable, {c['oos_frac']:.1%} out of support, {c['routed_frac']:.1%} routed; "
            f"chi2 median {p['p50']:.1f}, {p['frac_over_limit']:.1%} above {p['limit']:.1f}; log M* - kcorrect "
            f"{m['median']:+.3f} dex (NMAD {m['nmad']:.3f}); posterior/prior width log M* "
            f"{ratio['log_mstar']['ratio_median']:.2f}, sSFR {ratio['log_ssfr_1gyr']['ratio_median']:.2f} "
            f"-> {path}, {figure}")


def _mock_validation(catalog: Path, truth: Path | None, path: Path, figure: Path) -> str:
    """Write the mock's validation against its truths and its figure; return the line the demo prints."""
    from .diagnostics.plots import plot_truth_validation
    from .diagnostics.truth import truth_validation

    if truth is None:
        raise ValueError(f"{catalog}: the mock's validation needs its truth table")
    v = truth_validation(catalog, truth)
    path.write_text(json.dumps(v.metrics, indent=1) + "\n")
    plot_truth_validation(v, figure, title=f"sedflow demo --mock: {catalog.as_posix()} against the mock's truths (the "
                                           f"mock is not a prior sample: a population check, not SBC)")
    m = v.metrics
    cov = m["coverage_box"]
    return (f"validation against the truths ({m['n_galaxies']:,} galaxies with status {'/'.join(m['statuses'])}): "
            f"median |log M* - truth| "
            f"{m['log_mstar_median_abs_error']:.3f} dex; 68% intervals cover {min(cov['68'].values()):.0%}-"
            f"{max(cov['68'].values()):.0%}, 95% cover {min(cov['95'].values()):.0%}-{max(cov['95'].values()):.0%} "
            f"of the 11 parameters -> {figure}")


def _remove_previous(workdir: Path, out: Path, mock: bool) -> None:
    """Delete what a previous demo of this kind wrote: the output catalog (refused unless ``sedflow infer``
    wrote it) and the work directory's known entries, nothing else there."""
    if out.exists():
        if not (out / "provenance.json").is_file() and any(out.iterdir()):
            raise ValueError(f"--fresh: {out} is not a catalog written by sedflow infer; not deleting it")
        shutil.rmtree(out)
    files = MOCK_FILES if mock else REAL_FILES
    names = [STAMP, QUERY_FILE, *files.values()]
    if mock:
        from .mock.write import default_paths

        names += [p.name for p in default_paths(workdir / files["input"]).values()]
    for name in names:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


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
    source = (f"  mock NSA catalog    {res.source}  (truth per NSAID: {res.truth})" if res.kind == "mock" else
              f"  real galaxies       {res.source}  (SDSS; NSAID = row number)")
    figure = "validation figure" if res.kind == "mock" else "report figure    "
    other = ("sedflow demo                                 (the real galaxies)" if res.kind == "mock" else
             "sedflow demo --mock                          (a mock with truths: checks calibration)")
    return f"""
done in {res.wall_s / 60:.1f} min ({", ".join(f"{k} {v:.0f} s" for k, v in res.steps.items())}).

{source}
  ingested catalog    {res.ingested}/  (HATS)
  output catalog      {cat}/  (HATS, one row per galaxy; columns: docs/data-contracts.md §6)
  {figure}   {res.figure}  (numbers: {res.report}; what they mean: docs/real-report.md)
  sample query        {res.query}

next:
  sedflow query {cat} "SELECT status, method, count(*) AS n FROM catalog GROUP BY ALL ORDER BY n DESC"
  sedflow query {cat} "DESCRIBE catalog"
  sedflow cone {cat} --ra {ra} --dec {dec} --radius-arcsec 3600
  sedflow resample {cat} {nsaid} --n 10000 --out draws.parquet
  notebooks/walkthrough.ipynb, notebooks/validation.ipynb   (Jupyter: pip install jupyterlab; jupyter lab notebooks/)
  {other}
  make demo                                    (again: reuses what is done; sedflow demo --fresh starts over)"""
