"""Stellar population synthesis: SSP tables, the PROVABGS model and the synthesis core."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .derived import DERIVED_NAMES
    from .model import PROVABGSModel, StarFormationHistory, convert_flux
    from .parameters import BOX_LOWER, BOX_NAMES, BOX_UPPER, PHYSICAL_NAMES, box_to_physical, physical_to_box
    from .ssp_table import SSPTable, default_ssp_table_path, load_ssp_table
    from .synthesis import Dust, ExtraPopulation, Populations, SpectralSynthesis
    from .tabulated_sfh import photometry_from_sfh, spectrum_from_sfh

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "DERIVED_NAMES": ".derived",
    "PROVABGSModel": ".model",
    "StarFormationHistory": ".model",
    "convert_flux": ".model",
    "BOX_LOWER": ".parameters",
    "BOX_NAMES": ".parameters",
    "BOX_UPPER": ".parameters",
    "PHYSICAL_NAMES": ".parameters",
    "box_to_physical": ".parameters",
    "physical_to_box": ".parameters",
    "SSPTable": ".ssp_table",
    "default_ssp_table_path": ".ssp_table",
    "load_ssp_table": ".ssp_table",
    "Dust": ".synthesis",
    "ExtraPopulation": ".synthesis",
    "Populations": ".synthesis",
    "SpectralSynthesis": ".synthesis",
    "photometry_from_sfh": ".tabulated_sfh",
    "spectrum_from_sfh": ".tabulated_sfh",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
