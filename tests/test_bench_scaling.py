"""benchmarks/bench_scaling.py at tiny sizes on real LocalClusters (its numbers are not asserted,
only what they must be whatever the machine), and its task-graph rule on hand-counted cases."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from sedflow_dask.config import FallbackConfig, SamplingConfig

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scaling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scaling", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_scaling"] = mod  # the scheduler plugin is pickled by reference to this module
    spec.loader.exec_module(mod)
    return mod


def test_task_rule_counts_by_hand(bench):
    sample, fallback = SamplingConfig(task_rows=100), FallbackConfig(batch_galaxies=16)
    # 250 rows: flow tasks of 100, 100, 50; 17 fallback galaxies: batches of 16 and 1; an empty
    # pixel still gets one flow task (it writes an empty partition)
    got = bench.infer_task_count([250, 0, 100], [17, 0, 16], sample, fallback)
    assert got == {"infer-flow": 3 + 1 + 1, "candidates_task": 3, "fallback_task": 2 + 0 + 1, "write_task": 3}
    with pytest.raises(ValueError, match="2 pixels but 1"):
        bench.infer_task_count([1, 2], [0], sample, fallback)
    # 10^6 galaxies in pixels of 50,000: 20 pixels x (25 flow tasks of 2,000 rows + 2) + 20 x 188 batches
    survey = bench.survey_task_count(1e6, 50_000, 0.06, SamplingConfig(task_rows=2000), fallback)
    assert survey == {"infer-flow": 500.0, "candidates_task": 20.0, "fallback_task": 20.0 * 188,
                      "write_task": 20.0, "total": 540.0 + 3760.0}
    with pytest.raises(ValueError, match="routed_frac"):
        bench.survey_task_count(1e6, 50_000, 1.5, sample, fallback)


def test_bench_scaling_prints_json(bench, capsys, tmp_path):
    assert bench.main(["--galaxies", "40", "--samples", "100", "--task-rows", "12", "--workers", "1,2",
                       "--overhead-tasks", "40", "--stage-galaxies", "4",
                       "--stage-samples", "100", "--sgemm-size", "128", "--workdir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    sched = data["scheduler"]
    assert sched["tasks"] == 40 and 0 < sched["s_per_task_submit"] < 1 and 0 < sched["s_per_task_map"] < 1
    assert sched["workers"] == data["ingest"]["workers"] == 2 and data["model_load_cpu_s"] > 0
    assert data["ingest"]["rows"] >= 40 and data["ingest"]["tasks_total"] > 0 and data["ingest"]["worker_cpu_s"] > 0
    one, two = data["runs"]["1_worker"], data["runs"]["2_workers"]
    assert (one["workers"], two["workers"]) == (1, 2) and one["speedup_vs_1"] == 1.0
    assert one["galaxies_inferred"] == two["galaxies_inferred"] > 0
    for r in (one, two):
        # the scheduler saw exactly the tasks the rule derives from the graph: 40+ rows in 12-row tasks
        assert r["tasks"] == r["tasks_rule"] and r["tasks_match_rule"]
        assert r["tasks"]["infer-flow"] >= 4 and r["tasks"]["fallback_task"] == 0
        assert len(r["peak_rss_mb_per_worker"]) == r["workers"] and min(r["peak_rss_mb_per_worker"]) > 50
        assert r["worker_cpu_s_per_galaxy"] > r["worker_cpu_s_per_galaxy_less_load"] and r["galaxies_per_s"] > 0
    assert data["tasks_match_rule"]
    cat = data["catalog"]
    assert cat["rows"] == one["rows"] and cat["n_stored"] == 100 and cat["partitions"] == one["pixels"]
    assert 0 < cat["samples_column"] < cat["data"] < cat["file"]
    assert cat["data_without_samples"] == pytest.approx(cat["data"] - cat["samples_column"], abs=0.2)
    assert cat["per_stored_draw"] == pytest.approx(cat["samples_column"] / 100, abs=0.01)
    # uncompressed in memory, the draws alone are 11 float32 = 44 bytes each
    assert cat["arrow_in_memory"] > 44 * 100
    assert data["stages"]["flow_ms_per_galaxy"] > 0
    per_million = data["tasks_per_million"]
    assert per_million["total"] == sum(per_million[k] for k in bench.INFER_PREFIXES)
    assert data["machine"]["cpu_count"] >= 1 and data["sgemm_gflops"] > 0
