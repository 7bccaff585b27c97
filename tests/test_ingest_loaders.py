"""Reading the NSA FITS and the flags companion: projection, row-range partitions, byte order, the
in-memory hash join, and every bad-input case with a message naming file/column/row."""

from __future__ import annotations

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from sedflow_dask.files import remove_work_dir
from sedflow_dask.ingest.join import _write, bucket_of, join_bucket_frames
from sedflow_dask.ingest.loaders import (
    check_positions,
    inspect_fits_table,
    iter_flags_rows,
    nsa_dataframe,
    open_flags_table,
    open_nsa,
    read_fits_rows,
    read_nsa_rows,
)
from sedflow_dask.ranges import row_ranges

N = 1500


@pytest.fixture(scope="module")
def cat():
    return fx.make_catalog(N, 11)


@pytest.fixture(scope="module")
def files(tmp_path_factory, cat):
    d = tmp_path_factory.mktemp("nsa")
    fl = fx.make_flags(cat.nsaid, seed=12)
    return {
        "v1": fx.write_nsa(d / "nsa_v1_0_1.fits", cat, "v1"),
        "v0": fx.write_nsa(d / "nsa_v0_1_2.fits", cat, "v0"),
        "flags_fits": fx.write_flags_fits(d / "flags.fits", fl),
        "flags_parquet": fx.write_flags_parquet(d / "flags.parquet", fl, row_group_size=400),
        "dir": d,
        "fl": fl,
    }


def test_projection_and_partitions_equal_one_read(files, cat, monkeypatch):
    import fitsio.hdu.table as table

    nsa = open_nsa(files["v1"])
    assert nsa.schema.version == "v1" and nsa.version == "v1_0_1" and nsa.nrows == N
    seen: list[list[str]] = []
    orig = table.TableHDU.read_columns

    def spy(self, columns, *a, **k):
        seen.append(list(columns))
        return orig(self, columns, *a, **k)

    monkeypatch.setattr(table.TableHDU, "read_columns", spy)
    whole = read_nsa_rows(nsa, 0, N)
    ddf = nsa_dataframe(nsa, partition_rows=400)
    assert ddf.npartitions == 4 and ddf.divisions == (0, 400, 800, 1200, N - 1)
    parts = ddf.compute(scheduler="sync")
    pd.testing.assert_frame_equal(parts, whole)
    assert all("PROFMEAN" not in cols and "IAUNAME" not in cols for cols in seen)
    assert all(a.dtype.isnative for _, a in whole.items())
    # the raw values are the stored float32/int32 numbers, ugriz = FNugriz[2:7]
    assert np.array_equal(whole["nsaid"].to_numpy(), cat.nsaid)
    np.testing.assert_array_equal(whole[["flux_u", "flux_g", "flux_r", "flux_i", "flux_z"]].to_numpy(),
                                  cat.nmgy[:, 2:])
    np.testing.assert_array_equal(whole["z"].to_numpy(), cat.z)
    assert row_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert row_ranges(0, 4) == [] and row_ranges(0, 4, at_least_one=True) == [(0, 0)]


def test_v0_and_elpetro(files, cat):
    v1 = read_nsa_rows(open_nsa(files["v1"]), 0, N)
    v0 = open_nsa(files["v0"])
    assert v0.schema.version == "v0" and v0.version == "v0_1_2" and v0.schema.flux == "NMGY"
    pd.testing.assert_frame_equal(read_nsa_rows(v0, 0, N), v1)
    el = read_nsa_rows(open_nsa(files["v1"], "elpetro"), 0, N)
    np.testing.assert_array_equal(el["flux_r"].to_numpy(), cat.elpetro_nmgy[:, 4])
    with pytest.raises(ValueError, match="elpetro needs ELPETRO_NMGY"):
        open_nsa(files["v0"], "elpetro")


def test_single_row_ranges(files, cat):
    nsa = open_nsa(files["v1"])
    one = read_nsa_rows(nsa, 7, 8)
    assert one.index.tolist() == [7] and one["nsaid"].iloc[0] == cat.nsaid[7]
    assert read_fits_rows(nsa.table, ["SERSIC_NMGY"], 7, 8)["SERSIC_NMGY"].shape == (1, 7)
    assert len(read_nsa_rows(nsa, 3, 3)) == 0


