"""Queries on a real output catalog: DuckDB SQL over the data partitions, lsdb cone searches, the CLI.

The catalog is inferred once per module from the suite's shared mock ingest (conftest
``mock_ingested``) on the shared cluster, 200 draws per galaxy, no fallback; the commands that
make one (``sedflow mock-nsa``, ``ingest``, ``infer``) have their own tests.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sedflow_dask.cli import main
from sedflow_dask.config import Config, FallbackConfig, SamplingConfig
from sedflow_dask.infer import infer_catalog
from sedflow_dask.ingest.io import DATA_GLOB
from sedflow_dask.query import QueryError, cone_search, query_arrow, query_catalog

N_MOCK = 900  # conftest.mock_ingested


@pytest.fixture(scope="module")
def made(mock_ingested, client, tmp_path_factory):
    """(output catalog, ingested catalog, truth table indexed by NSAID)."""
    ingested, truth = mock_ingested
    config = Config(sample=SamplingConfig(n_samples=200), fallback=FallbackConfig(enabled=False))
    out = tmp_path_factory.mktemp("query") / "catalogs" / "mock"
    infer_catalog(config, ingested, out, client=client, progress=False, stream=None)
    return out, ingested, truth


@pytest.fixture(scope="module")
def cat(made):
    return made[0]


def _files(catalog: Path) -> list[Path]:
    return sorted(catalog.glob(DATA_GLOB))


def test_each_galaxy_counts_once(made):
    catalog, ingested, truth = made
    n_in = sum(pq.ParquetFile(f).metadata.num_rows for f in _files(ingested))
    got = query_catalog(catalog, "SELECT count(*) AS n, count(DISTINCT nsaid) AS d FROM catalog").iloc[0]
    assert int(got["n"]) == int(got["d"]) == n_in == len(truth) == N_MOCK + 2
    ids = query_catalog(catalog, "SELECT nsaid FROM catalog ORDER BY nsaid")["nsaid"].to_numpy()
    np.testing.assert_array_equal(ids, np.sort(truth.index.to_numpy()))
    # the statuses add up, and every galaxy with a posterior has its summaries
    st = query_catalog(catalog, "SELECT status, count(*) AS n, count(log_mstar_p50) AS with_post FROM catalog "
                                "GROUP BY status")
    assert st["n"].sum() == n_in
    for row in st.itertuples():
        assert row.with_post == (row.n if row.status not in ("cut", "bad_input") else 0), row


def test_data_glob_is_the_ingest_one():
    from sedflow_dask.query import duck

    assert duck.DATA_GLOB == DATA_GLOB


def test_metadata_margins_and_leftovers_are_never_read(cat, tmp_path):
    """A copy with decoys that would double-count (a _metadata with rows, a margin catalog, a
    leftover temporary partition) gives the same count."""
    copy = tmp_path / "cat"
    shutil.copytree(cat, copy)
    first = _files(copy)[0]
    shutil.copy(first, copy / "dataset" / "_metadata")
    (copy / "margin" / "dataset" / "Norder=0" / "Dir=0").mkdir(parents=True)
    shutil.copy(first, copy / "margin" / "dataset" / "Norder=0" / "Dir=0" / "Npix=0.parquet")
    shutil.copy(first, first.parent / f".{first.name}.tmp")
    n = query_catalog(copy, "SELECT count(*) AS n FROM catalog")["n"].iloc[0]
    assert n == N_MOCK + 2


def test_partition_columns_match_the_files_and_prune(cat, tmp_path):
    files = _files(cat)
    want = {}
    for f in files:
        order = int(f.parent.parent.name.split("=")[1])
        pixel = int(f.stem.split("=")[1])
        want[(order, pixel)] = pq.ParquetFile(f).metadata.num_rows
    got = query_catalog(cat, "SELECT Norder, Dir, Npix, count(*) AS n FROM catalog GROUP BY ALL")
    assert {(r.Norder, r.Npix): r.n for r in got.itertuples()} == want
    assert (got["Dir"] == (got["Npix"] // 10_000) * 10_000).all()

    # the largest partition but the first file (DuckDB takes the schema from the first file)
    first = (int(files[0].parent.parent.name.split("=")[1]), int(files[0].stem.split("=")[1]))
    (order, pixel), n = max(((k, v) for k, v in want.items() if k != first), key=lambda kv: kv[1])
    sql = f"SELECT count(*) AS n FROM catalog WHERE Norder = {order} AND Npix = {pixel}"
    assert query_catalog(cat, sql)["n"].iloc[0] == n
    plan = "".join(query_catalog(cat, "EXPLAIN " + sql).iloc[:, 1])
    assert f"Scanning Files: 1/{len(files)}" in plan

    # pruning is real: with the other partitions corrupt (but the first), the pruned query still works
    copy = tmp_path / "cat"
    shutil.copytree(cat, copy)
    target = copy / Path(*[p for p in _path_parts(cat, order, pixel)])
    for f in _files(copy)[1:]:
        if f != target:
            f.write_bytes(b"not parquet")
    assert query_catalog(copy, sql)["n"].iloc[0] == n
    with pytest.raises(QueryError, match="not parquet|too small|Parquet") as err:
        query_catalog(copy, "SELECT count(*) FROM catalog")
    assert str(copy) in str(err.value)


def _path_parts(cat: Path, order: int, pixel: int) -> tuple[str, ...]:
    (f,) = [f for f in _files(cat) if f.parent.parent.name == f"Norder={order}" and f.stem == f"Npix={pixel}"]
    return f.relative_to(cat).parts


def test_projection_reads_only_named_columns(cat):
    plan = "".join(query_catalog(cat, "EXPLAIN SELECT nsaid, z FROM catalog WHERE z < 0.05").iloc[:, 1])
    assert "samples" not in plan and "log_mstar_p50" not in plan
    draws = query_catalog(cat, "SELECT nsaid, samples, n_samples FROM catalog WHERE status = 'ok' LIMIT 3")
    assert all(len(s) == 100 * 11 for s in draws["samples"])


def test_arrow_and_pandas_agree_and_parameters(cat):
    sql = "SELECT nsaid, log_mstar_p50, status FROM catalog WHERE z < ? ORDER BY nsaid"
    frame = query_catalog(cat, sql, params=[0.04])
    table = query_arrow(cat, sql, params=[0.04])
    assert isinstance(table, pa.Table) and table.num_rows == len(frame) > 0
    np.testing.assert_array_equal(table.column("nsaid").to_numpy(), frame["nsaid"].to_numpy())
    named = query_catalog(cat, "SELECT count(*) AS n FROM catalog WHERE z < $zmax", params={"zmax": 0.04})
    assert named["n"].iloc[0] == len(frame)


def test_errors_name_the_catalog(cat, tmp_path):
    with pytest.raises(QueryError, match="Referenced column \"no_such_column\" not found") as err:
        query_catalog(cat, "SELECT no_such_column FROM catalog")
    assert str(cat) in str(err.value)
    with pytest.raises(QueryError, match="syntax error"):
        query_catalog(cat, "SELEC 1")
    with pytest.raises(ValueError, match="not a HATS catalog"):
        query_catalog(tmp_path, "SELECT 1")
    with pytest.raises(ValueError, match="no such catalog directory"):
        query_catalog(tmp_path / "missing", "SELECT 1")


# --- the command line (in process) ---------------------------------------------------------------

SQL = "SELECT nsaid, z, status, log_mstar_p50 FROM catalog WHERE status = 'ok' ORDER BY log_mstar_p50 DESC LIMIT 20"


def test_cli_formats(cat, tmp_path, capsys):
    want = query_catalog(cat, SQL)
    assert main(["query", str(cat), SQL, "--format", "csv"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)

    assert main(["query", str(cat), SQL, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["nsaid"] for r in rows] == want["nsaid"].tolist()
    np.testing.assert_allclose([r["log_mstar_p50"] for r in rows], want["log_mstar_p50"], rtol=1e-12)

    out = tmp_path / "q.parquet"
    assert main(["query", str(cat), SQL, "--out", str(out)]) == 0  # format from the suffix
    pd.testing.assert_frame_equal(pd.read_parquet(out), want, check_dtype=False)

    assert main(["query", str(cat), SQL, "--max-rows", "5"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["nsaid", "z", "status", "log_mstar_p50"]
    assert str(want["nsaid"].iloc[0]) in text and "15 more rows" in text

    # the stored draws come out as JSON arrays in CSV
    assert main(["query", str(cat), "SELECT nsaid, samples FROM catalog WHERE status = 'ok' LIMIT 2",
                 "--format", "csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(json.loads(rows["samples"].iloc[0])) == 1100


def test_cli_errors(cat, tmp_path, capsys):
    assert main(["query", str(cat), "SELECT nope FROM catalog"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sedflow: error: query on") and str(cat) in err and "nope" in err
    assert main(["query", str(tmp_path), "SELECT 1"]) == 2
    assert "not a HATS catalog" in capsys.readouterr().err
    assert main(["query", str(cat), "SELECT 1", "--format", "parquet"]) == 2
    assert "--format parquet needs --out" in capsys.readouterr().err


# --- cone searches -------------------------------------------------------------------------------

def _haversine_arcsec(ra0, dec0, ra, dec):
    ra0, dec0, ra, dec = map(np.radians, (ra0, dec0, np.asarray(ra), np.asarray(dec)))
    h = np.sin((dec - dec0) / 2) ** 2 + np.cos(dec0) * np.cos(dec) * np.sin((ra - ra0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h))) * 3600


@pytest.mark.parametrize("radius_deg", [2.0, 12.0])
def test_cone_search_returns_exactly_the_galaxies_inside(cat, radius_deg):
    allpos = query_catalog(cat, "SELECT nsaid, ra, dec FROM catalog")
    centre = allpos.iloc[len(allpos) // 2]
    ra0, dec0 = float(centre["ra"]) + 0.3, float(centre["dec"]) - 0.2
    sep = _haversine_arcsec(ra0, dec0, allpos["ra"], allpos["dec"])
    radius = radius_deg * 3600
    assert np.min(np.abs(sep - radius)) > 1e-3  # no galaxy on the edge
    want = set(allpos["nsaid"][sep < radius])
    got = cone_search(cat, ra0, dec0, radius)
    assert set(got["nsaid"]) == want and len(got) == len(want) > 0
    assert got["sep_arcsec"].is_monotonic_increasing and (got["sep_arcsec"] < radius).all()
    assert "samples" not in got.columns and "status" in got.columns
    assert got["log_mstar_p50"].dtype == np.float64


def test_cone_search_columns_empty_and_cli(cat, capsys):
    empty = cone_search(cat, 0.0, -89.0, 60.0, columns=["nsaid"])
    assert len(empty) == 0 and list(empty.columns) == ["ra", "dec", "nsaid", "sep_arcsec"]
    with pytest.raises(ValueError, match="no column"):
        cone_search(cat, 10.0, 0.0, 60.0, columns=["nope"])
    with pytest.raises(ValueError, match="radius"):
        cone_search(cat, 10.0, 0.0, -1.0)
    row = query_catalog(cat, "SELECT nsaid, ra, dec FROM catalog LIMIT 1").iloc[0]
    assert main(["cone", str(cat), "--ra", str(row["ra"]), "--dec", str(row["dec"]), "--radius-arcsec", "1",
                 "--columns", "nsaid,status", "--format", "json"]) == 0
    res = capsys.readouterr()
    (hit,) = json.loads(res.out)
    assert hit["nsaid"] == row["nsaid"] and hit["sep_arcsec"] < 1e-6
    assert "cone: 1 galaxies" in res.err
