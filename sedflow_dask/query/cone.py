"""Cone searches through lsdb: only the HEALPix pixels the cone touches are read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .duck import column_names


def angular_separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation [arcsec] of points given in degrees (Vincenty's formula, stable at all angles)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(dra), np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den)) * 3600.0


def cone_search(catalog: str | Path, ra: float, dec: float, radius_arcsec: float, *,
                columns: Sequence[str] | None = None):
    """Galaxies of ``catalog`` within ``radius_arcsec`` of (``ra``, ``dec``) [deg], nearest first.

    Opens the HATS catalog with ``lsdb.open_catalog(..., search_filter=lsdb.ConeSearch(...))``,
    so only the pixels the cone overlaps are read. ``columns``: the columns to return (default:
    all but the stored draws ``samples``; ``ra`` and ``dec`` are always included). Returns a
    pandas DataFrame with a ``sep_arcsec`` column, sorted by it; empty when nothing is inside.
    """
    import lsdb

    if not (np.isfinite(ra) and np.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise ValueError(f"cone centre (ra={ra}, dec={dec}): need finite degrees with -90 <= dec <= 90")
    if not (np.isfinite(radius_arcsec) and radius_arcsec > 0):
        raise ValueError(f"cone radius {radius_arcsec} arcsec: must be > 0")
    names = column_names(catalog)
    if columns is None:
        columns = [c for c in names if c not in ("samples", "_healpix_29")]
    else:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{catalog}: no column(s) {missing}; columns are {', '.join(names)}")
        columns = [*dict.fromkeys(["ra", "dec", *columns])]
    try:
        # Absolute: lsdb reads the pixels wherever Dask runs its tasks, and under a distributed
        # client those are worker processes whose working directory is not the caller's.
        cat = lsdb.open_catalog(str(Path(catalog).resolve()), search_filter=lsdb.ConeSearch(ra=float(ra), dec=float(dec),
                                                                            radius_arcsec=float(radius_arcsec)),
                                columns=list(columns), error_empty_filter=False)
    except (FileNotFoundError, OSError) as exc:
        raise ValueError(f"{catalog}: lsdb cannot open it as a HATS catalog: {exc}") from None
    frame = pd.DataFrame(cat.compute(progress_bar=False)).reset_index(drop=True)
    typed = {c: frame[c].astype(t) if (t := _numpy_dtype(frame[c])) is not None else frame[c] for c in frame.columns}
    sep = angular_separation_arcsec(ra, dec, frame["ra"].to_numpy(np.float64), frame["dec"].to_numpy(np.float64))
    frame = pd.DataFrame({**typed, "sep_arcsec": sep})  # built at once: one block per dtype
    return frame.sort_values("sep_arcsec", kind="stable").reset_index(drop=True)


def _numpy_dtype(column):
    """The numpy dtype for a pyarrow-backed numeric column (as in DuckDB's pandas output), else None.

    Floats always (nulls become NaN); integers and booleans only without nulls.
    """
    if isinstance(column.dtype, pd.ArrowDtype):
        np_type = column.dtype.numpy_dtype
        if np_type.kind == "f" or (np_type.kind in "iub" and not column.isna().any()):
            return np_type
    return None
