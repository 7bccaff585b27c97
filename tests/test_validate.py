"""``sedflow validate`` end to end on the shipped model, and the MCMC-reference comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sedflow_dask.cli import main
from sedflow_dask.diagnostics import MCMCReference, compare_with_mcmc
from sedflow_dask.diagnostics.validate import held_out_simulations
from sedflow_dask.noise.regimes import REGIMES
from sedflow_dask.posterior import load_posterior_model
from sedflow_dask.prior import SEDPrior


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_width_ratio_against_the_reference(width):
    rng = np.random.default_rng(0)
    centre = rng.normal(size=(40, 1, 3))
    scale = np.array([0.1, 1.0, 3.0])
    mcmc = centre + scale * rng.standard_normal((40, 1000, 3))
    flow = centre + width * scale * rng.standard_normal((40, 4000, 3))
    ref = MCMCReference(samples=mcmc, status=np.array(["mcmc"] * 39 + ["unconverged"]), ess=np.full(40, 900.0),
                        max_seconds=1.0)
    out = compare_with_mcmc(flow, ref, ("a", "b", "c"))
    assert out["n_galaxies"] == 40 and out["n_converged"] == 39
    for j, name in enumerate("abc"):
        p = out["parameters"][name]
        assert p["median_std_ratio"] == pytest.approx(width, rel=0.05)
        assert p["median_std_mcmc"] == pytest.approx(scale[j], rel=0.05)
        assert p["median_shift_over_std"] < 0.1 * max(width, 1)
    with pytest.raises(ValueError, match="3 flow posteriors for 40"):
        compare_with_mcmc(flow[:3], ref, ("a", "b", "c"))


def test_validate_cli_writes_figures_summary_and_mcmc_reference(tmp_path, capsys):
    out = tmp_path / "val"
    rc = main(["validate", "--out", str(out), "--n", "12", "--samples", "400", "--threads", "2",
               "--mcmc", "2", "--mcmc-seconds", "3"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_galaxies"] == 12 and printed["n_complete"] == 12
    summary = json.loads((out / "summary.json").read_text())
    for name in summary["figures"].values():
        assert (out / name).stat().st_size > 1000
    assert set(summary["calibration"]["parameters"]) == set(summary["mcmc_reference"]["parameters"])
    ref = summary["mcmc_reference"]
    assert ref["n_galaxies"] == 2 and ref["max_seconds_per_galaxy"] == 3 and ref["median_ess"] > 0
    saved = np.load(out / "mcmc_reference.npz")
    assert saved["samples"].shape[0] == 2 and saved["samples"].shape[2] == 11 and int(saved["seed"]) == 0
    assert np.isfinite(saved["samples"][:, :100]).all()
    # the chains saw the held-out fluxes, errors and z: even 3 s chains pin the mass far inside the prior
    assert saved["x"].shape == (2, 11)
    prior_sd = (SEDPrior.upper[0] - SEDPrior.lower[0]) / np.sqrt(12)
    assert np.all(np.nanstd(saved["samples"][:, :, 0], axis=1) < 0.3 * prior_sd)
    # another model (here the same one) is compared with the saved chains without rerunning them
    out2 = tmp_path / "val2"
    assert main(["validate", "--out", str(out2), "--n", "12", "--samples", "400", "--mcmc-from",
                 str(out / "mcmc_reference.npz")]) == 0
    again = json.loads((out2 / "summary.json").read_text())["mcmc_reference"]
    assert (again["n_galaxies"], again["n_converged"]) == (ref["n_galaxies"], ref["n_converged"])
    assert again["median_ess"] == pytest.approx(ref["median_ess"], rel=1e-12)
    capsys.readouterr()
    assert main(["validate", "--out", str(out2), "--n", "12", "--seed", "3", "--mcmc-from",
                 str(out / "mcmc_reference.npz")]) != 0
    assert "MCMC reference was run on other galaxies" in capsys.readouterr().err
    assert main(["validate", "--out", str(out), "--mcmc", "-1"]) != 0
    assert "--mcmc must be >= 0; got -1" in capsys.readouterr().err


def test_held_out_galaxies_are_the_same_in_every_regime():
    model = load_posterior_model()
    theta, z, real = held_out_simulations(model, 200, 5)
    for regime in REGIMES:
        t, zz, obs = held_out_simulations(model, 200, 5, regime=regime)
        np.testing.assert_array_equal(t, theta)
        np.testing.assert_array_equal(zz, z)
        assert obs.shape == (200, 11) and np.array_equal(obs[:, 10], z.astype(np.float32)), regime
        flux, sigma = obs[:, :5], obs[:, 5:10]
        assert np.array_equal(np.isnan(flux), np.isnan(sigma)), regime  # a band is absent as a whole
        absent = np.isnan(flux).all(axis=0)
        assert absent.tolist() == {"u_missing": [True] + [False] * 4,
                                   "gu_missing": [True, True] + [False] * 3}.get(regime, [False] * 5), regime
        if regime == "proposal":  # the training proposal's band dropout
            assert 0 < np.isnan(flux).mean() < 0.3
        elif regime not in ("u_missing", "gu_missing"):
            assert np.isfinite(obs).all() and (sigma > 0).all(), regime
    # σ x3 in one band per galaxy: the σ that the real errors give, three times, in one band
    _, _, sigma3 = held_out_simulations(model, 200, 5, regime="sigma3")
    ratio = np.sort(sigma3[:, 5:10] / real[:, 5:10], axis=1)
    assert np.median(ratio[:, -1] / ratio[:, -2]) > 1.5
    with pytest.raises(ValueError, match="unknown regime 'deep'"):
        held_out_simulations(model, 10, 5, regime="deep")
