"""sedflow_dask: amortized Bayesian SED inference for galaxy surveys, on Dask."""

__version__ = "0.1.0"

__all__ = ["__version__"]
