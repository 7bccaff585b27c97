"""Simple-stellar-population (SSP) spectral table: data class, loader, and the shared
"SSPs in hand -> table" step used by every table builder.

A table holds, for A ages, J metallicities and W rest-frame wavelength bins,

* ``lum``        float32 (A, J, W): L_sun / Angstrom per M_sun *formed*, rest frame; each
  value is the exact average over its wavelength bin of the piecewise-linear native
  spectrum;
* ``age_yr``     float64 (A,): SSP ages in years, > 0, strictly ascending;
* ``z_abs``      float64 (J,): absolute metallicity (mass fraction), strictly ascending;
* ``wave_edges`` float64 (W+1,): rest-frame bin edges in Angstrom, strictly ascending;
* ``live_frac``  float32 (A, J) or None: surviving-mass fraction per M_sun formed; what it
  counts is stated by ``meta["live_frac_definition"]`` ("living_stars_only" for BC03,
  "stars_plus_remnants" for FSPS);
* ``meta``       JSON-serialisable provenance dict (see ``docs`` of :func:`table_from_ssps`).

On disk a table is one ``.npz`` (``np.savez_compressed``). ``lum`` is stored byte-shuffled
(key ``lum_byteplanes``: uint8 (4, A*J*W), the little-endian float32 bytes as byte planes,
plus ``lum_shape``) because zlib compresses the exponent planes far better than interleaved
floats; a plain ``lum`` key is accepted too. ``meta_json`` is a 0-d unicode array.

``meta["sha256"]`` is a *content* hash (arrays + metadata, not file bytes, so it does not
depend on zip timestamps or the storage layout); see :func:`content_sha256`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_TABLE_NAME",
    "DEFAULT_MAX_AGE_YR",
    "HASH_EXCLUDED_META_KEYS",
    "SSPTable",
    "load_ssp_table",
    "default_ssp_table_path",
    "table_from_ssps",
    "content_sha256",
    "bin_average_piecewise_linear",
    "shuffle_float32_bytes",
    "unshuffle_float32_bytes",
]

FORMAT = "sedflow-ssp-table"
FORMAT_VERSION = 1
DEFAULT_TABLE_NAME = "bc03_miles_10A.npz"
#: Oldest age kept by :func:`table_from_ssps` (yr). Model ages never exceed 13.8 Gyr.
DEFAULT_MAX_AGE_YR = 14.0e9
# Native BC03 ages are float32-derived (e.g. 1.02500004e10); a relative slack keeps a node
# that is "14 Gyr" up to float32 rounding from being dropped.
_AGE_CROP_RTOL = 1e-6
#: Metadata keys that do not enter the content hash: the hash itself, and what changes
#: between builds of identical content.
HASH_EXCLUDED_META_KEYS = frozenset({"sha256", "package_version", "built_at"})

_ARRAY_ORDER = ("lum", "age_yr", "z_abs", "wave_edges", "live_frac")
_DTYPES: dict[str, np.dtype] = {
    "lum": np.dtype("<f4"),
    "age_yr": np.dtype("<f8"),
    "z_abs": np.dtype("<f8"),
    "wave_edges": np.dtype("<f8"),
    "live_frac": np.dtype("<f4"),
}
_REQUIRED_META = ("format", "format_version", "zsun", "lsun_erg_s", "units")


# --------------------------------------------------------------------------- helpers


def shuffle_float32_bytes(a: np.ndarray) -> np.ndarray:
    """Byte planes of ``a`` as little-endian float32: uint8 array (4, a.size)."""
    flat = np.ascontiguousarray(a, dtype="<f4").reshape(-1)
    return np.ascontiguousarray(flat.view(np.uint8).reshape(-1, 4).T)


def unshuffle_float32_bytes(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`shuffle_float32_bytes`: float32 array of ``shape``."""
    planes = np.asarray(planes)
    n = int(np.prod(shape, dtype=np.int64))
    if planes.dtype != np.uint8 or planes.shape != (4, n):
        raise ValueError(
            f"byte planes must be uint8 of shape (4, {n}), got {planes.dtype} {planes.shape}"
        )
    return np.ascontiguousarray(planes.T).view("<f4").reshape(shape).astype(np.float32)


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def content_sha256(
    lum: np.ndarray,
    age_yr: np.ndarray,
    z_abs: np.ndarray,
    wave_edges: np.ndarray,
    live_frac: np.ndarray | None,
    meta: Mapping[str, Any],
) -> str:
    """Hex sha256 of a table's content.

    For each array in the fixed order (lum, age_yr, z_abs, wave_edges, live_frac): the name,
    the canonical dtype string (``<f4``/``<f8``), the shape, then the raw C-order
    little-endian bytes (``lum`` as logical float32, never shuffled); an absent
    ``live_frac`` contributes a fixed marker. Then the canonical JSON (sorted keys, no
    whitespace) of ``meta`` without :data:`HASH_EXCLUDED_META_KEYS`.
    """
    h = hashlib.sha256()
    arrays = dict(lum=lum, age_yr=age_yr, z_abs=z_abs, wave_edges=wave_edges, live_frac=live_frac)
    for name in _ARRAY_ORDER:
        arr = arrays[name]
        if arr is None:
            h.update(f"{name}\0none\0\0".encode())
            continue
        a = np.ascontiguousarray(arr, dtype=_DTYPES[name])
        h.update(f"{name}\0{a.dtype.str}\0{','.join(str(s) for s in a.shape)}\0".encode())
        h.update(a.tobytes(order="C"))
    hashed_meta = {k: v for k, v in meta.items() if k not in HASH_EXCLUDED_META_KEYS}
    h.update(b"meta\0")
    h.update(_canonical_json(hashed_meta).encode("ascii"))
    return h.hexdigest()


