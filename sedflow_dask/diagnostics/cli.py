"""``sedflow validate``: calibration and recovery on held-out simulations."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    from ..cli_args import add_config_args
    from ..noise.regimes import REGIMES

    p = sub.add_parser("validate", help="SBC, p-p, TARP and recovery of a posterior model on held-out simulations")
    add_config_args(p)
    p.add_argument("model", nargs="?", metavar="MODEL_DIR", help="artifact directory (default: the shipped model)")
    p.add_argument("--out", required=True, metavar="DIR", help="where figures and summary.json go")
    p.add_argument("--n", type=int, default=2000, help="held-out simulations (default 2000)")
    p.add_argument("--samples", type=int, default=None, help="draws per galaxy (default: sample.n_samples)")
    p.add_argument("--seed", type=int, default=None, help="seed of the held-out set (default: the config's)")
    p.add_argument("--threads", type=int, default=2, help="sampling threads (default 2)")
    p.add_argument("--proposal", metavar="FILE",
                   help="noise proposal the posterior was trained with (default: noise.proposal, else the shipped one)")
    p.add_argument("--regime", default="real", choices=[*REGIMES, "all"],
                   help="how the held-out galaxies are observed (docs/noise.md): real SDSS errors (default), the "
                        "training proposal, sigma x3 in one band, u or g and u missing; all: each, into OUT/<regime>")
    p.add_argument("--mcmc", type=int, default=0, metavar="N",
                   help="also run MCMC (the fallback) on the first N galaxies and compare posterior widths (default 0)")
    p.add_argument("--mcmc-seconds", type=float, default=None, metavar="S",
                   help="MCMC bound per galaxy [s] (default: fallback.max_seconds_per_galaxy)")
    p.add_argument("--mcmc-from", metavar="NPZ",
                   help="reuse the mcmc_reference.npz of an earlier validate run on the same --n and --seed")
    p.add_argument("--record", action="store_true", help="also store the summary in the model's model.json")
    p.set_defaults(func=cmd_validate)


#: What ``--record`` keeps of the real-noise regime at the top of ``model.json``'s ``validation``
#: (the model's headline numbers), and of every regime under ``validation.regimes``.
RECORDED = ("n_galaxies", "n_samples", "seed", "accept_frac", "calibration", "recovery", "ms_per_galaxy",
            "mcmc_reference")
RECORDED_PER_REGIME = ("n_galaxies", "n_samples", "seed", "calibration", "recovery", "regime_coverage_tolerance",
                       "passes_regime_targets", "mcmc_reference")


def cmd_validate(args: argparse.Namespace, config) -> int:
    from pathlib import Path

    from ..noise.regimes import REGIMES
    from ..posterior.artifact import DEFAULT_MODEL_DIR, load_posterior_model
    from .validate import validate_model

    if args.n < 10:
        raise ValueError(f"--n must be >= 10; got {args.n}")
    if args.mcmc < 0:
        raise ValueError(f"--mcmc must be >= 0; got {args.mcmc}")
    model = load_posterior_model(args.model)
    regimes = list(REGIMES) if args.regime == "all" else [args.regime]
    summaries = {}
    for regime in regimes:
        out = Path(args.out) / regime if args.regime == "all" else Path(args.out)
        summaries[regime] = validate_model(
            model, out, n=args.n, n_samples=args.samples or config.sample.n_samples,
            seed=config.seed if args.seed is None else args.seed, threads=args.threads,
            max_rounds=config.sample.max_rounds, proposal_path=args.proposal or config.noise.proposal, regime=regime,
            n_mcmc=args.mcmc if regime == "real" else 0, mcmc_from=args.mcmc_from if regime == "real" else None,
            mcmc_seconds=args.mcmc_seconds or config.fallback.max_seconds_per_galaxy)
    if args.record:
        path = Path(args.model or DEFAULT_MODEL_DIR) / "model.json"
        meta = json.loads(path.read_text())
        record = dict(meta.get("validation") or {})
        if "real" in summaries:
            record.update({k: summaries["real"][k] for k in RECORDED if k in summaries["real"]})
        record["regimes"] = {**record.get("regimes", {}),
                             **{r: {k: v[k] for k in RECORDED_PER_REGIME if k in v} for r, v in summaries.items()}}
        meta["validation"] = record
        path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    brief = {r: {k: v[k] for k in ("n_galaxies", "n_complete", "accept_frac", "ms_per_galaxy", "passes_regime_targets")}
             | {"min_sbc_ks_p": v["calibration"]["min_sbc_ks_p"],
                "max_coverage_68_error": v["calibration"]["max_coverage_68_error"],
                "max_coverage_95_error": v["calibration"]["max_coverage_95_error"],
                "passes_targets": v["calibration"]["passes_targets"]} for r, v in summaries.items()}
    json.dump(brief[regimes[0]] if len(regimes) == 1 else brief, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
