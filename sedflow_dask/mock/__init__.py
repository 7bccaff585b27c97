"""Synthetic NSA-schema catalogs for tests, demos and benchmarks (``sedflow mock-nsa``).

:func:`write_mock_nsa` writes a deterministic (seeded) NSA-schema FITS catalog, its SDSS
photo-flag companions and a truth table keyed by NSAID. What is drawn, what is injected and
what the truth columns mean is specified once, in ``docs/mock-nsa.md``. Rooms: :mod:`.labels`
(what each row is meant to be), :mod:`.galaxies` (the astrophysics), :mod:`.columns` (NSA
columns and flag words without physics), :mod:`.truth`, :mod:`.generate` (one block from a
plan, pure numpy), :mod:`.schema` (the table layout) and :mod:`.write` (fitsio and pyarrow).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .galaxies import reference_colour_quantiles
    from .generate import MockBlock, MockPlan, generate_block, plan_mock_nsa
    from .labels import FLAG_DEFECTS, FLAG_MODES, FLAG_PRESETS, PATHOLOGIES, PATHOLOGY_RATES, MockLabels
    from .schema import TFORMS_V1, catalog_dtype, flags_dtype
    from .truth import expected_ingest_reason
    from .write import MockNSAFiles, default_paths, iter_blocks, write_mock_nsa

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "reference_colour_quantiles": ".galaxies",
    "MockBlock": ".generate",
    "MockPlan": ".generate",
    "generate_block": ".generate",
    "plan_mock_nsa": ".generate",
    "FLAG_DEFECTS": ".labels",
    "FLAG_MODES": ".labels",
    "FLAG_PRESETS": ".labels",
    "PATHOLOGIES": ".labels",
    "PATHOLOGY_RATES": ".labels",
    "MockLabels": ".labels",
    "TFORMS_V1": ".schema",
    "catalog_dtype": ".schema",
    "flags_dtype": ".schema",
    "expected_ingest_reason": ".truth",
    "MockNSAFiles": ".write",
    "default_paths": ".write",
    "iter_blocks": ".write",
    "write_mock_nsa": ".write",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
