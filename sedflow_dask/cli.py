"""The ``sedflow`` command line: one entry point, a subcommand per pipeline stage.

Every subcommand takes ``--config FILE`` (TOML or JSON, the sections of
:class:`sedflow_dask.config.Config`) and repeatable ``--set section.key=value`` overrides.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .config import load_config

_EXIT_USAGE = 2
#: Modules that add a stage's subcommands: each has ``register(subparsers)``; handlers are
#: called as ``func(args, config)`` and return the exit status.
STAGE_CLIS: tuple[str, ...] = (
    "sedflow_dask.demo",  # `sedflow demo` = `make demo`
    "sedflow_dask.sps.cli",
    "sedflow_dask.simulate.cli",
    "sedflow_dask.noise.cli",
    "sedflow_dask.ingest.cli",
    "sedflow_dask.mock.cli",
    "sedflow_dask.train.cli",
    "sedflow_dask.diagnostics.cli",
    "sedflow_dask.infer.cli",
    "sedflow_dask.query.cli",
    "sedflow_dask.deploy.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sedflow", description="Amortized Bayesian SED inference on Dask.")
    parser.add_argument("--version", action="version", version=f"sedflow_dask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for module in STAGE_CLIS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return _EXIT_USAGE
    from .runtime import tune_malloc

    tune_malloc()
    try:
        config = load_config(args.config, args.overrides)
        return args.func(args, config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"sedflow: error: {exc}", file=sys.stderr)
        return _EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
