"""Smoke test of benchmarks/bench_fallback.py at a tiny size (its timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fallback.py"


def test_bench_fallback_prints_json_with_goals_that_can_fail(capsys):
    spec = importlib.util.spec_from_file_location("bench_fallback", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # a 2 s cap: the chains stop long before converging, so the goals must report failure
    mod.main(["--galaxies", "2", "--max-seconds", "2", "--samples", "200", "--sgemm-size", "64"])
    data = json.loads(capsys.readouterr().out)
    assert data["galaxies"] == 2 and sum(data["status_counts"].values()) == 2
    assert {"galaxies", "routed", "cap_s", "kept_or_converged_frac", "goal_met", "sgemm_gflops"} <= set(data)
    if data["routed"]:
        assert {"converged_frac", "median_wall_s", "p90_wall_s", "median_ess", "evals_per_s"} <= set(data)
        assert data["median_wall_s"] <= 2 * data["cap_s"] and data["evals_per_s"] > 0
        assert data["unconverged"] >= 1 and data["goal_met"]["unconverged"] is False
    assert set(data["status_counts"]) <= {"ok", "reweighted", "mcmc", "unconverged"}
