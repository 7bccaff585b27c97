"""``sedflow ingest FILE --out DIR``: a catalog (NSA, SDSS export, any table) as a HATS catalog of conditioning vectors."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

#: ``--dataset`` names: real photometry shipped inside installed packages, and how to read it.
DATASETS: dict[str, dict[str, str]] = {"kcorrect-sdss": {"preset": "sdss", "sdss_flux": "model"}}
_NSA_FLUXES = ("sersic", "elpetro")
_SDSS_FLUXES = ("model", "petro", "cmodel")


def register(sub) -> None:
    from ..cli_args import add_config_args
    from ..cluster import add_cluster_args

    p = sub.add_parser(
        "ingest", help="ingest a catalog (NSA, SDSS export or any table) as HATS: magnitudes, cuts, out-of-support flags",
        description="Read a catalog in row ranges (the NSA's FITS, an SDSS SkyServer/CasJobs export or any FITS/"
                    "Parquet/CSV table through a column map), bring its ugriz photometry onto AB nanomaggies, convert "
                    "it to magnitudes and errors, apply the SDSS photo-flag cuts (NSA), flag out-of-support galaxies, "
                    "and write a HEALPix-partitioned HATS catalog. Every galaxy is kept, with an ingest_reason bitmask "
                    "(0 = usable). The reader states on stderr which preset it detected and what it did. Options: see "
                    "[ingest] in the config and docs/ingest.md.")
    add_config_args(p)
    p.add_argument("catalog", metavar="FILE", nargs="?",
                   help="the catalog: FITS (binary table in HDU 1), Parquet or CSV")
    p.add_argument("--dataset", choices=sorted(DATASETS),
                   help="ingest real photometry shipped with the installed packages instead of FILE: kcorrect-sdss = "
                        "the 10,000 SDSS galaxies inside the kcorrect wheel (preset sdss, model fluxes)")
    p.add_argument("--out", required=True, metavar="DIR", help="the HATS catalog directory to create")
    p.add_argument("--preset", choices=("auto", "nsa", "sdss", "table"), default=None,
                   help="the catalog's kind: nsa, sdss (SkyServer/CasJobs export), table (with --columns); "
                        "default ingest.preset = auto (detected from the column names)")
    p.add_argument("--flux", choices=(*_NSA_FLUXES, *_SDSS_FLUXES), default=None,
                   help="photometry: nsa sersic (the paper's NMGY/SERSIC_NMGY) or elpetro (v1 only), default "
                        "ingest.photometry; sdss model, petro or cmodel (MODELFLUX...), default ingest.sdss_flux "
                        "(the only kind the table has)")
    p.add_argument("--columns", metavar="MAP",
                   help="column map, e.g. id=OBJID,ra=RA,dec=DEC,z=Z,flux_u=F_U,ivar_u=IVAR_U,... or mag_u=..,"
                        "magerr_u=..; also fluxerr_u (1 sigma). The sdss preset takes id/ra/dec/z to name other "
                        "columns. Default: [ingest.columns] of the config")
    p.add_argument("--flux-unit", choices=("nanomaggies", "maggies", "jy", "ujy"), default=None,
                   help="unit of the table preset's fluxes and flux errors (default ingest.flux_unit = nanomaggies)")
    p.add_argument("--mag-system", choices=("ab",), default=None,
                   help="system of the table preset's magnitudes (default ingest.mag_system = ab)")
    p.add_argument("--no-extinction", action="store_true",
                   help="sdss preset: do not correct for Galactic extinction (EXTINCTION column)")
    p.add_argument("--no-ab-offsets", action="store_true",
                   help="sdss preset: do not apply the SDSS->AB offsets (u -0.04, z +0.02 mag)")
    p.add_argument("--no-error-floors", action="store_true",
                   help="sdss preset: do not add kcorrect's error floors (0.05, 0.02, 0.02, 0.02, 0.03 mag)")
    p.add_argument("--flags", metavar="FILE",
                   help="nsa preset: SDSS photo-flag companion keyed by NSAID (FITS or Parquet; FLAGS int64 or "
                        "FLAGS1/FLAGS2 int32, per-band FLAGS_U..Z, PSFMAGERR_* for the sdss_clean presets). Without "
                        "it the flag cuts are off unless the NSA table itself has flag columns")
    p.add_argument("--training-set", metavar="DIR",
                   help="training set whose colour quantiles define oos_color (default: the shipped quantiles)")
    p.add_argument("--proposal", metavar="FILE",
                   help="training noise proposal whose sigma range defines oos_noise (default: noise.proposal, "
                        "else the one built on --noise-model / noise.model, else the shipped one); use the "
                        "proposal the model was trained with")
    p.add_argument("--noise-model", metavar="NAME|FILE",
                   help="without --proposal: the proposal built on this noise model (a shipped name: sdss_real, "
                        "sdss_depths, or a file), as `sedflow simulate --noise-model` builds it")
    add_cluster_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing catalog at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)


def ingest_options(args: argparse.Namespace, ingest):
    """The ``[ingest]`` config with the command line's options applied; and the catalog path."""
    from .readers.column_map import parse_column_map

    if args.dataset and args.catalog:
        raise ValueError(f"give either FILE ({args.catalog}) or --dataset {args.dataset}, not both")
    if not args.dataset and not args.catalog:
        raise ValueError("give the catalog FILE, or --dataset NAME for photometry shipped with the packages "
                         f"({', '.join(sorted(DATASETS))})")
    changes: dict = {}
    if args.dataset:
        from ..datasets import kcorrect_sdss_path

        changes.update(DATASETS[args.dataset])
        path: str | Path = kcorrect_sdss_path()
    else:
        path = args.catalog
    if args.preset is not None:
        changes["preset"] = args.preset
    if args.flux in _NSA_FLUXES:
        changes["photometry"] = args.flux
    elif args.flux in _SDSS_FLUXES:
        changes["sdss_flux"] = args.flux
    if args.columns is not None:
        changes["columns"] = tuple(parse_column_map(args.columns).items())
    for option, key in (("flux_unit", "flux_unit"), ("mag_system", "mag_system")):
        if getattr(args, option) is not None:
            changes[key] = getattr(args, option)
    for option, key in (("no_extinction", "extinction"), ("no_ab_offsets", "ab_offsets"),
                        ("no_error_floors", "error_floors")):
        if getattr(args, option):
            changes[key] = False
    return dataclasses.replace(ingest, **changes), path


def cmd_ingest(args: argparse.Namespace, config) -> int:
    from ..cluster import cluster_from_args, dask_client
    from .pipeline import SupportReference, format_counts, ingest_catalog, plan_ingest

    ingest, path = ingest_options(args, config.ingest)
    # everything about the input is checked before a cluster starts
    plan = plan_ingest(path, args.out, config=ingest, flags_path=args.flags, overwrite=args.overwrite)
    noise = dataclasses.replace(config.noise, proposal=args.proposal or config.noise.proposal,
                                model=args.noise_model or config.noise.model)
    reference = SupportReference.from_config(noise, args.training_set)
    cluster = cluster_from_args(args, config.cluster)
    with dask_client(cluster, performance_report=args.performance_report) as client:
        # the warnings and failed sanity checks go to stderr as they are found
        result = ingest_catalog(path, args.out, client=client, reference=reference, plan=plan,
                                progress=not args.no_progress)
    print(format_counts(result))
    return 0
