"""The derived properties' fast path (sedflow_dask/sps/derived.py) against a per-bin evaluation on
the full (N, 42) star-formation history and against the independent scalar reference.

The per-bin evaluation below is the model's full SFH and ZH (``star_formation_history``, the
engine's inputs for the spectra) with the §11 sums and the engine's ``surviving_mass`` over every
bin: it shares no precomputed integral or tabulation with the fast path, so it stays as the
vectorised reference for many draws; tests/reference_model.py checks both on fewer draws.
Tolerance: 1e-6 relative (tests/test_physics.py's DERIVED_RTOL).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_model as ref  # noqa: E402

from sedflow_dask.config import SPSConfig  # noqa: E402
from sedflow_dask.sps import nmf  # noqa: E402
from sedflow_dask.sps.cosmology import cosmology_table  # noqa: E402
from sedflow_dask.sps.derived import DERIVED_NAMES, SFR_WINDOW_GYR  # noqa: E402
from sedflow_dask.sps.model import PROVABGSModel  # noqa: E402
from sedflow_dask.sps.parameters import BOX_LOWER, BOX_UPPER, box_to_physical  # noqa: E402
from sedflow_dask.sps.ssp_table import load_ssp_table  # noqa: E402

RTOL = 1e-6
N_DRAWS = 10_000
OPTIONS = [{}, {"ssp_age_rule": "average"}, {"burst_convention": "provabgs"},
           {"metallicity_extrapolation": "linear"}, {"derived_burst": "exact"}]
T_B_MAX = BOX_UPPER[5]


@pytest.fixture(scope="module")
def table():
    return load_ssp_table()


@pytest.fixture(scope="module")
def default_model(table):
    return PROVABGSModel(table=table)


def edge_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, slice]]:
    """(theta (n, 12), z (n,), cases): prior draws, with blocks of explicit corners.

    Cases: bursts older than the galaxy; bursts in the partial last bin [e_41, t_age); bursts in
    the bin holding the SFR window's end; bursts exactly on fixed bin edges; metallicities
    clipped low (old bins), high (young bins) and both; redshifts where the last bin reaches
    beyond the last basis node (negative B_4 extrapolation) and at the model's z limit; pure
    bursts, no burst, and β on the simplex's vertices.
    """
    th = box_to_physical(rng.uniform(BOX_LOWER, BOX_UPPER, (n, BOX_LOWER.size)))
    z = rng.uniform(1e-3, 0.2, n)
    t_age = _t_age(z)
    m = 200
    cases = {name: slice(i * m, (i + 1) * m) for i, name in enumerate(
        ("burst_older", "burst_last_bin", "burst_sfr_edge", "burst_on_edge", "clip_low", "clip_high", "clip_both",
         "low_z", "z_max", "pure_burst", "no_burst", "beta_vertex"))}
    if n < m * len(cases):
        raise ValueError(f"need at least {m * len(cases)} draws for the corner blocks")
    s = cases["burst_older"]
    z[s] = rng.uniform(0.05, 0.2, m)  # t_age < 13.27 Gyr, the prior's oldest burst
    t_age[s] = _t_age(z[s])
    th[s, 6] = rng.uniform(t_age[s], T_B_MAX)
    th[s, 5] = rng.uniform(0.05, 1.0, m)
    s = cases["burst_last_bin"]
    z[s] = rng.uniform(0.05, 0.2, m)
    t_age[s] = _t_age(z[s])
    th[s, 6] = rng.uniform(nmf.BIN_EDGES[nmf.N_FIXED_BINS], t_age[s])
    s = cases["burst_sfr_edge"]
    k_star = int(np.searchsorted(nmf.BIN_EDGES, SFR_WINDOW_GYR, side="right") - 1)
    th[s, 6] = rng.uniform(nmf.BIN_EDGES[k_star], nmf.BIN_EDGES[k_star + 1], m)
    th[s, 6][:20] = SFR_WINDOW_GYR
    s = cases["burst_on_edge"]
    edges = nmf.BIN_EDGES[: nmf.N_FIXED_BINS + 1]
    th[s, 6] = rng.choice(edges[(edges >= BOX_LOWER[5]) & (edges <= T_B_MAX)], m)
    s = cases["clip_low"]
    th[s, 7:9] = 10.0 ** BOX_LOWER[6]
    s = cases["clip_high"]
    th[s, 7:9] = 10.0 ** BOX_UPPER[6]
    s = cases["clip_both"]
    th[s, 7], th[s, 8] = 10.0 ** BOX_UPPER[6], 10.0 ** BOX_LOWER[7]
    s = cases["low_z"]
    z[s] = rng.uniform(1e-4, 0.0117, m)
    s = cases["z_max"]
    z[s] = 0.2
    s = cases["pure_burst"]
    th[s, 5] = 1.0
    th[s, 6] = rng.uniform(0.01, 11.0, m)
    s = cases["no_burst"]
    th[s, 5] = 0.0
    s = cases["beta_vertex"]
    th[s, 1:5] = np.eye(4)[rng.integers(0, 4, m)]
    return th, z, cases


def _t_age(z: np.ndarray) -> np.ndarray:
    """Ages [Gyr] in the models' default cosmology."""
    return cosmology_table(SPSConfig().cosmology).age_gyr(z)


