"""``sedflow sps {photometry,spectrum,table-info}``: the PROVABGS forward model from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import numpy as np

from ..cli_args import add_config_args
from ..config import Config

if TYPE_CHECKING:
    from .model import Space


def register(sub) -> None:
    sps = sub.add_parser("sps", help="the PROVABGS forward model").add_subparsers(dest="sps_command", metavar="SPS")
    for name, func, helptext in (
        ("photometry", cmd_sps_photometry, "SDSS ugriz photometry and derived properties"),
        ("spectrum", cmd_sps_spectrum, "rest- or observed-frame spectra as CSV"),
    ):
        p = sps.add_parser(name, help=helptext)
        add_config_args(p)
        p.add_argument("--theta", action="append", default=[], metavar="V1,V2,...",
                       help="one galaxy's parameters, comma-separated (repeatable)")
        p.add_argument("--space", choices=("physical", "box"), default="physical",
                       help="parameter space of --theta: 12 physical or 11 box coordinates")
        p.add_argument("--z", type=float, action="append", default=[], help="redshift(s), 0 < z <= 0.2")
        p.add_argument("--prior", type=int, metavar="N", help="draw N galaxies from the prior instead")
        p.add_argument("--seed", type=int, default=None, help="seed for --prior (default: the config's)")
        p.set_defaults(func=func)
        if name == "photometry":
            p.add_argument("--unit", choices=("mag", "nanomaggies", "maggies"), default="mag")
            p.add_argument("--format", choices=("table", "csv", "json"), default="table")
        else:
            p.add_argument("--frame", choices=("rest", "observed"), default="rest")
            p.add_argument("--no-dust", action="store_true", help="intrinsic (unattenuated) spectra")
            p.add_argument("--out", metavar="FILE", help="write CSV here instead of stdout")
    info = sps.add_parser("table-info", help="provenance of an SSP table (default: the shipped one)")
    add_config_args(info)
    info.add_argument("--table", metavar="FILE", help="an SSP table .npz")
    info.set_defaults(func=cmd_sps_table_info)


def _parse_vector(text: str, n: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected {n} comma-separated numbers") from None
    if len(values) != n:
        raise ValueError(f"{what} {text!r}: expected {n} comma-separated numbers, got {len(values)}")
    return values


def _galaxies(args: argparse.Namespace, config: Config) -> tuple[np.ndarray, np.ndarray, Space]:
    """θ (N, 11 or 12), z (N,) and the space name from --theta/--z or --prior N."""
    from .parameters import N_BOX, N_PHYSICAL, draw_box_prior

    if args.prior is not None:
        if args.theta:
            raise ValueError("give either --theta or --prior, not both")
        theta, z = draw_box_prior(args.prior, np.random.default_rng(config.seed if args.seed is None else args.seed))
        return theta, z, "box"
    if not args.theta:
        raise ValueError("give galaxies with --theta (and --z) or draw them with --prior N")
    n = N_PHYSICAL if args.space == "physical" else N_BOX
    theta = np.array([_parse_vector(t, n, f"--theta ({args.space} space)") for t in args.theta])
    if len(args.z) not in (1, len(theta)):
        raise ValueError(f"--z: give one redshift or one per --theta ({len(theta)}); got {len(args.z)}")
    z = np.broadcast_to(np.asarray(args.z, dtype=float), (len(theta),)).copy()
    return theta, z, args.space


def _emit(rows: list[dict], fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    keys = list(rows[0]) if rows else []
    if fmt == "csv":
        out.write(",".join(keys) + "\n")
        for r in rows:
            out.write(",".join(_fmt(r[k]) for k in keys) + "\n")
        return
    cells = [[_fmt(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    out.write("  ".join(k.rjust(w) for k, w in zip(keys, widths)) + "\n")
    for c in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(c, widths)) + "\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _photometry_rows(model, theta: np.ndarray, z: np.ndarray, space: Space, unit: str) -> list[dict]:
    from .parameters import PHYSICAL_NAMES

    phys = model.physical_parameters(theta, space)
    flux = model.photometry(phys, z, unit=unit)
    props = model.derived_properties(phys, z)
    suffix = {"mag": "mag", "nanomaggies": "nmgy", "maggies": "maggies"}[unit]
    rows = []
    for i in range(len(z)):
        row = {"z": float(z[i])}
        row.update({name: float(phys[i, j]) for j, name in enumerate(PHYSICAL_NAMES)})
        row.update({f"{b}_{suffix}": float(flux[i, k]) for k, b in enumerate(model.bands)})
        row.update({name: float(v[i]) for name, v in props.items()})
        rows.append(row)
    return rows


def cmd_sps_photometry(args: argparse.Namespace, config: Config) -> int:
    from .model import PROVABGSModel

    theta, z, space = _galaxies(args, config)
    model = PROVABGSModel(config=config.sps)
    _emit(_photometry_rows(model, theta, z, space, args.unit), args.format)
    return 0


def cmd_sps_spectrum(args: argparse.Namespace, config: Config) -> int:
    from .model import PROVABGSModel

    theta, z, space = _galaxies(args, config)
    model = PROVABGSModel(config=config.sps)
    wave, flux = model.spectra(theta, z, space=space, frame=args.frame, dust=not args.no_dust)
    unit = "lsun_per_aa" if args.frame == "rest" else "erg_s_cm2_aa"
    rows = []
    for k in range(flux.shape[1]):
        row = {"wave_aa": float(wave[k]) if args.frame == "rest" else None}
        for i in range(flux.shape[0]):
            if args.frame == "observed":
                row[f"wave_obs_aa_{i}"] = float(wave[i, k])
            row[f"flux_{unit}_{i}"] = float(flux[i, k])
        if args.frame == "observed":
            row.pop("wave_aa")
        rows.append(row)
    if args.out:
        with open(args.out, "w") as fh:
            _emit(rows, "csv", fh)
        print(f"wrote {len(rows)} wavelengths x {flux.shape[0]} spectra to {args.out}", file=sys.stderr)
    else:
        _emit(rows, "csv")
    return 0


def cmd_sps_table_info(args: argparse.Namespace, config: Config) -> int:
    from .ssp_table import default_ssp_table_path, load_ssp_table

    table = load_ssp_table(args.table)
    info = {
        "path": str(args.table or default_ssp_table_path()),
        "shape (age, Z, wave)": list(table.lum.shape),
        "content_sha256_verified": True,
        **{k: table.meta[k] for k in ("source", "source_detail", "imf", "zsun", "lsun_erg_s", "wave_min",
                                       "wave_max", "wave_step", "units", "license", "sha256") if k in table.meta},
    }
    json.dump(info, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
