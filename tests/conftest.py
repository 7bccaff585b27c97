import sys
from pathlib import Path

# The scalar reference model lives beside the tests (it is test code, not package code).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shared_client():
    """A LocalCluster of 2 worker processes (1 thread each), started once for the whole run.

    A cluster costs 5-10 s to start and stop, and its workers import torch, hats and lsdb on first
    use.
    """
    from sedflow_dask.cluster import dask_client
    from sedflow_dask.config import ClusterConfig

    with dask_client(ClusterConfig(n_workers=2, dashboard_address=":0"), stream=None) as c:
        yield c


@pytest.fixture(scope="session")
def client(shared_client):
    """The shared cluster. Test files whose checks depend on the workers' history (workers killed,
    models loaded per worker counted) define their own module-scoped ``client`` instead; the
    session fixtures below use ``shared_client``, which such a file does not replace."""
    return shared_client


@pytest.fixture(scope="session")
def mock_ingested(shared_client, tmp_path_factory):
    """A 900-galaxy mock NSA catalog ingested into ≥ 4 HEALPix pixels at order ≥ 1, with its truth.

    Shared by the inference tests (``sedflow infer`` reads it, never writes it).
    """
    import pandas as pd

    from sedflow_dask.config import IngestConfig
    from sedflow_dask.ingest import ingest_catalog
    from sedflow_dask.mock import write_mock_nsa

    d = tmp_path_factory.mktemp("mock_ingested")
    files = write_mock_nsa(d / "nsa_mock_v1_0_1.fits", 900, seed=11, block_rows=512)
    out = d / "ingested"
    ingest_catalog(files.catalog, out, client=shared_client, flags_path=files.flags_parquet,
                   config=IngestConfig(preset="nsa", partition_rows=400, pixel_threshold=150, highest_order=4),
                   progress=False, stream=None)
    return out, pd.read_parquet(files.truth).set_index("nsaid")


#: The files that take longest (tens of seconds to two minutes each on 2 cores: end-to-end
#: subprocess runs, real clusters, daemons). ``make test`` runs the suite on 2 pytest-xdist
#: processes a file at a time (``--dist loadfile``, so module fixtures are built once); starting
#: these first keeps one of them from being the last thing running while the other process idles.
SLOW_FIRST = ("test_readme.py", "test_demo.py", "test_infer_faults.py", "test_notebooks.py", "test_slurm_cluster.py",
              "test_tls.py", "test_cli.py", "test_deploy.py", "test_infer.py", "test_bench_ingest.py",
              "test_bench_infer.py", "test_fallback.py", "test_validate.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
