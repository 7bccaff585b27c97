"""``sedflow noise fit|show``: fit the noise model to an ingested catalog, or describe one."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np


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
        "support", help="out-of-support fractions of the real SDSS galaxies against a training proposal",
        description="Flag the usable galaxies of the real SDSS set shipped in kcorrect (0 < z <= 0.2, at least 3 "
                    "measured bands) as ingest does: oos_noise (a band's flux error outside the training "
                    "proposal's range) and oos_color (a colour of asinh magnitudes more than outlier_sigma "
                    "errors below the training set's 0.1th percentile). Prints one JSON object.")
    add_config_args(support)
    support.add_argument("--proposal", metavar="FILE", help="noise proposal (default: noise.proposal, else the "
                                                             "shipped one)")
    support.add_argument("--model", metavar="NAME|FILE", help="without --proposal: the proposal built on this noise "
                                                               "model (shipped names: sdss_real, sdss_depths)")
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


def real_set_support(proposal, colour_quantiles, n_sigma: float) -> dict:
    """Out-of-support counts and fractions of the real SDSS set's usable galaxies.

    ``proposal`` is a :class:`~sedflow_dask.noise.proposal.NoiseProposal`, ``colour_quantiles``
    the 10 training colour quantiles [mag], ``n_sigma`` the colour test's threshold; the rules
    are ingest's (``ingest.core.flag_out_of_support``).
    """
    from ..datasets.kcorrect_sdss import read_kcorrect_sdss
    from ..ingest.core import data_validity_reasons, flag_out_of_support
    from ..likelihood import observations_from_catalog
    from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS, band_present

    frame, provenance = read_kcorrect_sdss()
    flux, ivar = frame[list(FLUX_COLUMNS)].to_numpy(), frame[list(IVAR_COLUMNS)].to_numpy()
    obs_flux, obs_sigma = observations_from_catalog(flux, ivar)
    usable = data_validity_reasons(flux, ivar, frame["z"].to_numpy()) == 0
    oos_noise, oos_color = flag_out_of_support(obs_flux, obs_sigma, proposal, colour_quantiles, n_sigma, usable=usable)
    n = int(usable.sum())
    counts = {"oos_noise": int(oos_noise.sum()), "oos_color": int(oos_color.sum()),
              "oos_any": int((oos_noise | oos_color).sum())}
    all_bands = np.all(band_present(obs_flux, obs_sigma), axis=1)
    return {"data_set": provenance["data_set"], "flux_column": provenance["flux_column"], "rows": len(frame),
            "usable": n, "usable_all_bands": int((usable & all_bands).sum()),
            "usable_nonpositive_flux": int((usable & np.any(obs_flux <= 0, axis=1)).sum()),
            "proposal_sha256": proposal.sha256(), "outlier_sigma": n_sigma,
            **counts, **{f"{k}_frac": round(v / n, 5) for k, v in counts.items()}}


def cmd_noise_support(args: argparse.Namespace, config) -> int:
    import dataclasses

    from ..ingest.pipeline import SupportReference

    noise = dataclasses.replace(config.noise, proposal=args.proposal or config.noise.proposal,
                                model=args.model or config.noise.model)
    reference = SupportReference.from_config(noise, args.training_set)
    result = real_set_support(reference.proposal, reference.colour_quantiles, reference.outlier_sigma)
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
