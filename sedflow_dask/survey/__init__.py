"""The vocabulary of surveys, shared by the readers, the ingest, the noise models, the mock and the tests.

:mod:`.nsa`: NSA releases, column names, the FNugriz band layout, DFLAGS and IAU names;
:mod:`.sdss_flags`: SDSS photoObj flag bits, the cut masks, the defects of the paper's cut and
the flat-file word halves; :mod:`.sdss`: kcorrect error floors, SDSS->AB offsets and the
corrections that bring an SDSS export onto the NSA's footing.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .nsa import DFLAGS_BAD_MASK, N_NSA_BANDS, NSA_VERSIONS, UGRIZ, column_name, iau_names, schema_version
    from .sdss import KCORRECT_FLOORS, SDSS_TO_AB, SDSSCorrections, correct_sdss_photometry, sdss_objid
    from .sdss_flags import DEFAULT_PRESET_DEFECTS, combine_split_words, split_word

_EXPORTS = {
    "DFLAGS_BAD_MASK": ".nsa",
    "N_NSA_BANDS": ".nsa",
    "NSA_VERSIONS": ".nsa",
    "UGRIZ": ".nsa",
    "column_name": ".nsa",
    "iau_names": ".nsa",
    "schema_version": ".nsa",
    "DEFAULT_PRESET_DEFECTS": ".sdss_flags",
    "combine_split_words": ".sdss_flags",
    "split_word": ".sdss_flags",
    "KCORRECT_FLOORS": ".sdss",
    "sdss_objid": ".sdss",
    "SDSS_TO_AB": ".sdss",
    "SDSSCorrections": ".sdss",
    "correct_sdss_photometry": ".sdss",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
