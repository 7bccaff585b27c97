"""``sedflow validate``: calibration and recovery on held-out simulations."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    from ..cli_args import add_config_args

    p = sub.add_parser("validate", help="SBC, p-p, TARP and recovery of a posterior model on held-out simulations")
    add_config_args(p)
    p.add_argument("model", nargs="?", metavar="MODEL_DIR", help="artifact directory (default: the shipped model)")
    p.add_argument("--out", required=True, metavar="DIR", help="where figures and summary.json go")
    p.add_argument("--n", type=int, default=2000, help="held-out simulations (default 2000)")
    p.add_argument("--samples", type=int, default=None, help="draws per galaxy (default: sample.n_samples)")
    p.add_argument("--seed", type=int, default=None, help="seed of the held-out set (default: the config's)")
    p.add_argument("--threads", type=int, default=2, help="sampling threads (default 2)")
    p.add_argument("--noise-model", metavar="FILE", help="noise model the posterior was trained with (default: shipped)")
    p.add_argument("--mcmc", type=int, default=0, metavar="N",
                   help="also run MCMC (the fallback) on the first N galaxies and compare posterior widths (default 0)")
    p.add_argument("--mcmc-seconds", type=float, default=None, metavar="S",
                   help="MCMC bound per galaxy [s] (default: fallback.max_seconds_per_galaxy)")
    p.add_argument("--mcmc-from", metavar="NPZ",
                   help="reuse the mcmc_reference.npz of an earlier validate run on the same --n and --seed")
    p.add_argument("--record", action="store_true", help="also store the summary in the model's model.json")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace, config) -> int:
    from ..posterior.artifact import DEFAULT_MODEL_DIR, load_posterior_model
    from .validate import validate_model

    if args.n < 10:
        raise ValueError(f"--n must be >= 10; got {args.n}")
    if args.mcmc < 0:
        raise ValueError(f"--mcmc must be >= 0; got {args.mcmc}")
    model = load_posterior_model(args.model)
    summary = validate_model(model, args.out, n=args.n, n_samples=args.samples or config.sample.n_samples,
                             seed=config.seed if args.seed is None else args.seed, threads=args.threads,
                             max_rounds=config.sample.max_rounds, noise_path=args.noise_model or config.noise.model,
                             n_mcmc=args.mcmc, mcmc_from=args.mcmc_from,
                             mcmc_seconds=args.mcmc_seconds or config.fallback.max_seconds_per_galaxy,
                             stream=sys.stderr)  # today's stderr, not the one bound at import
    if args.record:
        from pathlib import Path

        path = Path(args.model or DEFAULT_MODEL_DIR) / "model.json"
        meta = json.loads(path.read_text())
        meta["validation"] = {k: summary[k] for k in ("n_galaxies", "n_samples", "seed", "accept_frac",
                                                      "calibration", "recovery", "ms_per_galaxy", "mcmc_reference")
                              if k in summary}
        path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    json.dump({k: summary[k] for k in ("n_galaxies", "n_complete", "accept_frac", "ms_per_galaxy")}
              | {"min_sbc_ks_p": summary["calibration"]["min_sbc_ks_p"],
                 "passes_targets": summary["calibration"]["passes_targets"]}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
