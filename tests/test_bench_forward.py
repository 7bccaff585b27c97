"""Smoke test of benchmarks/bench_forward.py at tiny sizes: the JSON it prints is complete and
sane, and the fast path agrees with the scalar reference. Timings are not asserted (noisy)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_forward.py"
TINY = dict(n=2000, repeats=2, n_reference=3, n_variants=500, n_dtype=300, sgemm_size=256)

POSITIVE = (
    "seds_per_s", "reference_seds_per_s", "speedup", "sgemm_gflops", "sgemm_gflops_model_shape",
    "flop_per_sed", "exp_per_sed", "gflops_achieved", "fraction_of_sgemm", "threads",
)
NON_NEGATIVE = ("max_abs_dmag", "float32_vs_float64_max_abs_dmag")
VARIANT_KEYS = ("seds_per_s", "max_abs_dmag_vs_default", "median_abs_dmag_vs_default")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_forward", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result(bench):
    return bench.run(**TINY)


def test_keys_and_values(result):
    for key in POSITIVE:
        assert math.isfinite(result[key]) and result[key] > 0, key
    for key in NON_NEGATIVE:
        assert math.isfinite(result[key]) and result[key] >= 0, key
    assert result["n"] == TINY["n"] and result["n_reference"] == TINY["n_reference"]
    # each side timed the SEDs it claims: every fast call all n, the reference all n_reference
    # (the same draws as the accuracy comparison)
    timed = result["timed"]
    assert timed["fast"] == {"seds_per_call": [TINY["n"]], "calls": TINY["repeats"]}
    assert timed["reference"]["seds"] == timed["accuracy_seds"] == TINY["n_reference"]
    assert result["gflops_achieved"] == pytest.approx(result["flop_per_sed"] * result["seds_per_s"] / 1e9)
    assert result["fraction_of_sgemm"] == pytest.approx(result["gflops_achieved"] / result["sgemm_gflops_model_shape"])
    # flop formula from the engine's shapes: W = 880 at 10 Å; the 25 youngest bins (all young
    # ones included) are tabulated, the other 16 x 6 used Z nodes are the dense product
    shapes = result["table_shapes"]
    assert shapes["grouped_bins"] == 25 and shapes["young_columns"] == 0
    assert shapes["old_columns"] == (41 - 25) * 6 and shapes["sparse_rows"] == 12
    assert result["exp_per_sed"] == 2 * shapes["n_wave"]
    assert isinstance(result["machine"], dict) and result["machine"]["cpu_count"] >= 1
    for key in ("torch_version", "numpy_version", "ssp_sha256"):
        assert isinstance(result[key], str) and result[key]
    assert len(result["ssp_sha256"]) == 64


def test_accuracy(result):
    # float32 fast path vs the float64 scalar reference (speclite maggies)
    assert result["max_abs_dmag"] < 2e-4
    assert result["float32_vs_float64_max_abs_dmag"] < 1e-4


def test_variants_reported(result):
    variants = result["variants"]
    for name in ("wave_step_20A", "ssp_age_average"):
        for key in VARIANT_KEYS:
            value = variants[name][key]
            assert math.isfinite(value) and value >= 0, (name, key)
        assert variants[name]["seds_per_s"] > 0
        assert variants[name]["median_abs_dmag_vs_default"] <= variants[name]["max_abs_dmag_vs_default"]
    # the 20 Å grid is an approximation of the 10 Å default, not another model: a few mmag at most
    assert 0 < variants["wave_step_20A"]["max_abs_dmag_vs_default"] < 1e-2
    assert isinstance(variants["wave_step_20A"]["within_1_mmag"], bool)


def test_main_prints_json(bench, capsys):
    rc = bench.main(["--n", "500", "--repeats", "1", "--n-reference", "1", "--n-variants", "200",
                     "--n-dtype", "100", "--sgemm-size", "128"])
    assert rc == 0
    out = capsys.readouterr().out
    data = json.loads(out)  # the whole of stdout is one JSON object
    assert data["n"] == 500 and data["repeats"] == 1
    for key in POSITIVE + NON_NEGATIVE + ("variants", "machine", "ssp_sha256"):
        assert key in data, key
