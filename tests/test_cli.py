"""The ``sedflow`` command line, run as a real subprocess (what a user types)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sedflow_dask import __version__
from sedflow_dask.config import Config, SPSConfig, load_config
from sedflow_dask.sps import PROVABGSModel

THETA = "10.5,0.5,0.25,0.125,0.125,0.1,2.0,1e-3,5e-3,0.5,0.3,-0.5"


def sedflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedflow_dask", *args], capture_output=True, text=True, timeout=300)


def test_version():
    res = sedflow("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"sedflow_dask {__version__}"


def test_photometry_json_matches_the_python_api():
    res = sedflow("sps", "photometry", "--theta", THETA, "--z", "0.1", "--format", "json", "--unit", "nanomaggies")
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)
    model = PROVABGSModel()
    theta = np.array([[float(v) for v in THETA.split(",")]])
    want = model.photometry(theta, [0.1], unit="nanomaggies")[0]
    got = [row[f"{b}_nmgy"] for b in "ugriz"]
    # float32 synthesis: another process (thread count, summation order) differs in the last bits
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert row["log_sfr_1gyr"] == pytest.approx(np.log10(3.51920505), abs=1e-7)  # sps-model.md §13.5


def test_config_override_changes_the_model():
    base = sedflow("sps", "photometry", "--theta", THETA, "--z", "0.1", "--format", "csv")
    other = sedflow("sps", "photometry", "--theta", THETA, "--z", "0.1", "--format", "csv",
                    "--set", "sps.cosmology=Planck18")
    assert base.returncode == 0 and other.returncode == 0, other.stderr
    assert base.stdout != other.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--theta", "1,2", "--z", "0.1"], "expected 12 comma-separated numbers"),
        (["--theta", THETA, "--z", "0.3"], "outside the model's redshift range"),
        (["--theta", THETA, "--z", "0"], "outside the model's redshift range"),
        (["--theta", THETA.replace("10.5", "13.5"), "--z", "0.1"], "log_mstar = 13.5 is outside the prior box"),
        (["--prior", "2", "--set", "sps.burst_convention=nope"], "burst_convention"),
        (["--prior", "2", "--set", "sps.no_such_option=1"], "unknown keys in config section [sps]"),
    ],
)
def test_bad_input_is_a_clear_error(args, message):
    res = sedflow("sps", "photometry", *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_spectrum_writes_csv(tmp_path):
    out = tmp_path / "spec.csv"
    res = sedflow("sps", "spectrum", "--prior", "2", "--seed", "3", "--out", str(out))
    assert res.returncode == 0, res.stderr
    data = np.genfromtxt(out, delimiter=",", names=True)
    assert len(data) == 880 and data["wave_aa"][0] == 2405.0
    assert np.all(data["flux_lsun_per_aa_0"] > 0)


def test_table_info_reports_the_verified_hash():
    res = sedflow("sps", "table-info")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["content_sha256_verified"] is True and len(info["sha256"]) == 64


def test_load_config_file_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = 7\n[sps]\nburst_convention = "provabgs"\nchunk_size = 256\n')
    cfg = load_config(str(path), ["sps.chunk_size=512", "sps.ssp_age_rule=average"])
    assert cfg == Config(seed=7, sps=SPSConfig(burst_convention="provabgs", chunk_size=512, ssp_age_rule="average"))
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="not valid TOML"):
        bad = tmp_path / "bad.toml"
        bad.write_text("[sps\n")
        load_config(str(bad))
    with pytest.raises(ValueError, match="cannot read config file"):
        load_config(str(tmp_path / "missing.toml"))


def test_prior_simplex_options():
    """D1: uniform sticks favour the youngest basis; the flat Dirichlet has E[beta] = 1/4 each."""
    from sedflow_dask.sps.parameters import box_to_physical, draw_box_prior

    rng = np.random.default_rng(5)
    sticks, z = draw_box_prior(40_000, rng)
    flat, _ = draw_box_prior(40_000, rng, simplex="flat_dirichlet")
    assert np.all((z > 1e-4) & (z <= 0.2))
    np.testing.assert_allclose(box_to_physical(sticks)[:, 1:5].mean(0), [1 / 2, 1 / 4, 1 / 8, 1 / 8], atol=0.01)
    np.testing.assert_allclose(box_to_physical(flat)[:, 1:5].mean(0), [1 / 4] * 4, atol=0.01)
    with pytest.raises(ValueError, match="simplex"):
        draw_box_prior(2, rng, simplex="dirichlet")