def bin_average_piecewise_linear(
    wave: np.ndarray, flux: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Exact bin averages of the piecewise-linear function through (``wave``, ``flux``).

    ``wave`` (N,) strictly ascending, ``flux`` (..., N), ``edges`` (M+1,) strictly ascending
    and inside [wave[0], wave[-1]]. Returns float64 (..., M): the integral of the linear
    interpolant over each bin divided by the bin width. Computed from the cumulative
    integral at the edges (float64), so flux is conserved exactly up to rounding.
    """
    wave = np.asarray(wave, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    if edges[0] < wave[0] or edges[-1] > wave[-1]:
        raise ValueError(
            f"native grid [{wave[0]}, {wave[-1]}] does not cover [{edges[0]}, {edges[-1]}]"
        )
    # Only the segments touching the edge range matter; cropping first keeps the running
    # sum short (less cancellation when differencing it).
    i0 = max(int(np.searchsorted(wave, edges[0], side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(wave, edges[-1], side="left")), wave.size - 1)
    i1 = max(i1, i0 + 1)
    x = wave[i0 : i1 + 1]
    y = flux[..., i0 : i1 + 1]
    dx = np.diff(x)
    seg = 0.5 * (y[..., 1:] + y[..., :-1]) * dx
    cum = np.concatenate([np.zeros(y.shape[:-1] + (1,)), np.cumsum(seg, axis=-1)], axis=-1)
    k = np.clip(np.searchsorted(x, edges, side="right") - 1, 0, x.size - 2)
    t = edges - x[k]
    slope = (y[..., k + 1] - y[..., k]) / dx[k]
    integral = cum[..., k] + y[..., k] * t + 0.5 * slope * t * t
    return np.diff(integral, axis=-1) / np.diff(edges)


def _readonly(a: np.ndarray) -> np.ndarray:
    # A read-only *view* so a cached table cannot be mutated in place, without touching
    # the flags of an array the caller still owns.
    v = a.view()
    v.flags.writeable = False
    return v


def _check_arrays(
    where: str,
    lum: np.ndarray,
    age_yr: np.ndarray,
    z_abs: np.ndarray,
    wave_edges: np.ndarray,
    live_frac: np.ndarray | None,
    meta: Mapping[str, Any],
) -> None:
    """Raise ValueError naming ``where`` and the offending key if the table is inconsistent."""
    if lum.ndim != 3:
        raise ValueError(f"{where}: key 'lum' must be 3-d (age, Z, wave), got shape {lum.shape}")
    A, J, W = lum.shape
    for name, arr, shape in (
        ("age_yr", age_yr, (A,)),
        ("z_abs", z_abs, (J,)),
        ("wave_edges", wave_edges, (W + 1,)),
    ):
        if arr.shape != shape:
            raise ValueError(f"{where}: key '{name}' has shape {arr.shape}, expected {shape}")
        if not np.all(np.isfinite(arr)) or not np.all(np.diff(arr) > 0):
            raise ValueError(f"{where}: key '{name}' must be finite and strictly ascending")
    if A < 1 or J < 1 or W < 1:
        raise ValueError(f"{where}: key 'lum' has an empty axis, shape {lum.shape}")
    if not np.all(age_yr > 0):
        raise ValueError(f"{where}: key 'age_yr' must be > 0 (age-0 nodes are not allowed)")
    if not np.all(z_abs > 0):
        raise ValueError(f"{where}: key 'z_abs' must be > 0")
    if live_frac is not None:
        if live_frac.shape != (A, J):
            raise ValueError(
                f"{where}: key 'live_frac' has shape {live_frac.shape}, expected {(A, J)}"
            )
        if not np.all(np.isfinite(live_frac)) or np.any(live_frac < 0):
            raise ValueError(f"{where}: key 'live_frac' must be finite and >= 0")
    for key in _REQUIRED_META:
        if key not in meta:
            raise ValueError(f"{where}: metadata key '{key}' is missing")
    if meta["format"] != FORMAT:
        raise ValueError(f"{where}: metadata key 'format' is {meta['format']!r}, expected {FORMAT!r}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{where}: metadata key 'format_version' is {meta['format_version']!r}, "
            f"this code reads {FORMAT_VERSION}"
        )
    for key, n in (("n_age", A), ("n_z", J), ("n_wave", W)):
        if key in meta and meta[key] != n:
            raise ValueError(f"{where}: metadata key '{key}' = {meta[key]} but the arrays have {n}")
    if live_frac is not None and "live_frac_definition" not in meta:
        raise ValueError(f"{where}: metadata key 'live_frac_definition' is missing")


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, eq=False)
class SSPTable:
    """An SSP spectral table (see the module docstring for the on-disk layout).

    Attributes
    ----------
    lum : float32 (A, J, W)
        Rest-frame luminosity density in L_sun / Angstrom per M_sun formed (L_sun in erg/s is
        ``lsun_erg_s``), averaged over each wavelength bin.
    age_yr : float64 (A,)
        SSP ages in years, > 0, strictly ascending.
    z_abs : float64 (J,)
        Absolute metallicity (metal mass fraction), strictly ascending.
    wave_edges : float64 (W+1,)
        Rest-frame wavelength bin edges in Angstrom.
    live_frac : float32 (A, J) or None
        Surviving-mass fraction (M_sun per M_sun formed); ``meta["live_frac_definition"]``
        says whether remnants are included.
    meta : dict
        Provenance and conventions (JSON-serialisable).

    Arrays are exposed as read-only views.
    """

    lum: np.ndarray
    age_yr: np.ndarray
    z_abs: np.ndarray
    wave_edges: np.ndarray
    live_frac: np.ndarray | None
    meta: dict

    def __post_init__(self) -> None:
        conv = {
            name: np.ascontiguousarray(getattr(self, name), dtype=_DTYPES[name].newbyteorder("="))
            for name in _ARRAY_ORDER
            if getattr(self, name) is not None
        }
        try:
            meta = json.loads(_canonical_json(dict(self.meta)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"SSPTable: metadata is not JSON-serialisable: {exc}") from None
        _check_arrays(
            "SSPTable",
            conv["lum"],
            conv["age_yr"],
            conv["z_abs"],
            conv["wave_edges"],
            conv.get("live_frac"),
            meta,
        )
        for name, arr in conv.items():
            object.__setattr__(self, name, _readonly(arr))
        object.__setattr__(self, "meta", meta)

    # ---- derived coordinates
    @property
    def wave(self) -> np.ndarray:
        """Rest-frame bin centres in Angstrom, float64 (W,)."""
        return 0.5 * (self.wave_edges[1:] + self.wave_edges[:-1])

    @property
    def log_age(self) -> np.ndarray:
        """log10(age / yr), float64 (A,): the axis ages are interpolated on."""
        return np.log10(self.age_yr)

    @property
    def zsun(self) -> float:
        """The table's own solar metallicity (absolute Z), e.g. 0.02 for BC03."""
        return float(self.meta["zsun"])

    @property
    def zeta(self) -> np.ndarray:
        """Metallicity coordinate log10(z_abs / zsun), float64 (J,) (sps-model.md §7.2)."""
        return np.log10(self.z_abs / self.zsun)

    @property
    def lsun_erg_s(self) -> float:
        """The solar luminosity, in erg/s, that ``lum`` is expressed in."""
        return float(self.meta["lsun_erg_s"])

    @property
    def sha256(self) -> str:
        """The content hash recorded in the metadata (not recomputed)."""
        return str(self.meta["sha256"])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_age, n_z, n_wave)."""
        n_age, n_z, n_wave = self.lum.shape
        return n_age, n_z, n_wave

    def content_sha256(self) -> str:
        """Recompute the content hash (hex sha256) from the arrays and metadata."""
        return content_sha256(
            self.lum, self.age_yr, self.z_abs, self.wave_edges, self.live_frac, self.meta
        )

    def verify(self, where: str = "SSPTable") -> None:
        """Raise ValueError if ``meta["sha256"]`` is absent or differs from the content."""
        recorded = self.meta.get("sha256")
        if recorded is None:
            raise ValueError(f"{where}: metadata key 'sha256' is missing")
        actual = self.content_sha256()
        if actual != recorded:
            raise ValueError(
                f"{where}: content hash mismatch: metadata 'sha256' is {recorded}, "
                f"the content hashes to {actual} (file corrupted or edited)"
            )

    # ---- I/O
    def save(self, path: str | os.PathLike[str], shuffle: bool = True) -> Path:
        """Write the table to ``path`` (``.npz``, exactly that name) atomically.

        ``meta["sha256"]`` is filled in when absent; a recorded hash that does not match the
        content raises ValueError. ``shuffle=False`` stores ``lum`` as a plain float32 array.
        """
        path = Path(path)
        meta = dict(self.meta)
        actual = self.content_sha256()
        if meta.get("sha256", actual) != actual:
            raise ValueError(
                f"{path}: refusing to save: metadata 'sha256' {meta['sha256']} does not match "
                f"the content ({actual})"
            )
        meta["sha256"] = actual
        arrays: dict[str, Any] = {}
        if shuffle:
            arrays["lum_byteplanes"] = shuffle_float32_bytes(self.lum)
            arrays["lum_shape"] = np.asarray(self.lum.shape, dtype=np.int64)
        else:
            arrays["lum"] = np.ascontiguousarray(self.lum, dtype="<f4")
        arrays["age_yr"] = np.ascontiguousarray(self.age_yr, dtype="<f8")
        arrays["z_abs"] = np.ascontiguousarray(self.z_abs, dtype="<f8")
        arrays["wave_edges"] = np.ascontiguousarray(self.wave_edges, dtype="<f8")
        if self.live_frac is not None:
            arrays["live_frac"] = np.ascontiguousarray(self.live_frac, dtype="<f4")
        arrays["meta_json"] = np.array(json.dumps(meta, sort_keys=True, indent=1))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                # A file object, not a name: np.savez would append ".npz" to a name.
                np.savez_compressed(fh, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file should be world-readable
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], verify: bool = True) -> SSPTable:
        """Read a table written by :meth:`save`.

        Raises FileNotFoundError if ``path`` does not exist and ValueError (naming the file
        and the key) if it is not an npz table, lacks a key, has inconsistent shapes, or —
        with ``verify`` — its content hash differs from ``meta["sha256"]``.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SSP table not found: {path}")
        try:
            npz = np.load(path, allow_pickle=False)
        except Exception as exc:  # np.load raises many types for foreign files
            raise ValueError(f"{path}: not a readable .npz SSP table ({type(exc).__name__}: {exc})") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: not an .npz archive (a bare .npy array?)")
        try:
            with npz:
                keys = set(npz.files)

                def get(key: str) -> np.ndarray:
                    if key not in keys:
                        raise ValueError(f"{path}: key '{key}' is missing")
                    try:
                        return npz[key]
                    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
                        raise ValueError(f"{path}: key '{key}' is unreadable ({exc})") from None

                meta_arr = get("meta_json")
                if meta_arr.shape != () or meta_arr.dtype.kind != "U":
                    raise ValueError(f"{path}: key 'meta_json' must be a 0-d unicode array")
                try:
                    meta = json.loads(str(meta_arr))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: key 'meta_json' is not valid JSON ({exc})") from None
                if not isinstance(meta, dict):
                    raise ValueError(f"{path}: key 'meta_json' must hold a JSON object")
                if "lum_byteplanes" in keys:
                    shape_arr = get("lum_shape")
                    if shape_arr.shape != (3,) or shape_arr.dtype.kind not in "iu":
                        raise ValueError(f"{path}: key 'lum_shape' must be 3 integers")
                    try:
                        lum = unshuffle_float32_bytes(
                            get("lum_byteplanes"), tuple(int(s) for s in shape_arr)
                        )
                    except ValueError as exc:
                        raise ValueError(f"{path}: key 'lum_byteplanes': {exc}") from None
                else:
                    lum = get("lum")
                arrays: dict[str, Any] = {
                    "lum": lum,
                    "age_yr": get("age_yr"),
                    "z_abs": get("z_abs"),
                    "wave_edges": get("wave_edges"),
                    "live_frac": get("live_frac") if "live_frac" in keys else None,
                }
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{path}: corrupt .npz archive ({exc})") from None
        for name, arr in arrays.items():
            if arr is not None and arr.dtype != _DTYPES[name]:
                # Byte order is normalised on load; the kind and width are part of the format.
                if arr.dtype.kind != "f" or arr.dtype.itemsize != _DTYPES[name].itemsize:
                    raise ValueError(
                        f"{path}: key '{name}' has dtype {arr.dtype}, expected {_DTYPES[name]}"
                    )
        _check_arrays(str(path), **arrays, meta=meta)
        table = cls(**arrays, meta=meta)
        if verify:
            table.verify(where=str(path))
        return table


