"""Smoke test of benchmarks/bench_infer.py at tiny sizes (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_infer.py"


def test_bench_infer_prints_json(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_infer", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--galaxies", "300", "--samples", "100", "--workers", "1", "--workdir", str(tmp_path),
                     "--sgemm-size", "128"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["galaxies"] >= 300 and data["samples_per_galaxy"] == 100 and data["workers"] == 1
    assert data["galaxies_per_s"] > 0 and data["wall_s"] > 0 and data["sgemm_gflops"] > 0
    assert abs(data["galaxies_per_s"] - data["galaxies"] / data["wall_s"]) < 0.02 * data["galaxies_per_s"]
    assert sum(data["status_counts"].values()) == data["galaxies"]
    assert (tmp_path / "catalog_main" / "hats.properties").exists()
