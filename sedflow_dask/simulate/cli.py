"""``sedflow simulate``: write a training set (``docs/data-contracts.md`` §2)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def register(sub) -> None:
    from ..cli_args import add_config_args
    from ..cluster import add_cluster_args

    p = sub.add_parser("simulate", help="simulate a training set on Dask (Parquet)",
                       description="Draw galaxies from the prior, run the PROVABGS model and the noise model, and "
                                   "write the kept rows as a Parquet dataset. --n counts rows kept.")
    add_config_args(p)
    p.add_argument("--n", type=int, default=None, help="rows to keep (default: simulate.n = 1,131,561, the paper's)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: the config's)")
    p.add_argument("--noise-model", metavar="FILE", help="noise-model JSON (default: the shipped one)")
    add_cluster_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace a complete set made with another configuration")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace, config) -> int:
    from ..cluster import cluster_from_args, dask_client
    from .run import simulate_training_set

    config = dataclasses.replace(
        config,
        seed=config.seed if args.seed is None else args.seed,
        noise=dataclasses.replace(config.noise, model=args.noise_model or config.noise.model),
        cluster=cluster_from_args(args, config.cluster),
    )
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}")
    with dask_client(config.cluster, performance_report=args.performance_report) as client:
        summary = simulate_training_set(config, args.out, client, n=args.n, overwrite=args.overwrite)
    keys = ("n_kept", "n_drawn", "drop_counts", "n_chunks", "seed", "ssp_sha256", "noise_sha256", "wall_s")
    json.dump({k: summary[k] for k in keys}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
