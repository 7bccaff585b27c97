"""``sedflow infer CATALOG``: posteriors for a whole catalog; ``sedflow resample CATALOG NSAID``: one galaxy's."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def register(sub) -> None:
    from ..cli_args import add_config_args
    from ..cluster import add_cluster_args

    p = sub.add_parser(
        "infer", help="posteriors for every galaxy of an ingested catalog (HATS catalog out)",
        description="Sample the posterior of every usable galaxy of an ingested HATS catalog with the trained flow, "
                    "one Dask task per HEALPix pixel; weigh every galaxy's draws against the exact likelihood "
                    "(importance sampling) and send those the weights reject to the MCMC fallback; write "
                    "summaries, derived properties, a status per galaxy and a few draws as a HATS catalog. A "
                    "re-run resumes: complete pixels made with the same model and configuration are kept.")
    add_config_args(p)
    p.add_argument("catalog", metavar="CATALOG", help="ingested HATS catalog (from `sedflow ingest`)")
    p.add_argument("--out", metavar="DIR", help="output catalog (default: catalogs/<name of CATALOG>)")
    p.add_argument("--model", metavar="DIR", help="posterior model artifact (default: the shipped model)")
    p.add_argument("--samples", type=int, default=None, help="posterior draws per galaxy (default sample.n_samples "
                                                             "= 10,000)")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: the config's)")
    p.add_argument("--no-fallback", action="store_true", help="no MCMC: routed galaxies keep the flow's posterior "
                                                              "with status skipped")
    p.add_argument("--max-fallback", type=int, default=None, metavar="N",
                   help="at most N galaxies get the MCMC fallback (default fallback.max_galaxies, -1 = no cap)")
    p.add_argument("--allow-noise-mismatch", action="store_true",
                   help="run even when the model was trained with another noise proposal than the catalog was ingested "
                        "with (refused by default; a loud warning, recorded in the provenance)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_args(p)
    p.set_defaults(func=cmd_infer)

    r = sub.add_parser(
        "resample", help="re-draw one galaxy's full posterior from an output catalog",
        description="Re-draw galaxy NSAID's posterior with the catalog's model, seed and settings; with the "
                    "catalog's draw count it reproduces the catalog's summaries (the relative difference is printed).")
    add_config_args(r)
    r.add_argument("catalog", metavar="CATALOG", help="output catalog of `sedflow infer`")
    r.add_argument("nsaid", type=int, metavar="NSAID")
    r.add_argument("--n", type=int, default=None, help="draws (default: the catalog's n_samples setting)")
    r.add_argument("--model", metavar="DIR", help="the model artifact, if not where the catalog's provenance says")
    r.add_argument("--out", metavar="FILE", help="write the draws to FILE (.parquet or .csv)")
    r.add_argument("--format", choices=("table", "json"), default="table", help="summary output format")
    r.set_defaults(func=cmd_resample)


def cmd_infer(args: argparse.Namespace, config) -> int:
    from ..cluster import cluster_from_args, dask_client
    from .run import infer_catalog, plan_inference

    sample = config.sample if args.samples is None else dataclasses.replace(
        config.sample, n_samples=args.samples, n_stored=min(config.sample.n_stored, args.samples))
    fallback = config.fallback
    if args.no_fallback:
        fallback = dataclasses.replace(fallback, enabled=False)
    if args.max_fallback is not None:
        fallback = dataclasses.replace(fallback, max_galaxies=args.max_fallback)
    config = dataclasses.replace(config, sample=sample, fallback=fallback,
                                 seed=config.seed if args.seed is None else args.seed)
    out = Path(args.out) if args.out else Path("catalogs") / Path(args.catalog).resolve().name
    # bad input (and a noise-model mismatch) fails before a cluster starts
    plan = plan_inference(config, args.catalog, out, model_dir=args.model,
                          allow_noise_mismatch=args.allow_noise_mismatch)
    with dask_client(cluster_from_args(args, config.cluster),
                     performance_report=getattr(args, "performance_report", None)) as client:
        summary = infer_catalog(config, args.catalog, out, client=client, model_dir=args.model,
                                progress=not args.no_progress, plan=plan)
    json.dump({"catalog": str(summary.catalog), "n_rows": summary.n_rows, "status_counts": summary.status_counts,
               "n_partitions": summary.n_partitions, "n_skipped": summary.n_skipped, "n_routed": summary.n_routed,
               "n_fallback": summary.n_fallback, "wall_s": round(summary.wall_s, 2)}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_resample(args: argparse.Namespace, config) -> int:
    from .resample import resample_galaxy

    res = resample_galaxy(args.catalog, args.nsaid, args.n, model_dir=args.model)
    if args.out:
        frame = res.frame()
        if args.out.endswith(".csv"):
            frame.to_csv(args.out, index=False)
        else:
            frame.to_parquet(args.out, index=False)
        print(f"wrote {len(frame)} draws of NSAID {args.nsaid} to {args.out}", file=sys.stderr)
    rows: list[dict[str, Any]] = [{"quantity": k, "resampled": v, "catalog": res.row.get(k)}
                                  for k, v in res.summaries.items()]
    if args.format == "json":
        json.dump({"nsaid": args.nsaid, "status": res.row["status"], "method": res.row["method"],
                   "n": int(res.samples.shape[0]), "max_rel_diff": res.max_rel_diff, "summaries": rows},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(f"NSAID {args.nsaid}: status {res.row['status']}, method {res.row['method']}, "
              f"{res.samples.shape[0]} draws")
        for r in rows:
            if r["quantity"].endswith(("_p16", "_p50", "_p84")):
                print(f"  {r['quantity']:28s} {r['resampled']:12.6g} {r['catalog'] if r['catalog'] is not None else float('nan'):12.6g}")
    if res.max_rel_diff is not None:
        print(f"max relative difference to the catalog's summaries: {res.max_rel_diff:.2e}", file=sys.stderr)
    return 0
