"""``sedflow noise fit|show``: fit the noise model to an ingested catalog, or describe one."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def register(sub) -> None:
    from ..cli_args import add_config_args

    noise = sub.add_parser("noise", help="the photometric noise model").add_subparsers(dest="noise_command",
                                                                                      metavar="NOISE")
    fit = noise.add_parser("fit", help="fit p(σ | m) to an ingested catalog's usable galaxies",
                           description="Fit SEDflow's binned noise model (median and scatter of σ per magnitude "
                                       "bin, per band) to the galaxies of an ingested catalog with ingest_reason 0.")
    add_config_args(fit)
    fit.add_argument("catalog", metavar="CATALOG", help="an ingested catalog (from `sedflow ingest`)")
    fit.add_argument("--out", required=True, metavar="FILE", help="where to write the noise-model JSON")
    fit.set_defaults(func=cmd_noise_fit)
    show = noise.add_parser("show", help="summarise a noise model (default: the shipped one)")
    add_config_args(show)
    show.add_argument("model", nargs="?", metavar="FILE", help="noise-model JSON")
    show.set_defaults(func=cmd_noise_show)
    support = noise.add_parser(
        "support", help="out-of-support fractions of the real SDSS galaxies under a noise model",
        description="Flag the usable galaxies of the real SDSS set shipped in kcorrect (0 < z <= 0.2, positive "
                    "fluxes) as ingest does: oos_noise (sigma above mu + outlier_sigma * s in any band) and "
                    "oos_color (a colour below the training set's 0.1th percentile). Prints one JSON object.")
    add_config_args(support)
    support.add_argument("--model", metavar="NAME|FILE", help="noise model (default: noise.model, else the shipped "
                                                               "default); shipped names: sdss_real, sdss_depths")
    support.add_argument("--training-set", metavar="DIR|JSON",
                         help="training set (or colour-quantile JSON) for oos_color (default: the shipped one)")
    support.set_defaults(func=cmd_noise_support)


def fit_noise_model_to_catalog(path: str | Path, *, bin_width: float, min_count: int):
    """Fit the noise model to the usable (``ingest_reason == 0``) galaxies of an ingested catalog."""
    from ..files import file_sha256
    from ..ingest.io import ingested_data_files, read_ingested
    from ..photometry import MAG_COLUMNS, SIGMA_COLUMNS
    from .fit import fit_noise_model

    frame = read_ingested(path, columns=["ingest_reason", *MAG_COLUMNS, *SIGMA_COLUMNS])
    usable = frame[frame["ingest_reason"] == 0]
    if usable.empty:
        raise ValueError(f"{path}: no galaxy with ingest_reason 0 to fit the noise model to")
    # one hash over the data partitions' hashes, in their sorted order
    digest = hashlib.sha256("".join(file_sha256(f) for f in sorted(ingested_data_files(path))).encode())
    provenance = {"fitted_from": "catalog", "catalog": str(Path(path).resolve()),
                  "catalog_data_sha256": digest.hexdigest(), "n_rows": len(frame), "n_usable": len(usable)}
    return fit_noise_model(usable[list(MAG_COLUMNS)].to_numpy(), usable[list(SIGMA_COLUMNS)].to_numpy(),
                           bin_width=bin_width, min_count=min_count, provenance=provenance)


def cmd_noise_fit(args: argparse.Namespace, config) -> int:
    model = fit_noise_model_to_catalog(args.catalog, bin_width=config.noise.bin_width,
                                       min_count=config.noise.min_count)
    model.save(args.out)
    print(f"noise model fitted to {model.provenance['n_usable']:,} galaxies of {args.catalog}; "
          f"sha256 {model.sha256()[:12]}; written to {args.out}", file=sys.stderr)
    _print_summary(model)
    return 0


def cmd_noise_show(args: argparse.Namespace, config) -> int:
    from .model import load_noise_model

    _print_summary(load_noise_model(args.model or config.noise.model))
    return 0


def real_set_support(noise_model, colour_quantiles, n_sigma: float) -> dict:
    """Out-of-support counts and fractions of the real SDSS set's usable galaxies."""
    from ..datasets.kcorrect_sdss import read_kcorrect_sdss
    from ..ingest.core import convert_photometry, data_validity_reasons, flag_out_of_support
    from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS

    frame, provenance = read_kcorrect_sdss()
    flux, ivar = frame[list(FLUX_COLUMNS)].to_numpy(), frame[list(IVAR_COLUMNS)].to_numpy()
    mag, sigma = convert_photometry(flux, ivar)
    usable = data_validity_reasons(flux, ivar, sigma, frame["z"].to_numpy()) == 0
    oos_noise, oos_color = flag_out_of_support(mag, sigma, noise_model, colour_quantiles, n_sigma, usable=usable)
    n = int(usable.sum())
    counts = {"oos_noise": int(oos_noise.sum()), "oos_color": int(oos_color.sum()),
              "oos_any": int((oos_noise | oos_color).sum())}
    return {"data_set": provenance["data_set"], "flux_column": provenance["flux_column"], "rows": len(frame),
            "usable": n, "noise_model_sha256": noise_model.sha256(),
            "noise_model_fitted_from": noise_model.provenance.get("fitted_from"), "outlier_sigma": n_sigma,
            **counts, **{f"{k}_frac": round(v / n, 5) for k, v in counts.items()}}


def cmd_noise_support(args: argparse.Namespace, config) -> int:
    from ..simulate import training_colour_quantiles
    from .model import load_noise_model

    result = real_set_support(load_noise_model(args.model or config.noise.model),
                              training_colour_quantiles(args.training_set), config.noise.outlier_sigma)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def _print_summary(model) -> None:
    summary = {
        "sha256": model.sha256(),
        "provenance": model.provenance,
        "bands": {b.band: {"mag_range": [round(v, 3) for v in b.mag_range], "floor": b.floor,
                           "n_bins": len(b.mag_centres),
                           "sigma_median_range": [round(float(b.sigma_median.min()), 4),
                                                  round(float(b.sigma_median.max()), 4)]}
                  for b in model.bands},
    }
    json.dump(summary, sys.stdout, indent=1)
    sys.stdout.write("\n")
