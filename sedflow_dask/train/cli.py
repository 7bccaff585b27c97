"""``sedflow train``: the posterior estimator from a training set."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys


def register(sub) -> None:
    from ..cli_args import add_config_args

    p = sub.add_parser("train", help="train the posterior estimator (sbi) on a training set",
                       description="Fit q(theta | mags, sigmas, z) with sbi to a `sedflow simulate` training set; "
                                   "checkpoints every epoch into --out, --resume continues an interrupted run.")
    add_config_args(p)
    p.add_argument("training_set", metavar="TRAINING_SET", help="a training-set directory (sedflow simulate --out)")
    p.add_argument("--out", required=True, metavar="DIR", help="artifact directory (weights.pt, model.json)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget (default: train.max_minutes)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: the config's)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace, config) -> int:
    from .run import train_posterior

    train = config.train if args.max_minutes is None else dataclasses.replace(config.train, max_minutes=args.max_minutes)
    config = dataclasses.replace(config, train=train, seed=config.seed if args.seed is None else args.seed)
    command = "sedflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    train_posterior(config, args.training_set, args.out, resume=args.resume, command=command)
    return 0
