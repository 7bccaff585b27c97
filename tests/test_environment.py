"""Every stage's dependencies are installed and import together (a missing install step fails here)."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "numpy", "scipy", "astropy", "dask.dataframe", "distributed", "torch", "sbi", "fitsio", "pyarrow.parquet",
    "duckdb", "speclite.filters", "matplotlib", "bokeh", "hats", "hats_import", "lsdb", "emcee", "tqdm", "dask_jobqueue",
]


@pytest.mark.parametrize("name", MODULES)
def test_dependency_imports(name):
    importlib.import_module(name)


def test_torch_is_the_cpu_build_the_project_pins():
    import torch

    major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    assert (major, minor) >= (2, 2) and (major, minor) < (2, 15)
