"""The engine's fast path against a straightforward float64 evaluation of the same model.

The straightforward path below uses none of the engine's fast kernels: every shared bin is
summed on its own (no tabulated bin group), the SSP mix of each galaxy is built as dense
(age x metallicity) weights and contracted with the SSP table directly (no bin tables, no row
gathers), dust is the exact exponential of ``dust.py`` (no Chebyshev series) and each galaxy's
band weights are interpolated in z on their own (no redshift-sorted blocks). It shares only
the inputs (``PROVABGSModel._populations``), the interpolation weights and the band-weight table.
"""

from __future__ import annotations

import numpy as np
import pytest

from sedflow_dask.config import SPSConfig
from sedflow_dask.sps import BOX_NAMES, PROVABGSModel
from sedflow_dask.sps.dust import birth_cloud_optical_depth, diffuse_optical_depth
from sedflow_dask.sps.filters import band_weight_table
from sedflow_dask.sps.parameters import draw_box_prior
from sedflow_dask.sps.synthesis import Dust, Populations, SpectralSynthesis


def straightforward_components(engine: SpectralSynthesis, pops: Populations) -> tuple[np.ndarray, np.ndarray]:
    """Unattenuated young and old rest spectra (N, W) [L_sun/Å], float64."""
    table = engine.table
    lum = table.lum.astype(np.float64)  # (A, J, W)
    if lum.shape[-1] != engine.wave.size:
        raise ValueError("the straightforward path needs the table's own wavelength grid")
    n, n_age, n_z = pops.n, lum.shape[0], lum.shape[1]
    mix = np.zeros((n, n_age, n_z))  # M_sun formed per (table age, metallicity node)
    young_mix = np.zeros((n, n_age, n_z))
    rows = np.arange(n)
    zw = engine.metallicity_weights(pops.bin_metallicity)  # (N, K, 2)
    for k in range(pops.bin_mass.shape[1]):
        for a in np.flatnonzero(engine.bin_age_weights[k]):
            target = young_mix if engine.young_node[a] else mix
            for s in range(zw.index.shape[-1]):
                np.add.at(target, (rows, a, zw.index[:, k, s]),
                          pops.bin_mass[:, k] * engine.bin_age_weights[k, a] * zw.weight[:, k, s])
    for pop in pops.extra:
        aw = engine.extra_age_weights(pop)
        zwe = engine.metallicity_weights(pop.metallicity)
        for sa in range(aw.index.shape[1]):
            young = engine.young_node[aw.index[:, sa]] & pop.birth_cloud
            for sz in range(zwe.index.shape[1]):
                w = pop.mass * aw.weight[:, sa] * zwe.weight[:, sz]
                np.add.at(young_mix, (rows, aw.index[:, sa], zwe.index[:, sz]), np.where(young, w, 0.0))
                np.add.at(mix, (rows, aw.index[:, sa], zwe.index[:, sz]), np.where(young, 0.0, w))
    return np.einsum("naj,ajw->nw", young_mix, lum), np.einsum("naj,ajw->nw", mix, lum)


def straightforward_luminosity(engine: SpectralSynthesis, pops: Populations, dust: Dust | None) -> np.ndarray:
    """Rest spectra (N, W) [L_sun/Å]: e^{−τ_ISM} (O + e^{−τ_BC} Y), float64."""
    young, old = straightforward_components(engine, pops)
    if dust is None:
        return young + old
    wave = engine.wave
    t_bc = birth_cloud_optical_depth(wave, dust.tau_bc[:, None])
    t_ism = diffuse_optical_depth(wave, dust.tau_ism[:, None], dust.n_dust[:, None])
    return np.exp(-t_ism) * (old + np.exp(-t_bc) * young)


