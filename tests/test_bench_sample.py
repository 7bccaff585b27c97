"""Smoke test of benchmarks/bench_sample.py at tiny sizes (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sample.py"


def test_bench_sample_prints_json(capsys):
    spec = importlib.util.spec_from_file_location("bench_sample", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--galaxies", "4", "--samples", "300", "--paper-samples", "50", "--sgemm-size", "128"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["samples_per_galaxy"] == 300 and data["galaxies"] == 4
    assert data["ms_per_galaxy"] > 0 and data["paper_ms_per_galaxy"] > 0
    assert abs(data["speedup"] - data["paper_ms_per_galaxy"] / data["ms_per_galaxy"]) < 0.05 * data["speedup"] + 0.1
    assert 0 < data["accept_frac"] <= 1 and len(data["model_sha256"]) == 64
