"""``sedflow ingest NSA_FITS --out DIR``: the NSA catalog as a HATS catalog of conditioning vectors."""

from __future__ import annotations

import argparse
import dataclasses
import sys


def register(sub) -> None:
    from ..cli import add_config_args
    from ..cluster import add_cluster_args

    p = sub.add_parser(
        "ingest", help="ingest an NSA FITS catalog (magnitudes, quality cuts, out-of-support flags) as HATS",
        description="Read an NSA FITS catalog (v1_0_1 SERSIC_NMGY or v0 NMGY) in row ranges, convert ugriz fluxes "
                    "to magnitudes and errors, apply the paper's SDSS photo-flag cuts from a companion table keyed "
                    "by NSAID, flag out-of-support galaxies, and write a HEALPix-partitioned HATS catalog. Every "
                    "galaxy is kept, with an ingest_reason bitmask (0 = usable). Options: see [ingest] in the config.")
    add_config_args(p)
    p.add_argument("nsa", metavar="NSA_FITS", help="the NSA catalog (binary table in HDU 1)")
    p.add_argument("--out", required=True, metavar="DIR", help="the HATS catalog directory to create")
    p.add_argument("--flags", metavar="FILE",
                   help="SDSS photo-flag companion keyed by NSAID (FITS or Parquet; FLAGS int64 or FLAGS1/FLAGS2 "
                        "int32, per-band FLAGS_U..Z, PSFMAGERR_* for the sdss_clean presets). Without it the flag "
                        "cuts are off unless the NSA table itself has flag columns")
    p.add_argument("--flux", choices=("sersic", "elpetro"), default=None,
                   help="photometry: sersic (the paper's NMGY/SERSIC_NMGY) or elpetro (v1 only); "
                        "default ingest.photometry")
    p.add_argument("--training-set", metavar="DIR",
                   help="training set whose colour quantiles define oos_color (default: the shipped quantiles)")
    p.add_argument("--noise-model", metavar="FILE", help="noise model for oos_noise (default: noise.model, "
                                                         "else the shipped one)")
    add_cluster_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing catalog at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace, config) -> int:
    from ..cluster import cluster_from_args, dask_client
    from ..noise.model import load_noise_model
    from ..simulate import training_colour_quantiles
    from .pipeline import format_counts, ingest_nsa

    ingest = config.ingest if args.flux is None else dataclasses.replace(config.ingest, photometry=args.flux)
    cluster = cluster_from_args(args, config.cluster)
    noise_path = args.noise_model or config.noise.model
    noise_model = load_noise_model(noise_path)
    quantiles = training_colour_quantiles(args.training_set)
    with dask_client(cluster, performance_report=args.performance_report) as client:
        result = ingest_nsa(
            args.nsa, args.out, client=client, flags_path=args.flags, config=ingest, noise_model=noise_model,
            noise_model_source=str(noise_path) if noise_path else "default (shipped)",
            outlier_sigma=config.noise.outlier_sigma, colour_quantiles=quantiles,
            colour_source=f"training set {args.training_set}" if args.training_set else "default (shipped)",
            overwrite=args.overwrite, progress=not args.no_progress, stream=sys.stderr)
    for w in result.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    for problem in result.problems:
        print(f"WARNING (sanity check): {problem}", file=sys.stderr)
    print(format_counts(result))
    return 0