def per_bin_derived(model: PROVABGSModel, th: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """§11 on the full (N, 42) SFH and ZH, with the surviving fraction of every bin looked up."""
    h = model.star_formation_history(th, z)
    mass = 10.0 ** th[:, 0]
    t_age = h.edges[:, -1]
    pops, _ = model._populations(th, z)  # the engine's inputs for the spectra: masses and Z per bin
    surviving = model.engine.surviving_mass(pops)
    nmf_frac = nmf.nmf_history(th[:, 1:5], th[:, 7:9], t_age, model.bases).nmf_mass_frac
    edges, widths = h.edges, np.diff(h.edges, axis=1)
    k = int(np.searchsorted(nmf.BIN_EDGES, SFR_WINDOW_GYR, side="right") - 1)
    nmf_within = nmf_frac[:, :k].sum(1) + nmf_frac[:, k] * (SFR_WINDOW_GYR - edges[:, k]) / widths[:, k]
    fb = h.burst_fraction
    sfr = mass * ((1 - fb) * nmf_within + th[:, 5] * (th[:, 6] < SFR_WINDOW_GYR)) / (1e9 * SFR_WINDOW_GYR)
    if model.config.derived_burst == "bin":
        z_mw = (h.mass_per_bin * h.zh).sum(1) / mass
        t_mw = (h.mass_per_bin * h.centres).sum(1) / mass
    else:
        nmf_mass = (mass * (1 - fb))[:, None] * nmf_frac
        z_mw = ((nmf_mass * h.zh).sum(1) + mass * fb * h.burst_metallicity) / mass
        t_mw = ((nmf_mass * h.centres).sum(1) + mass * fb * th[:, 6]) / mass
    with np.errstate(divide="ignore"):
        return {"log_mstar_formed": th[:, 0], "log_mstar_surviving": np.log10(surviving),
                "log_sfr_1gyr": np.log10(sfr), "log_z_mw": np.log10(z_mw), "t_mw": t_mw}


def relative_errors(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Relative error per draw of each property in linear units (SFR 0 where both are 0)."""
    out = {}
    for name in DERIVED_NAMES:
        g, w = (10.0 ** got[name], 10.0 ** want[name]) if name.startswith("log_") else (got[name], want[name])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(g == w, 0.0, np.abs(g - w) / np.abs(w))
    return out


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_fast_path_equals_per_bin_evaluation(table, option):
    model = PROVABGSModel(table=table, config=SPSConfig(**option))
    th, z, cases = edge_draws(np.random.default_rng(5), N_DRAWS)
    got, want = model.derived_properties(th, z), per_bin_derived(model, th, z)
    assert set(got) == set(DERIVED_NAMES)
    for name in DERIVED_NAMES:
        assert got[name].shape == (N_DRAWS,) and np.all(np.isfinite(got[name]) | (got[name] == -np.inf)), name
    for name, err in relative_errors(got, want).items():
        worst = {case: float(err[s].max()) for case, s in cases.items()}
        assert err.max() <= RTOL, f"{name}: max relative error {err.max():.3g}; per corner block {worst}"


def test_corners_are_exercised(default_model):
    """The corner blocks do reach what they are named for (else the comparison above proves less)."""
    th, z, cases = edge_draws(np.random.default_rng(5), N_DRAWS)
    h = default_model.star_formation_history(th, z)
    t_age = h.edges[:, -1]
    assert np.all(th[cases["burst_older"], 6] >= t_age[cases["burst_older"]])
    assert np.all(h.burst_fraction[cases["burst_older"]] == 0)
    assert np.all(h.burst_bin[cases["burst_last_bin"]] == nmf.N_FIXED_BINS)
    assert np.any(h.zh[cases["clip_low"]] == nmf.Z_MIN) and np.any(h.zh[cases["clip_high"]] == nmf.Z_MAX)
    both = h.zh[cases["clip_both"]]
    assert np.any(both == nmf.Z_MIN) and np.any(both == nmf.Z_MAX)
    assert np.all(t_age[cases["low_z"]] > default_model.bases.sfh.nodes[-1])  # B_4 extrapolated
    d = default_model.derived_properties(th, z)
    assert np.all(d["log_sfr_1gyr"][cases["no_burst"]] > -np.inf)


@pytest.mark.parametrize("option", [{}, {"derived_burst": "exact"}, {"metallicity_extrapolation": "linear"}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_fast_path_matches_scalar_reference(table, option):
    """Six draws of each corner block through tests/reference_model.py (float64, one galaxy at a time)."""
    model = PROVABGSModel(table=table, config=SPSConfig(dtype="float64", **option))
    th, z, cases = edge_draws(np.random.default_rng(9), 2400)
    rows = np.concatenate([np.arange(s.start, s.start + 6) for s in cases.values()])
    th, z = th[rows], z[rows]
    d = model.derived_properties(th, z)
    kw = {k: v for k, v in option.items() if k in ("derived_burst", "metallicity_extrapolation")}
    refs = [ref.reference_sed(th[i], z[i], table, photometry=False, **kw) for i in range(len(z))]
    want = {"log_mstar_formed": th[:, 0], "log_mstar_surviving": np.log10([o["mstar_surviving"] for o in refs]),
            "log_sfr_1gyr": np.log10([o["sfr_1gyr"] for o in refs]), "log_z_mw": np.log10([o["z_mw"] for o in refs]),
            "t_mw": np.array([o["t_mw"] for o in refs])}
    for name, err in relative_errors(d, want).items():
        assert err.max() <= RTOL, f"{name}: max relative error {err.max():.3g} (draw {rows[np.argmax(err)]})"


def test_fast_path_blocks_and_orders(default_model):
    """Results do not depend on how draws are grouped: a shuffled batch larger than one block
    gives the same values as the draws one at a time."""
    th, z, _ = edge_draws(np.random.default_rng(3), 20_000)
    whole = default_model.derived_properties(th, z)
    order = np.random.default_rng(4).permutation(len(z))
    shuffled = default_model.derived_properties(th[order], z[order])
    for name in DERIVED_NAMES:
        np.testing.assert_allclose(shuffled[name], whole[name][order], rtol=1e-13, atol=1e-13, err_msg=name)
    for i in (0, 2401, 19_999):
        one = default_model.derived_properties(th[i:i + 1], z[i:i + 1])
        for name in DERIVED_NAMES:
            assert one[name][0] == pytest.approx(whole[name][i], rel=1e-12, abs=1e-12), name
