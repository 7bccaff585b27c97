"""Smoke test of benchmarks/bench_sample.py at tiny sizes (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from sedflow_dask.posterior import INPUT_NAMES

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sample.py"


def test_bench_sample_prints_json(capsys):
    spec = importlib.util.spec_from_file_location("bench_sample", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--galaxies", "4", "--samples", "300", "--paper-galaxies", "1", "--paper-samples", "50",
                     "--repeats", "2", "--sgemm-size", "128"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["samples_per_galaxy"] == 300 and data["galaxies"] == 4 and len(data["ms_per_galaxy_runs"]) == 2
    assert data["ms_per_galaxy_range"][0] <= data["ms_per_galaxy"] <= data["ms_per_galaxy_range"][1]
    # the speedup compares like with like: both sides drew the same draws for the same galaxies
    ours, paper = data["matched"]["ours"], data["matched"]["paper_maf"]
    assert (ours["galaxies"], ours["samples_per_galaxy"]) == (paper["galaxies"], paper["samples_per_galaxy"]) == (1, 50)
    for side in (ours, paper):
        times = side["ms_per_galaxy"]
        assert len(times["runs"]) == 2 and times["min"] <= times["median"] <= times["max"] and times["min"] > 0
    assert 0 < data["speedup_range"][0] <= data["speedup_range"][1]
    assert 0 < data["accept_frac"] <= 1 and len(data["model_sha256"]) == 64
    # and the baseline reads the flow's inputs: asinh magnitudes, log σ_f, band mask and z
    assert data["paper_maf_architecture"]["x_dim"] == data["model_architecture"]["x_dim"] == len(INPUT_NAMES) == 16
    assert (data["paper_maf_architecture"]["num_transforms"], data["paper_maf_architecture"]["hidden_features"]) == (
        15, [500, 500])
