"""``sedflow validate`` end to end on the shipped model, and the MCMC-reference comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sedflow_dask.cli import main
from sedflow_dask.diagnostics import MCMCReference, compare_with_mcmc


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
    assert ref["n_galaxies"] == 2 and ref["max_seconds_per_galaxy"] == 3
    # even short chains constrain the mass to the same order as the flow
    assert 0.3 < ref["parameters"]["log_mstar"]["median_std_ratio"] < 3
    saved = np.load(out / "mcmc_reference.npz")
    assert saved["samples"].shape[0] == 2 and saved["samples"].shape[2] == 11 and int(saved["seed"]) == 0
    assert np.isfinite(saved["samples"][:, :100]).all()
    # another model (here the same one) is compared with the saved chains without rerunning them
    out2 = tmp_path / "val2"
    assert main(["validate", "--out", str(out2), "--n", "12", "--samples", "400", "--mcmc-from",
                 str(out / "mcmc_reference.npz")]) == 0
    again = json.loads((out2 / "summary.json").read_text())["mcmc_reference"]
    assert again["parameters"]["log_mstar"]["median_std_mcmc"] == pytest.approx(
        ref["parameters"]["log_mstar"]["median_std_mcmc"], rel=1e-6)
    capsys.readouterr()
    assert main(["validate", "--out", str(out2), "--n", "12", "--seed", "3", "--mcmc-from",
                 str(out / "mcmc_reference.npz")]) != 0
    assert "MCMC reference was run on other galaxies" in capsys.readouterr().err
    assert main(["validate", "--out", str(out), "--mcmc", "-1"]) != 0
    assert "--mcmc must be >= 0; got -1" in capsys.readouterr().err
