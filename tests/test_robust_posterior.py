"""The robust posterior end to end: negative and missing bands, broad noise, the band mask.

A small table of simulated galaxies (real SDSS-like errors, Gaussian noise in flux) goes through
the real readers, ``ingest_catalog`` and ``infer_catalog`` on the session's Dask cluster; the
shipped model's posteriors are then compared with and without a band.
"""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pandas as pd
import pytest

from sedflow_dask.config import Config, FallbackConfig, IngestConfig, SamplingConfig
from sedflow_dask.infer import infer_catalog
from sedflow_dask.ingest import ingest_catalog, read_ingested
from sedflow_dask.ingest.readers import parse_column_map
from sedflow_dask.noise import load_noise_model
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.noise.regimes import observe_regime
from sedflow_dask.photometry import BANDS, flux_to_mag, sigma_mag_from_flux
from sedflow_dask.posterior import flow_inputs, galaxy_seeds, load_posterior_model, sample_posteriors
from sedflow_dask.prior import SEDPrior
from sedflow_dask.sps import PROVABGSModel

CONFIG = Config(sample=SamplingConfig(n_samples=500, n_stored=20, batch_galaxies=16, task_rows=40),
                fallback=FallbackConfig(max_galaxies=0))


@functools.lru_cache(maxsize=1)
def forward_model() -> PROVABGSModel:
    return PROVABGSModel()


def simulated(n: int, seed: int, regime: str = "real"):
    """(θ_box, z, flux, σ) of ``n`` prior galaxies in the observable range, observed in ``regime``."""
    rng = np.random.default_rng(seed)
    model, proposal = forward_model(), default_proposal()
    theta, z = SEDPrior().sample(8 * n, rng)
    flux_true = model.photometry(theta, z, space="box", unit="nanomaggies")
    keep = np.flatnonzero(proposal.in_range(flux_true))[:n]
    flux, sigma = observe_regime(proposal, flux_true[keep], rng, regime)
    return theta[keep], z[keep], flux, sigma


@pytest.fixture(scope="module")
def catalog(client, tmp_path_factory):
    """Four galaxies: negative u flux, u not measured (ivar 0), only r and i measured, all bands."""
    _, z, flux, sigma = simulated(4, 11)
    flux[0, 0] = -0.8 * sigma[0, 0]
    ivar = 1.0 / sigma**2
    ivar[1, 0] = 0.0
    ivar[2, [0, 1, 4]] = 0.0
    frame = pd.DataFrame({"ID": [11, 12, 13, 14], "RA": [10.0, 10.1, 10.2, 10.3], "DEC": [-1.0, -1.1, -1.2, -1.3],
                          "ZSPEC": z})
    for k, b in enumerate(BANDS):
        frame[f"F_{b.upper()}"] = flux[:, k]
        frame[f"IVAR_{b.upper()}"] = ivar[:, k]
    root = tmp_path_factory.mktemp("robust")
    frame.to_parquet(root / "table.parquet")
    columns = ",".join(f"flux_{b}=F_{b.upper()},ivar_{b}=IVAR_{b.upper()}" for b in BANDS)
    ingest_catalog(root / "table.parquet", root / "ingested", client=client, progress=False, stream=None,
                   config=IngestConfig(preset="table", columns=parse_column_map(f"id=ID,ra=RA,dec=DEC,z=ZSPEC,{columns}")))
    infer_catalog(CONFIG, root / "ingested", root / "catalog", client=client, progress=False, stream=None)
    return root


def test_negative_and_missing_bands_get_posteriors_and_say_which_bands(catalog):
    ingested = read_ingested(catalog / "ingested").set_index("nsaid").sort_index()
    assert ingested["bands_used"].tolist() == [31, 30, 12, 31]
    out = duckdb.sql(f"select nsaid, status, bands_used, log_mstar_p50, is_efficiency "
                     f"from read_parquet('{catalog}/catalog/dataset/Norder=*/Dir=*/Npix=*.parquet') "
                     f"order by nsaid").df().set_index("nsaid")
    assert out["bands_used"].tolist() == [31, 30, 12, 31]
    # the negative u flux and the unmeasured u are measurements and a gap, not reasons to cut
    for galaxy in (11, 12, 14):
        assert out.loc[galaxy, "status"] in ("ok", "reweighted", "skipped")
        assert np.isfinite(out.loc[galaxy, "log_mstar_p50"]) and np.isfinite(out.loc[galaxy, "is_efficiency"])
    assert out.loc[13, "status"] == "bad_input" and np.isnan(out.loc[13, "log_mstar_p50"])


def test_u_missing_broadens_log_mstar_through_the_mask():
    posterior = load_posterior_model()
    _, z, flux, sigma = simulated(48, 5)
    seeds = galaxy_seeds(3, np.arange(len(z)))
    u_absent = np.arange(5) == 0
    widths = []
    for f, s in ((flux, sigma), (np.where(u_absent, np.nan, flux), np.where(u_absent, np.nan, sigma))):
        draws = sample_posteriors(posterior, flow_inputs(f, s, z), 1000, seeds=seeds, threads=1).samples[:, :, 0]
        widths.append(np.nanstd(draws, axis=1))
    ratio = widths[1] / widths[0]
    # without u, the same galaxies' stellar masses are less certain (the flow reads the mask)
    assert np.median(ratio) > 1.02 and np.mean(ratio > 1) > 0.6


def test_errors_the_old_support_test_rejected_are_inside_the_proposal():
    theta, z, flux, sigma = simulated(200, 8, regime="sigma3")
    old = load_noise_model()
    mag = flux_to_mag(np.where(flux > 0, flux, np.nan))
    sigma_mag = sigma_mag_from_flux(flux, sigma)
    usable = np.all(np.isfinite(mag), axis=1)
    rejected_before = old.noise_outlier(mag[usable], sigma_mag[usable])
    assert rejected_before.mean() > 0.2  # σ × 3 in one band: the old p(σ | m) test rejects many
    assert default_proposal().sigma_out_of_range(sigma).mean() < 0.01  # the proposal covers them
