"""benchmarks/bench_ingest.py at a small size: its JSON is complete, and the ingest's peak memory stays
bounded as the file grows (each size ingested in a fresh subprocess with its own LocalCluster).
The full-size run (1,000,000 rows) is ``python benchmarks/bench_ingest.py``."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ingest.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peak_memory_bounded_for_a_4x_larger_file(bench, capsys):
    # 50k vs 200k rows with 10k-row ranges and pixels: 5 vs 20 read tasks, 16 vs 50 pixels
    rc = bench.main(["--rows", "200000", "--small-factor", "4", "--workers", "2", "--partition-rows", "10000",
                     "--pixel-threshold", "10000", "--generator", "fixture"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)  # the whole of stdout is one JSON object
    assert result["rows"] == 200_000 and result["small"]["rows"] == 50_000
    for key in ("rows_per_s", "wall_s", "peak_rss_mb", "peak_ratio"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    for part in (result["small"], result["large"]):
        assert part["peak_rss_mb"] == pytest.approx(part["client_peak_rss_mb"] + sum(part["worker_peak_rss_mb"]),
                                                    abs=0.5)
        assert len(part["worker_peak_rss_mb"]) == 2 and part["partitions"] >= 5
    assert result["large"]["partitions"] > result["small"]["partitions"]
    assert result["peak_ratio"] == pytest.approx(result["peak_rss_mb"] / result["small"]["peak_rss_mb"], rel=1e-3)
    assert result["peak_ratio"] <= 1.3, json.dumps(result, indent=1)
