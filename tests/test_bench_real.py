"""benchmarks/bench_real.py at a small size: one JSON object whose numbers are the run's report and
catalog (the full-size run, 10,000 galaxies, is ``python benchmarks/bench_real.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb

from sedflow_dask.query.duck import data_files

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_real.py"


def test_bench_real_prints_the_reports_numbers(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_real", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rc = bench.main(["--n", "120", "--samples", "100", "--max-fallback", "0", "--workers", "1",
                     "--workdir", str(tmp_path)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)  # the whole of stdout is one JSON object
    report = json.loads((tmp_path / "demo" / "real_report.json").read_text())
    assert out["galaxies"] == 120 and out["usable"] == report["counts"]["usable"]
    assert out["oos_frac"] == report["counts"]["oos_frac"] and out["routed_frac"] == report["counts"]["routed_frac"]
    assert out["chi2_p99"] == report["predictive"]["p99"]
    assert out["dlogm_kcorrect_nmad"] == report["log_mstar_vs_kcorrect"]["nmad"]
    files = ", ".join(f"'{f}'" for f in data_files(tmp_path / "catalogs" / "demo"))
    rows = duckdb.sql(f"SELECT status, count(*) AS n FROM read_parquet([{files}]) GROUP BY status").fetchall()
    assert out["status_counts"] == dict(rows)
    assert out["wall_s"] >= sum(out["steps_s"].values()) > 0
    for key, goal in bench.GOALS.items():
        assert out["goals"][key]["met"] == (out[key] <= goal)
