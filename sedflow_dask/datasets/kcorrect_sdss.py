"""The 10,000 real SDSS galaxies of the ``kcorrect`` wheel (``kcorrect/data/test/gst_tests_small.fits``).

A test catalogue of the SDSS k-correction package (Blanton & Roweis 2007; BSD-3-Clause), installed
as a dependency of this project: RA, DEC, ``MODELFLUX``/``PETROFLUX`` with ``_IVAR`` in SDSS
nanomaggies, ``EXTINCTION`` [mag] and spectroscopic ``Z`` of main-sample galaxies. It has no object
id: the galaxy id is the row number (1-based). The SDSS reader of the ingest reads it
(``sedflow ingest --dataset kcorrect-sdss``, or :func:`read_kcorrect_sdss` in memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..survey.sdss import SDSSCorrections

#: Where the file lies inside the installed ``kcorrect`` package.
KCORRECT_SDSS = "data/test/gst_tests_small.fits"
FluxKind = Literal["model", "petro"]


def kcorrect_sdss_path() -> Path:
    """Path of the real SDSS test catalogue inside the installed ``kcorrect`` package."""
    try:
        import kcorrect
    except ImportError as exc:  # a dependency; missing only in a broken environment
        raise ValueError("the real SDSS data set ships inside the `kcorrect` package, which is not installed "
                         "(pip install kcorrect)") from exc
    path = Path(kcorrect.__file__).resolve().parent / KCORRECT_SDSS
    if not path.is_file():
        raise ValueError(f"kcorrect {getattr(kcorrect, '__version__', '?')} has no {KCORRECT_SDSS} "
                         f"(looked in {path.parent}); this project expects kcorrect 5.1.9")
    return path


def read_kcorrect_sdss(flux: FluxKind = "model", corrections: SDSSCorrections = SDSSCorrections()
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The catalogue as a standard frame, read by the SDSS reader, and what was done to it.

    Returns ``(frame, provenance)``: ``frame`` has ``nsaid`` (row number, 1-based), ``ra``,
    ``dec`` [deg], ``z``, ``flux_u … flux_z`` [AB nmgy] and ``ivar_u … ivar_z`` [nmgy⁻²] after
    ``corrections`` (10,000 rows, index 0..9999); ``provenance`` names the file, its package
    version, the flux column and the corrections with their values.
    """
    import kcorrect

    from ..ingest.readers.sdss import SDSS_FLUX_KINDS, open_sdss_reader
    from ..ingest.readers.tables import open_table

    if flux not in ("model", "petro"):
        raise ValueError(f"the kcorrect catalogue has model and petro fluxes; got {flux!r}")
    reader = open_sdss_reader(open_table(kcorrect_sdss_path(), what="kcorrect SDSS catalogue"), flux=flux,
                              corrections=corrections)
    frame = reader.read_frame(0, reader.nrows).reset_index(drop=True)
    provenance = {"data_set": "kcorrect_sdss", "file": f"kcorrect/{KCORRECT_SDSS}",
                  "kcorrect_version": getattr(kcorrect, "__version__", None), "licence": "BSD-3-Clause",
                  "flux_column": SDSS_FLUX_KINDS[flux], "rows": int(len(frame)), "corrections": corrections.provenance()}
    return frame, provenance
