"""Options every ``sedflow`` subcommand shares.

A leaf module on purpose: the root ``cli`` imports every stage's CLI, so the stages take their
shared options from here rather than from ``cli`` (which would make an import cycle).
"""

from __future__ import annotations

import argparse


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="run configuration (TOML or JSON)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set sps.ssp_age_rule=average (repeatable)")
