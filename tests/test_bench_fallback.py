"""benchmarks/bench_fallback.py: its out-of-support galaxies, and a smoke run at a tiny size (its
timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.photometry import flux_to_mag, sigma_mag_from_flux
from sedflow_dask.sps import PROVABGSModel

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fallback.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_fallback", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_out_of_support_sets_keep_gaussian_flux_noise_with_the_reported_errors(bench):
    proposal, sps = default_proposal(), PROVABGSModel()
    data = bench.out_of_support_galaxies(sps, proposal, 90, seed=4)
    assert list(data["set"][:4]) == ["sigma_x10", "ug_sigma_x2", "bluer", "sigma_x10"]
    truth = sps.photometry(data["theta"], data["z"], space="box", unit="nanomaggies")
    assert np.isfinite(data["flux"]).all() and (data["sigma"] > 0).all()
    bluer = data["set"] == "bluer"
    noiseless = truth.copy()
    noiseless[bluer, :2] *= 2.0  # the bluer galaxies' noiseless photometry is the altered one
    residual = (data["flux"] - noiseless) / data["sigma"]
    # each altered band's noise is N(0, σ²) with the σ the galaxy reports: unit spread, where a σ
    # inflated without its noise (x10, x2) or noise added before the colour change would not be
    outlier = data["set"] == "sigma_x10"
    ratio = sigma_mag_from_flux(truth, data["sigma"]) / np.maximum(
        proposal.noise_model.sigma_median(flux_to_mag(truth)), proposal.noise_model.floors)
    inflated = np.argmax(ratio, axis=1)
    assert np.median(ratio[outlier, inflated[outlier]]) > 5 > np.median(np.delete(ratio[outlier], inflated[outlier]))
    for name, values in (("sigma_x10", residual[outlier, inflated[outlier]]),
                         ("ug_sigma_x2", residual[data["set"] == "ug_sigma_x2", :2].ravel()),
                         ("bluer", residual[bluer, :2].ravel())):
        assert 0.7 < values.std() < 1.4 and abs(values.mean()) < 0.6, (name, values.mean(), values.std())


def test_bench_fallback_prints_json_with_goals_that_can_fail(bench, capsys):
    # a 2 s and 100-step cap: the chains stop long before converging (50 τ and ESS 1,000 cannot be
    # reached in 100 steps of 32 walkers), so the goals must report failure
    bench.main(["--galaxies", "3", "--max-seconds", "2", "--max-steps", "100", "--samples", "200",
                "--sgemm-size", "64"])
    data = json.loads(capsys.readouterr().out)
    assert data["galaxies"] == 3 and sum(data["status_counts"].values()) == 3
    assert {"galaxies", "routed", "cap_s", "kept_or_converged_frac", "goal_met", "sgemm_gflops"} <= set(data)
    assert {name: sum(c.values()) for name, c in data["status_by_set"].items()} == {
        "sigma_x10": 1, "ug_sigma_x2": 1, "bluer": 1}
    assert data["routed"] >= 1  # a σ x10 band: the weights of flow and mixture both reject it
    if data["routed"]:
        assert {"converged_frac", "median_wall_s", "p90_wall_s", "median_ess", "evals_per_s"} <= set(data)
        assert data["median_wall_s"] <= 2 * data["cap_s"] and data["evals_per_s"] > 0
        assert data["unconverged"] >= 1 and data["goal_met"]["unconverged"] is False
    assert set(data["status_counts"]) <= {"ok", "reweighted", "mcmc", "unconverged"}


def test_reference_check_reports_each_galaxy(bench):
    """The reference comparison names, per galaxy, the worst parameter and both chains' best χ²."""
    from sedflow_dask.config import FallbackConfig
    from sedflow_dask.fallback import fallback_model
    from sedflow_dask.posterior import galaxy_seeds
    from sedflow_dask.prior import SEDPrior

    data = bench.out_of_support_galaxies(PROVABGSModel(), default_proposal(), 3, seed=4)
    ours = SEDPrior().sample(200, np.random.default_rng(0))[0][None]   # a stand-in "chain": the prior
    cfg = FallbackConfig(max_seconds_per_galaxy=0.5, max_steps=30)
    out = bench.reference_check(fallback_model(), data, galaxy_seeds(4, data["ids"]), np.array([1]), ours,
                                np.array([12.5]), cfg)
    assert out["galaxies"] == 1 and len(out["per_galaxy"]) == 1
    row = out["per_galaxy"][0]
    assert row["row"] == 1 and row["worst_parameter"] in SEDPrior.names and row["chi2_min"] == 12.5
    assert row["offset_sigma"] == out["max_mean_offset_sigma"]["max"] >= 0
    assert row["reference_status"] == "unconverged" and row["reference_chi2_min"] > 0  # 300 steps cannot converge