# -- bad input -----------------------------------------------------------------------------------
def test_bad_files(files, cat, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        open_nsa(tmp_path / "nope.fits")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.fits is empty \(0 bytes\)"):
        open_nsa(empty)
    text = tmp_path / "notfits.fits"
    text.write_text("nsaid,ra,dec\n1,2,3\n" * 200)
    with pytest.raises(ValueError, match="notfits.fits is not a readable FITS file"):
        open_nsa(text)
    data = files["v1"].read_bytes()
    trunc = tmp_path / "trunc.fits"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"trunc.fits is truncated: its header promises 1500 rows .* \d+ complete rows"):
        open_nsa(trunc)
    trunc.write_bytes(data[:4000])  # inside the table's header
    with pytest.raises(ValueError, match="trunc.fits is truncated: no complete HDU 1"):
        open_nsa(trunc)
    image = tmp_path / "image.fits"
    import fitsio

    fitsio.write(str(image), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="image.fits has no HDU 1"):
        open_nsa(image)


def test_bad_columns(cat, tmp_path):
    rec = fx.nsa_records(cat, "v1")
    no_z = rec[[n for n in rec.dtype.names if n != "Z"]]
    with pytest.raises(ValueError, match=r"no_z.fits: missing column\(s\) Z"):
        open_nsa(fx.write_fits(tmp_path / "no_z.fits", no_z))
    no_flux = rec[[n for n in rec.dtype.names if not n.startswith("SERSIC")]]
    with pytest.raises(ValueError, match="no_flux.fits: no NSA photometry columns"):
        open_nsa(fx.write_fits(tmp_path / "no_flux.fits", no_flux))
    z_text = fx.nsa_records(cat, "v1", extra={"Z": np.array([b"0.05"] * cat.n, dtype="S8")})
    with pytest.raises(ValueError, match="z_text.fits: column Z is |S8; expected a floating-point number"):
        open_nsa(fx.write_fits(tmp_path / "z_text.fits", z_text))
    five = fx.nsa_records(cat, "v1", extra={"SERSIC_NMGY": cat.nmgy[:, 2:].astype(">f4")})
    with pytest.raises(ValueError, match=r"five.fits: column SERSIC_NMGY is float32 with per-row shape \(5,\)"):
        open_nsa(fx.write_fits(tmp_path / "five.fits", five))
    with pytest.raises(ValueError, match="dflags_cut needs the DFLAGS column"):
        open_nsa(fx.write_fits(tmp_path / "nodf.fits", rec[[n for n in rec.dtype.names if n != "DFLAGS"]]),
                 need_dflags=True)
    with pytest.raises(ValueError, match="zero.fits: HDU 1 has no rows"):
        open_nsa(fx.write_fits(tmp_path / "zero.fits", rec[:0]))


def test_bad_positions_name_rows():
    ra = np.array([10.0, np.nan, 20.0, 400.0])
    dec = np.array([0.0, 0.0, 95.0, 0.0])
    with pytest.raises(ValueError, match=r"f.fits: columns RA/DEC hold 3 .* \(row 101: RA=nan, DEC=0.0; row 102"):
        check_positions(ra, dec, 100, "f.fits")
    check_positions(ra[:1], dec[:1], 0, "f.fits")


# -- the flags companion ----------------------------------------------------------------------------
def test_fits_and_parquet_companions_read_the_same(files):
    a = open_flags_table(files["flags_fits"], partition_rows=500)
    b = open_flags_table(files["flags_parquet"], partition_rows=500)
    assert (a.format, b.format) == ("fits", "parquet")
    assert a.version == b.version == "v1_0_1" and a.nrows == b.nrows == N
    assert a.parts == ((0, 500), (500, 1000), (1000, 1500)) and b.parts == ((0, 1), (2, 3))
    ra = [d for p in a.parts for d in iter_flags_rows(a, p, 300)]
    rb = [d for p in b.parts for d in iter_flags_rows(b, p, 300)]
    for col_a, col_b in zip(a.columns, b.columns):
        assert col_b == col_a.lower()
        np.testing.assert_array_equal(np.concatenate([d[col_a] for d in ra]), np.concatenate([d[col_b] for d in rb]))
    per_band = open_flags_table(files["flags_parquet"], mode="per_band")
    arr = next(iter_flags_rows(per_band, per_band.parts[0]))["flags_ugriz"]
    assert arr.shape == (N, 5) and np.array_equal(arr, files["fl"].band)