def straightforward_maggies(engine: SpectralSynthesis, pops: Populations, z: np.ndarray, dust: Dust | None,
                            zeropoint: str) -> np.ndarray:
    """AB maggies (N, 5): each galaxy's band weights interpolated linearly between grid redshifts."""
    lum = straightforward_luminosity(engine, pops, dust)
    bands = band_weight_table(engine.wave, engine.z_max + engine._filter_dz, engine._filter_dz, zeropoint)
    pos = z / bands.dz
    i = np.minimum(pos.astype(np.int64), bands.z_grid.size - 2)
    f = (pos - i)[:, None]
    per_band = np.einsum("nw,nwb->nb", lum, bands.table[i]) * (1 - f) + np.einsum("nw,nwb->nb", lum, bands.table[i + 1]) * f
    d_l = engine.cosmology.luminosity_distance_cm(z)
    return per_band * (engine.lsun_erg_s / (4 * np.pi * d_l**2))[:, None]


def fixed_batch(model: PROVABGSModel, n: int = 96) -> tuple[np.ndarray, np.ndarray, Populations, Dust]:
    """A fixed prior batch, its corners included: both ends of z, of the dust and of the burst age.

    Returns physical θ (n, 12), z (n,) and the engine's inputs for them.
    """
    theta, z = draw_box_prior(n, np.random.default_rng(2024))
    z[:3] = (1e-4, 0.1, 0.2)
    box = {name: i for i, name in enumerate(BOX_NAMES)}
    theta[3:6, box["tau_bc"]] = (0.0, 1.5, 3.0)
    theta[6:9, box["tau_ism"]] = (0.0, 1.5, 3.0)
    theta[9:12, box["n_dust"]] = (-2.0, 0.0, 1.0)
    theta[12:15, box["tburst"]] = (0.01, 0.5, 13.27)  # young burst (birth-cloud table ages), old, beyond t_age
    theta[12:15, box["fburst"]] = 0.9
    phys = model.physical_parameters(theta, "box")
    pops, dust = model._populations(phys, z)
    return phys, z, pops, dust


@pytest.mark.parametrize("options, tol_mag", [({}, 1e-5), ({"dtype": "float64"}, 1e-8),
                                               ({"ab_zeropoint": "exact", "burst_convention": "provabgs"}, 1e-5)])
def test_fast_photometry_matches_the_straightforward_path(options, tol_mag):
    model = PROVABGSModel(config=SPSConfig(**options))
    phys, z, pops, dust = fixed_batch(model)
    fast = model.photometry(phys, z, unit="mag")
    ref = -2.5 * np.log10(straightforward_maggies(model.engine, pops, z, dust, model.config.ab_zeropoint))
    assert np.all(np.isfinite(fast)) and fast.shape == ref.shape == (z.size, 5)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=tol_mag)


def test_fast_spectra_with_and_without_dust_match_the_straightforward_path():
    model = PROVABGSModel()
    phys, z, pops, dust = fixed_batch(model, 24)
    for with_dust in (True, False):
        fast = model.spectra(phys, z, dust=with_dust)[1]
        ref = straightforward_luminosity(model.engine, pops, dust if with_dust else None)
        # float32 synthesis: within 1e-5 of each spectrum's peak
        peak = ref.max(axis=1, keepdims=True)
        assert fast.shape == ref.shape and np.all(peak > 0)
        assert np.all(np.abs(fast - ref) <= 1e-5 * peak), np.max(np.abs(fast - ref) / peak)


def test_exact_dust_branch_outside_the_chebyshev_range():
    """Slope offsets outside the series' [−2, 1] take the exact exponential (engine called directly)."""
    model = PROVABGSModel()
    phys, z, pops, dust = fixed_batch(model, 16)
    steep = Dust(dust.tau_bc, dust.tau_ism, np.linspace(-2.6, 1.6, z.size))
    fast = model.engine.photometry(pops, z, steep)
    ref = straightforward_maggies(model.engine, pops, z, steep, model.config.ab_zeropoint)
    np.testing.assert_allclose(-2.5 * np.log10(fast), -2.5 * np.log10(ref), rtol=0, atol=1e-5)
