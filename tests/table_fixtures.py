"""Small catalogs written as real FITS (fitsio), Parquet (pyarrow) and CSV files for the reader and
preset tests: a hand-made SDSS export and a generic table in nanomaggies, Jy or AB magnitudes.
Values are drawn here; what the readers must make of them is written down in the tests."""

from __future__ import annotations

from pathlib import Path

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

BANDS = "ugriz"


def make_sdss(n: int = 12, seed: int = 3) -> dict[str, np.ndarray]:
    """A hand-made SDSS export: fluxes [SDSS nmgy], ivars, extinction [mag], z, RA/Dec, objID."""
    rng = np.random.default_rng(seed)
    flux = rng.uniform(5.0, 300.0, (n, 5))
    ivar = 1.0 / (flux * rng.uniform(0.005, 0.2, (n, 5))) ** 2
    ext = np.array([0.21, 0.16, 0.11, 0.08, 0.06]) * rng.uniform(0.5, 2.0, (n, 1))
    return {"objid": 1237650000000000000 + np.arange(n, dtype=np.int64) * 7919,
            "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-20, 70, n), "z": rng.uniform(0.01, 0.19, n),
            "flux": flux, "ivar": ivar, "ext": ext,
            "petro": flux * 1.1, "petro_ivar": ivar / 1.21}


def write_sdss_fits(path, s, *, petro: bool = False, drop: tuple[str, ...] = ()) -> Path:
    """The export as FITS: (5,) ugriz vectors, as the kcorrect catalogue stores them."""
    cols = {"OBJID": s["objid"], "RA": s["ra"], "DEC": s["dec"], "Z": s["z"].astype(np.float32),
            "MODELFLUX": s["flux"], "MODELFLUX_IVAR": s["ivar"], "EXTINCTION": s["ext"]}
    if petro:
        cols |= {"PETROFLUX": s["petro"], "PETROFLUX_IVAR": s["petro_ivar"]}
    cols = {k: v for k, v in cols.items() if k not in drop}
    rec = np.zeros(len(s["ra"]), dtype=[(k, v.dtype.str, v.shape[1:]) for k, v in cols.items()])
    for k, v in cols.items():
        rec[k] = v
    return fx.write_fits(path, rec)


def sdss_per_band_frame(s) -> pd.DataFrame:
    """The same export as SkyServer writes CSV: per-band camelCase columns."""
    data = {"objID": s["objid"], "ra": s["ra"], "dec": s["dec"], "z": s["z"].astype(np.float32).astype(np.float64)}
    for k, b in enumerate(BANDS):
        data[f"modelFlux_{b}"] = s["flux"][:, k]
        data[f"modelFluxIvar_{b}"] = s["ivar"][:, k]
        data[f"extinction_{b}"] = s["ext"][:, k]
    return pd.DataFrame(data)


def make_table(n: int = 30, seed: int = 9) -> dict[str, np.ndarray]:
    """A generic catalog: ids, RA/Dec [deg], z, ugriz fluxes and 1σ errors [nmgy] (all valid)."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(3.0, 400.0, (n, 5))
    sig = f * rng.uniform(0.01, 0.1, (n, 5))
    return {"ID": np.arange(100, 100 + n, dtype=np.int64) * 3, "RA": rng.uniform(0, 360, n),
            "DEC": rng.uniform(-60, 60, n), "ZSPEC": rng.uniform(0.02, 0.18, n), "flux": f, "sigma": sig}


def table_frame(t, form: str) -> pd.DataFrame:
    """The generic table in one form: nmgy (flux + ivar), jy (flux + flux error) or mag (AB + error)."""
    data = {"ID": t["ID"], "RA": t["RA"], "DEC": t["DEC"], "ZSPEC": t["ZSPEC"]}
    for k, b in enumerate(BANDS):
        f, s = t["flux"][:, k], t["sigma"][:, k]
        if form == "nmgy":
            data[f"F_{b.upper()}"], data[f"IVAR_{b.upper()}"] = f, 1.0 / s**2
        elif form == "jy":
            data[f"F_{b.upper()}"], data[f"E_{b.upper()}"] = f * 3.631e-6, s * 3.631e-6
        else:
            data[f"MAG_{b.upper()}"] = 22.5 - 2.5 * np.log10(f)
            data[f"MAGERR_{b.upper()}"] = 2.5 / np.log(10) * s / f
    return pd.DataFrame(data)


def column_map(form: str) -> str:
    """The --columns text for :func:`table_frame` of ``form``."""
    pairs = {"nmgy": ("flux", "F", "ivar", "IVAR"), "jy": ("flux", "F", "fluxerr", "E"),
             "mag": ("mag", "MAG", "magerr", "MAGERR")}[form]
    bands = ",".join(f"{pairs[0]}_{b}={pairs[1]}_{b.upper()},{pairs[2]}_{b}={pairs[3]}_{b.upper()}" for b in BANDS)
    return f"id=ID,ra=RA,dec=DEC,z=ZSPEC,{bands}"


def write_table(frame: pd.DataFrame, path, fmt: str) -> Path:
    """Write ``frame`` as fits, parquet (row groups of 7) or csv."""
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7)
    else:
        rec = frame.to_records(index=False)
        fx.write_fits(path, np.asarray(rec, dtype=[(c, frame[c].dtype.str) for c in frame.columns]))
    return path
