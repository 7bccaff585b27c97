"""Stellar population synthesis: SSP tables, the PROVABGS model and the synthesis core."""

from .model import DERIVED_NAMES, PROVABGSModel, StarFormationHistory, convert_flux
from .parameters import BOX_LOWER, BOX_NAMES, BOX_UPPER, PHYSICAL_NAMES, box_to_physical, physical_to_box
from .ssp_table import SSPTable, default_ssp_table_path, load_ssp_table
from .synthesis import Dust, ExtraPopulation, Populations, SpectralSynthesis, photometry_from_sfh, spectrum_from_sfh

__all__ = [
    "BOX_LOWER", "BOX_NAMES", "BOX_UPPER", "DERIVED_NAMES", "PHYSICAL_NAMES",
    "Dust", "ExtraPopulation", "PROVABGSModel", "Populations", "SSPTable", "SpectralSynthesis",
    "StarFormationHistory", "box_to_physical", "convert_flux", "default_ssp_table_path",
    "load_ssp_table", "photometry_from_sfh", "physical_to_box", "spectrum_from_sfh",
]
