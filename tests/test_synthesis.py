"""The synthesis engine's fast paths equal its plain ones."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from sedflow_dask.config import SPSConfig
from sedflow_dask.sps import PROVABGSModel
from sedflow_dask.sps.parameters import draw_box_prior


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ssp_age_rule": "average"},
        {"metallicity_extrapolation": "linear", "metallicity_scale": "absolute"},
        {"burst_convention": "provabgs", "wave_step_factor": 2},
    ],
)
def test_tabulated_young_bins_equal_the_dense_product(options):
    """The ScaledBinGroup tabulation is exact: float64 photometry and spectra agree to 1e-12."""
    model = PROVABGSModel(config=SPSConfig(dtype="float64", **options))
    assert model.engine.group is not None and model.engine.group.size == 25
    theta, z = draw_box_prior(700, np.random.default_rng(4))
    theta[:5, 6] = np.log10(4.5e-5)  # the ends of the log gamma1 range
    theta[5:10, 6] = np.log10(1.5e-2)
    fast = model.photometry(theta, z, space="box")
    fast_spec = model.spectra(theta[:50], z[:50], space="box")[1]
    model._group_size = 0  # inputs without Populations.group take the dense path
    np.testing.assert_allclose(model.photometry(theta, z, space="box"), fast, rtol=1e-12)
    np.testing.assert_allclose(model.spectra(theta[:50], z[:50], space="box")[1], fast_spec, rtol=1e-12)


def test_blocks_threads_and_order_do_not_change_results():
    theta, z = draw_box_prior(5003, np.random.default_rng(9))
    base = PROVABGSModel(config=SPSConfig(dtype="float64", chunk_size=512))
    ref = base.photometry(theta, z, space="box")
    base.engine.threads = 1
    np.testing.assert_allclose(base.photometry(theta, z, space="box"), ref, rtol=1e-13)
    other = PROVABGSModel(config=dataclasses.replace(base.config, chunk_size=4096))
    np.testing.assert_allclose(other.photometry(theta, z, space="box"), ref, rtol=1e-13)
    perm = np.random.default_rng(1).permutation(z.size)
    np.testing.assert_allclose(base.photometry(theta[perm], z[perm], space="box"), ref[perm], rtol=1e-13)
    one = base.photometry(theta[17:18], z[17:18], space="box")
    np.testing.assert_allclose(one, ref[17:18], rtol=1e-12)


def test_the_engine_warns_nothing():
    """A synthesis run in a fresh process with every warning turned into an error succeeds."""
    code = ("from sedflow_dask.sps import photometry_from_sfh\n"
            "photometry_from_sfh([0.0, 1.0, 3.0], [1e9, 2e9], 0.02, 0.05)\n")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