def test_companion_errors(tmp_path):
    txt = tmp_path / "flags.csv"
    txt.write_text("NSAID,FLAGS\n1,2\n")
    with pytest.raises(ValueError, match="flags.csv is neither FITS nor Parquet"):
        open_flags_table(txt)
    rec = np.zeros(3, dtype=[("ID", ">i8"), ("FLAGS", ">i8")])
    with pytest.raises(ValueError, match="noid.fits: missing column NSAID"):
        open_flags_table(fx.write_fits(tmp_path / "noid.fits", rec))
    nopsf = np.zeros(3, dtype=[("NSAID", ">i8"), ("FLAGS", ">i8")])
    with pytest.raises(ValueError, match="nopsf.fits: flag preset sdss_clean_extended needs PSF magnitude errors"):
        open_flags_table(fx.write_fits(tmp_path / "nopsf.fits", nopsf), preset="sdss_clean_extended")
    import pyarrow as pa
    import pyarrow.parquet as pq

    ragged = pa.table({"nsaid": pa.array([1, 2], pa.int64()),
                       "flags_ugriz": pa.array([[1, 2, 3, 4, 5], [1, 2]], pa.list_(pa.int64()))})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    t = open_flags_table(tmp_path / "ragged.parquet", mode="per_band")
    with pytest.raises(ValueError, match="ragged.parquet: column flags_ugriz row 1 has 2 entries; expected 5"):
        list(iter_flags_rows(t, t.parts[0]))


def test_hash_join_in_memory():
    keys = pd.DataFrame({"nsaid": np.array([5, 3, 9, 3], np.int64), "row": np.arange(4, dtype=np.int64)})
    flags = pd.DataFrame({"nsaid": np.array([3, 9, 4], np.int64), "clean": [True, False, True],
                          "crow": np.arange(3, dtype=np.int64)})
    out, info = join_bucket_frames(keys, flags)
    out = out.sort_values("row")
    assert out["found"].tolist() == [False, True, True, True]
    assert out["clean"].tolist() == [False, True, False, True]
    assert info["missing"] == 1 and info["missing_examples"] == [5]
    assert info["nsa_duplicates"] == 1 and info["nsa_duplicate_examples"] == [3]
    dup = pd.concat([flags, flags.iloc[[1]].assign(crow=7)])
    with pytest.raises(ValueError, match=r"c.fits: NSAID 9 occurs 2 times \(rows 1, 7\)"):
        join_bucket_frames(keys, dup, source="c.fits")
    # the bucket hash spreads regular IDs
    counts = np.bincount(bucket_of(np.arange(0, 80_000, 8), 8), minlength=8)
    assert counts.min() > 0.8 * counts.mean()


def test_inspect_reports_columns(files):
    t = inspect_fits_table(files["v1"])
    assert t.columns["PROFMEAN"].shape == (7, 15) and t.columns["SERSIC_NMGY"].shape == (7,)
    assert t.columns["NSAID"].dtype == np.dtype(np.int32) and t.columns["IAUNAME"].dtype.kind == "S"


def test_late_task_cannot_recreate_a_removed_work_directory(tmp_path):
    """A join task still running after its run failed must not leave the scratch tree behind."""
    work = tmp_path / ".out.ingest-tmp" / "join"
    work.mkdir(parents=True)
    keys = pd.DataFrame({"nsaid": np.arange(10, dtype=np.int64), "row": np.arange(10, dtype=np.int64)})
    _write(keys, work, work / "keys" / "b=00001" / "r0.parquet")
    assert (work / "keys" / "b=00001" / "r0.parquet").exists()
    remove_work_dir(tmp_path / ".out.ingest-tmp")
    with pytest.raises(FileNotFoundError):
        _write(keys, work, work / "joined" / "c=000000" / "b00001.parquet")
    assert list(tmp_path.iterdir()) == []
