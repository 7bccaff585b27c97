"""``sedflow mock-nsa``: write a synthetic NSA-schema catalog, its flag companions and truth."""

from __future__ import annotations

import argparse
import sys
import time

from ..cli_args import add_config_args
from ..config import Config
from ..survey.nsa import NSA_VERSIONS


def register(subparsers) -> None:
    """Add ``mock-nsa`` to the ``sedflow`` subcommands."""
    p = subparsers.add_parser(
        "mock-nsa", help="write a synthetic NSA-schema FITS catalog (+ flag companions and truth)",
        description="Galaxies from the forward model and the noise model, with the real NSA column names, "
                    "types and shapes, injected bad values and out-of-support galaxies, SDSS photo-flag "
                    "companion tables and a truth table keyed by NSAID (docs/mock-nsa.md).")
    add_config_args(p)
    p.add_argument("--n", type=int, required=True, help="galaxies (the two golden rows come on top)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="catalog FITS path; companions are named from it (FILE_flags.fits, ...)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")
    p.add_argument("--nsa-version", choices=NSA_VERSIONS, default="v1_0_1",
                   help="v1_0_1 (SERSIC_NMGY, ELPETRO, z <= 0.15) or v0_1_2 (NMGY, z <= 0.055)")
    p.add_argument("--p-fail", type=float, default=0.30, help="fraction with one SDSS flag defect (0.30)")
    p.add_argument("--noise-model", metavar="FILE", default=None,
                   help="noise-model JSON (default: the config's noise.model, else the shipped one)")
    p.add_argument("--flags-inside", action="store_true",
                   help="also put the flag columns into the catalog table")
    p.add_argument("--invalid-flags", action="store_true",
                   help="also write companions with a duplicated NSAID (FILE_flags_dup.*)")
    p.set_defaults(func=cmd_mock_nsa)


def cmd_mock_nsa(args: argparse.Namespace, config: Config) -> int:
    from ..sps import PROVABGSModel
    from .write import write_mock_nsa

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if not 0.0 <= args.p_fail <= 1.0:
        raise ValueError(f"--p-fail must lie in [0, 1], got {args.p_fail}")
    seed = config.seed if args.seed is None else args.seed
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    t0 = time.perf_counter()
    files = write_mock_nsa(
        args.out, args.n, seed=seed, nsa_version=args.nsa_version,
        noise_model=args.noise_model or config.noise.model, p_fail=args.p_fail,
        flags_inside=args.flags_inside, invalid_flags=args.invalid_flags,
        model=PROVABGSModel(config=config.sps),
    )
    dt = time.perf_counter() - t0
    out = sys.stdout
    out.write(f"mock NSA {args.nsa_version}: {files.n_rows} rows ({args.n} galaxies + 2 golden rows), "
              f"seed {seed}, {dt:.1f} s\n")
    for role, path in files.paths().items():
        out.write(f"  {role:<30} {path}\n")
    out.write("injected (rows):\n")
    for key, count in files.counts.items():
        if key.startswith("pathology.") and key != "pathology.none":
            out.write(f"  {key.removeprefix('pathology.'):<30} {count}\n")
    out.write("SDSS photo flags (rows):\n")
    for key, count in files.counts.items():
        if key.startswith("flag_defect.") and key != "flag_defect.none":
            out.write(f"  {key.removeprefix('flag_defect.'):<30} {count}\n")
    for key in ("deblend_nopeak", "deblend_nopeak.psf_err_gt_0.2", "flags_missing"):
        out.write(f"  {key:<30} {files.counts[key]}\n")
    return 0
