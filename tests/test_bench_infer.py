"""Smoke test of benchmarks/bench_infer.py at tiny sizes (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_infer.py"


def test_bench_infer_prints_json(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_infer", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--galaxies", "300", "--samples", "100", "--workers", "1", "--workdir", str(tmp_path),
                     "--sgemm-size", "128", "--scaling", "300", "--stage-galaxies", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["galaxies"] == 300
    assert data["rows"] >= 300 and data["samples_per_galaxy"] == 100 and data["workers"] == 1
    counts = data["status_counts"]
    assert sum(counts.values()) == data["rows"]
    # the rate counts the galaxies that went through the flow, not the cut and bad rows
    assert data["galaxies_inferred"] == sum(v for s, v in counts.items() if s not in ("cut", "bad_input"))
    # every inferred galaxy was weighed; the fallback is off, so the routed ones are skipped
    assert 0 < data["is_median_efficiency"] <= 1 and 0 <= data["routed_frac"] < 1
    assert counts.get("skipped", 0) == round(data["routed_frac"] * data["galaxies_inferred"])
    assert counts.get("timeout", 0) == 0
    assert 0 < data["galaxies_inferred"] < data["rows"] and counts.get("bad_input", 0) > 0
    assert data["galaxies_per_s"] > 0 and data["rows_per_s"] > data["galaxies_per_s"]
    assert data["wall_s_without_cluster_start"] > 0 and data["cluster_start_s"] > 0 and data["sgemm_gflops"] > 0
    # 1 vs 2 workers: both sides inferred the same galaxies with the same draws
    one, two = data["scaling"]["1_worker"], data["scaling"]["2_workers"]
    assert (one["workers"], two["workers"]) == (1, 2)
    assert (one["galaxies_inferred"], one["samples_per_galaxy"]) == (two["galaxies_inferred"], two["samples_per_galaxy"])
    assert one["galaxies_inferred"] == data["galaxies_inferred"]  # the same cached catalog as the main run
    assert (tmp_path / "catalog_main" / "hats.properties").exists()
    # the per-stage breakdown: every stage took time, on the galaxies asked for
    assert 8 <= data["stage_galaxies"] <= 9 and data["stage_samples_per_galaxy"] == 100
    for stage in ("flow", "weights", "derived", "derived_per_bin", "summaries", "write"):
        assert data[f"{stage}_ms_per_galaxy"] > 0, stage
    # the fast derived properties and the per-bin reference agree on the pipeline's own draws
    assert data["derived_per_bin_max_abs_diff"] <= 1e-9
    assert data["flow_proposed_per_galaxy"] >= 100
    assert data["flow_flop_per_draw"] == flow_matmul_flops_per_draw()
    assert 0 < data["flow_fraction_of_sgemm_limit"] == pytest.approx(data["flow_gflops"] / data["sgemm_gflops"], rel=0.02)


def flow_matmul_flops_per_draw() -> int:
    """2 x multiply-adds per draw of the shipped flow's layers, read off the loaded network: each
    coupling transform's first layer on the 11 parameters (its context columns run once per
    galaxy), then every further layer in full."""
    import torch

    from sedflow_dask.posterior import load_posterior_model

    flops = 0
    for t in load_posterior_model().estimator.net.transform.transforms:
        layers = [m for m in t.hyper if isinstance(m, torch.nn.Linear)]
        flops += 2 * 11 * layers[0].out_features
        flops += sum(2 * m.in_features * m.out_features for m in layers[1:])
    return flops
