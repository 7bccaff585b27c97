"""``sedflow noise fit`` on a real ingested (mock) NSA catalog: it recovers the noise model the
mock was drawn from, and its out-of-support test then flags the injected noise outliers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sedflow_dask.cli import main
from sedflow_dask.config import IngestConfig
from sedflow_dask.ingest import ingest_catalog, read_ingested
from sedflow_dask.mock import write_mock_nsa
from sedflow_dask.noise import load_noise_model
from sedflow_dask.photometry import MAG_COLUMNS, SIGMA_COLUMNS


@pytest.fixture(scope="module")
def ingested(client, tmp_path_factory):
    root = tmp_path_factory.mktemp("noisefit")
    files = write_mock_nsa(root / "nsa.fits", 20_000, seed=11)
    ingest_catalog(files.catalog, root / "cat", client=client, flags_path=files.flags_parquet,
                   config=IngestConfig(preset="nsa"), progress=False, stream=None)
    return root / "cat", files


def test_fit_recovers_the_mock_noise_model(ingested, tmp_path, capsys):
    catalog, _ = ingested
    out = tmp_path / "noise.json"
    assert main(["noise", "fit", str(catalog), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    fitted = load_noise_model(out)
    assert printed["sha256"] == fitted.sha256()
    assert fitted.provenance["fitted_from"] == "catalog" and len(fitted.provenance["catalog_data_sha256"]) == 64
    truth = load_noise_model()
    for i, band in enumerate(fitted.bands):
        # well-populated bins: the fitted median σ is the mock's μ(m) (which draws σ around it)
        frame = read_ingested(catalog, columns=["ingest_reason", MAG_COLUMNS[i], SIGMA_COLUMNS[i]])
        usable = frame[frame["ingest_reason"] == 0]
        counts = np.histogram(usable[MAG_COLUMNS[i]], bins=np.append(band.mag_centres - 0.1, band.mag_centres[-1] + 0.1))[0]
        # Left out: the faintest 0.5 mag (there the mock redraws σ to keep its labels exact) and
        # bins where μ > 0.2 mag, whose galaxies scatter in from a wide range of true magnitudes
        # (σ is drawn at the true magnitude, the bins hold noisy ones).
        busy = ((counts >= 200) & (band.mag_centres < truth.bands[i].mag_range[1] - 0.5)
                & (truth.bands[i].median(band.mag_centres) < 0.2))
        assert busy.sum() >= 5, band.band
        np.testing.assert_allclose(band.sigma_median[busy], truth.bands[i].median(band.mag_centres[busy]), rtol=0.1)
        assert band.floor == truth.bands[i].floor
        assert band.mag_range[0] >= truth.bands[i].mag_range[0] - 0.5


def test_injected_noise_outliers_are_flagged_by_the_fitted_model(ingested, tmp_path):
    catalog, files = ingested
    out = tmp_path / "noise.json"
    assert main(["noise", "fit", str(catalog), "--out", str(out)]) == 0
    fitted = load_noise_model(out)
    import pandas as pd

    frame = read_ingested(catalog, columns=["nsaid", "ingest_reason", *MAG_COLUMNS, *SIGMA_COLUMNS])
    truth = pd.read_parquet(files.truth, columns=["nsaid", "injected_oos_noise"])
    merged = frame.merge(truth, on="nsaid")
    usable = merged[merged["ingest_reason"] == 0]
    flagged = fitted.noise_outlier(usable[list(MAG_COLUMNS)].to_numpy(), usable[list(SIGMA_COLUMNS)].to_numpy())
    injected = usable["injected_oos_noise"].to_numpy()
    assert flagged[injected].mean() > 0.9  # the injected ones stand out from a fit that includes them
    assert flagged[~injected].mean() < 0.02


def test_fit_refuses_a_non_catalog(tmp_path, capsys):
    assert main(["noise", "fit", str(tmp_path), "--out", str(tmp_path / "n.json")]) == 2
    assert "sedflow: error:" in capsys.readouterr().err