# --------------------------------------------------------------------------- loaders


def default_ssp_table_path() -> Path:
    """Path of the shipped default table (BC03 + MILES, 10 Angstrom bins)."""
    return Path(__file__).resolve().parent.parent / "data" / "ssp" / DEFAULT_TABLE_NAME


@functools.lru_cache(maxsize=2)
def _load_default(verify: bool) -> SSPTable:
    return SSPTable.load(default_ssp_table_path(), verify=verify)


def load_ssp_table(path: str | os.PathLike[str] | None = None, verify: bool = True) -> SSPTable:
    """Load an SSP table; ``None`` loads the shipped default (cached per process).

    With ``verify`` the content hash is recomputed (a few ms) and a mismatch with
    ``meta["sha256"]`` raises ValueError naming the file.
    """
    if path is None:
        return _load_default(bool(verify))
    return SSPTable.load(path, verify=verify)


# --------------------------------------------------------------------------- building


def table_from_ssps(
    age_yr: np.ndarray,
    z_abs: np.ndarray,
    wave_native: np.ndarray,
    lum_native: np.ndarray,
    live_frac: np.ndarray | None,
    meta: Mapping[str, Any],
    step: float = 10.0,
    wmin: float = 2400.0,
    wmax: float = 11200.0,
    max_age_yr: float = DEFAULT_MAX_AGE_YR,
) -> SSPTable:
    """Turn native SSP spectra into a table: crop ages, rebin, validate, hash.

    Parameters
    ----------
    age_yr : (A0,) SSP ages in years, ascending. Ages <= 0 and ages > ``max_age_yr`` are
        dropped (never thinned otherwise).
    z_abs : (J,) absolute metallicities; sorted ascending here if needed.
    wave_native : (N,) strictly ascending rest-frame wavelengths in Angstrom.
    lum_native : (A0, J, N) L_sun / Angstrom per M_sun formed, piecewise linear in wavelength.
    live_frac : (A0, J) surviving-mass fraction or None.
    meta : source metadata; must contain ``source``, ``zsun``, ``lsun_erg_s`` and, with
        ``live_frac``, ``live_frac_definition``. Format, grid and size keys are added here.
    step, wmin, wmax : output bins of ``step`` Angstrom covering [wmin, wmax] exactly.
    max_age_yr : oldest age kept, in years.

    Returns an :class:`SSPTable` whose ``meta["sha256"]`` is set. All arithmetic is float64
    in a fixed order, so identical input gives a bit-identical table and hash. Raises
    ValueError if the native grid does not cover [wmin, wmax] or a value there is
    non-finite or negative.
    """
    age_yr = np.asarray(age_yr, dtype=np.float64)
    z_abs = np.asarray(z_abs, dtype=np.float64)
    wave_native = np.asarray(wave_native, dtype=np.float64)
    lum_native = np.asarray(lum_native, dtype=np.float64)
    A0, J, N = lum_native.shape if lum_native.ndim == 3 else (None, None, None)
    if lum_native.ndim != 3 or age_yr.shape != (A0,) or z_abs.shape != (J,) or wave_native.shape != (N,):
        raise ValueError(
            f"inconsistent SSP shapes: lum {lum_native.shape}, age {age_yr.shape}, "
            f"Z {z_abs.shape}, wave {wave_native.shape}"
        )
    if live_frac is not None:
        live_frac = np.asarray(live_frac, dtype=np.float64)
        if live_frac.shape != (A0, J):
            raise ValueError(f"live_frac has shape {live_frac.shape}, expected {(A0, J)}")
    for key in ("source", "zsun", "lsun_erg_s"):
        if key not in meta:
            raise ValueError(f"source metadata key '{key}' is missing")
    if not (np.all(np.isfinite(age_yr)) and np.all(np.diff(age_yr) > 0)):
        raise ValueError("native ages must be finite and strictly ascending")
    if not (np.all(np.isfinite(wave_native)) and np.all(np.diff(wave_native) > 0)):
        raise ValueError("native wavelengths must be finite and strictly ascending")

    order = np.argsort(z_abs, kind="stable")
    z_abs = z_abs[order]
    lum_native = lum_native[:, order, :]
    if live_frac is not None:
        live_frac = live_frac[:, order]
    if not (np.all(z_abs > 0) and np.all(np.diff(z_abs) > 0)):
        raise ValueError(f"metallicities must be positive and distinct, got {z_abs.tolist()}")

    keep = (age_yr > 0) & (age_yr <= max_age_yr * (1.0 + _AGE_CROP_RTOL))
    if not keep.any():
        raise ValueError(f"no native age in (0, {max_age_yr:g}] yr")
    age = age_yr[keep]
    lum_native = lum_native[keep]
    if live_frac is not None:
        live_frac = live_frac[keep]

    nbin_f = (wmax - wmin) / step
    nbin = int(round(nbin_f))
    if step <= 0 or nbin < 1 or abs(nbin_f - nbin) > 1e-9 * max(1.0, nbin_f):
        raise ValueError(f"[wmin, wmax] = [{wmin}, {wmax}] is not a whole number of {step} A bins")
    edges = wmin + step * np.arange(nbin + 1, dtype=np.float64)
    edges[-1] = float(wmax)  # no accumulated rounding in the recorded range
    if wave_native[0] > wmin or wave_native[-1] < wmax:
        raise ValueError(
            f"native wavelength grid [{wave_native[0]}, {wave_native[-1]}] A does not cover "
            f"[{wmin}, {wmax}] A"
        )
    lo = max(int(np.searchsorted(wave_native, wmin, side="right")) - 1, 0)
    hi = min(int(np.searchsorted(wave_native, wmax, side="left")), N - 1)
    window = lum_native[..., lo : hi + 1]
    bad = ~np.isfinite(window) | (window < 0)
    if bad.any():
        a, j, w = np.argwhere(bad)[0]
        raise ValueError(
            f"native spectrum non-finite or negative in [{wmin}, {wmax}] A: {bad.sum()} values, "
            f"first at age {age[a]:g} yr, Z {z_abs[j]:g}, {wave_native[lo + w]:g} A "
            f"(value {window[a, j, w]!r})"
        )
    binned = bin_average_piecewise_linear(wave_native, lum_native, edges)
    lum = binned.astype(np.float32)
    if not np.all(np.isfinite(lum)) or np.any(lum < 0):
        raise ValueError("rebinned spectrum is non-finite or negative")

    full_meta: dict[str, Any] = dict(meta)
    full_meta.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        units=full_meta.get("units", "L_sun/Angstrom per M_sun formed"),
        wave_frame="rest",
        wave_min=float(wmin),
        wave_max=float(wmax),
        wave_step=float(step),
        wave_binning="exact bin average of the piecewise-linear native spectrum",
        age_selection=f"all native ages with 0 < age <= {max_age_yr:g} yr (not thinned)",
        n_age=int(age.size),
        n_z=int(z_abs.size),
        n_wave=int(nbin),
    )
    if live_frac is not None and "live_frac_definition" not in full_meta:
        raise ValueError("source metadata key 'live_frac_definition' is missing")
    full_meta.pop("sha256", None)
    lf = None if live_frac is None else live_frac.astype(np.float32)
    full_meta["sha256"] = content_sha256(lum, age, z_abs, edges, lf, full_meta)
    return SSPTable(lum=lum, age_yr=age, z_abs=z_abs, wave_edges=edges, live_frac=lf, meta=full_meta)
