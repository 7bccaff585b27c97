"""The lower-level public API: photometry and spectra of arbitrary tabulated SFHs."""

from __future__ import annotations

import numpy as np
import pytest
import reference_model as ref

from sedflow_dask.config import SPSConfig
from sedflow_dask.sps import Dust, PROVABGSModel, load_ssp_table, photometry_from_sfh, spectrum_from_sfh


@pytest.fixture(scope="module")
def table():
    return load_ssp_table()


def test_provabgs_model_is_the_tabulated_engine(table):
    """A PROVABGS galaxy without burst, re-expressed as a tabulated SFH, gives the same photometry.

    The model's metallicity convention (ζ against Z_sun = 0.019) is undone by rescaling Z,
    since the tabulated API looks the table up at Z itself.
    """
    model = PROVABGSModel(table=table, config=SPSConfig(dtype="float64"))
    theta = np.array([10.2, 0.4, 0.3, 0.2, 0.1, 0.0, 3.0, 2e-3, 4e-3, 0.7, 0.4, -0.6])
    for z in (0.02, 0.13):
        sfh = model.star_formation_history(theta, [z])
        got = photometry_from_sfh(sfh.edges[0], sfh.mass_per_bin[0], sfh.zh[0] * table.zsun / 0.019, z,
                                  dust={"tau_bc": 0.7, "tau_ism": 0.4, "n_dust": -0.6}, table=table)
        want = model.photometry(theta[None], [z])
        np.testing.assert_allclose(got, want, rtol=2e-6)


def test_single_narrow_bin_is_the_reference_ssp(table):
    """A 1 Myr-wide bin centred on 2 Gyr is the interpolated SSP at 2 Gyr (no dust)."""
    edges = np.array([1.9995, 2.0005])
    wave, lum = spectrum_from_sfh(edges, [1.0], table.zsun * 10 ** -0.3, table=table)
    want = ref.reference_single_ssp(2.0, 0.019 * 10 ** -0.3, table)  # reference uses Z/0.019
    np.testing.assert_allclose(lum[0], want, rtol=1e-5)


def test_broadcasting_and_dust_object(table):
    edges = np.array([0.0, 0.1, 1.0, 5.0, 10.0])
    mass = np.array([1e8, 1e9, 3e9, 5e9])
    z = np.array([0.05, 0.1, 0.15])
    a = photometry_from_sfh(edges, mass, 0.01, z, table=table)
    b = photometry_from_sfh(edges, np.tile(mass, (3, 1)), np.full((3, 4), 0.01), z, table=table)
    # other shapes may take other BLAS kernels, which round differently on some CPUs
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    assert a.shape == (3, 5) and np.all(a > 0)
    dusty = photometry_from_sfh(edges, mass, 0.01, z, table=table,
                                dust=Dust(np.full(3, 1.0), np.full(3, 0.5), np.full(3, -0.5)))
    assert np.all(dusty < a)
    # flux scales with mass and with d_L^-2 through the cosmology option
    np.testing.assert_allclose(photometry_from_sfh(edges, 2 * mass, 0.01, z, table=table), 2 * a, rtol=1e-6)
    lsun = photometry_from_sfh(edges, mass, 0.01, z, table=table, lsun_erg_s=2 * table.lsun_erg_s)
    np.testing.assert_allclose(lsun, 2 * a, rtol=1e-6)
    other = photometry_from_sfh(edges, mass, 0.01, z, table=table, cosmology="WMAP9")
    assert np.all(np.abs(other / a - 1) > 1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bin_edges=[0.0, 1.0, 0.5], mass_formed=[1, 1], metallicity=0.01, z=0.1), "bin_edges must be increasing"),
        (dict(bin_edges=[0.0, 1.0], mass_formed=[1, 1], metallicity=0.01, z=0.1), "mass_formed must have shape"),
        (dict(bin_edges=[0.0, 1.0], mass_formed=[np.nan], metallicity=0.01, z=0.1), "non-finite"),
        (dict(bin_edges=[0.0, 1.0], mass_formed=[1.0], metallicity=0.0, z=0.1), "metallicity must be > 0"),
        (dict(bin_edges=[0.0, 1.0], mass_formed=[1.0], metallicity=0.01, z=0.0), "redshift range"),
    ],
)
def test_bad_input(table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        photometry_from_sfh(**kwargs, table=table)
