"""The 10,000 real SDSS galaxies of the ``kcorrect`` wheel (``kcorrect/data/test/gst_tests_small.fits``).

A test catalogue of the SDSS k-correction package (Blanton & Roweis 2007; BSD-3-Clause), installed
as a dependency of this project: RA, DEC, ``MODELFLUX``/``PETROFLUX`` with ``_IVAR`` in SDSS
nanomaggies, ``EXTINCTION`` [mag] and spectroscopic ``Z`` of main-sample galaxies. It has no object
id: the galaxy id is the row number (1-based).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS
from ..survey.sdss import SDSSCorrections, correct_sdss_photometry

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
    """The catalogue as a standard frame and what was done to it.

    Returns ``(frame, provenance)``: ``frame`` has ``nsaid`` (row number, 1-based), ``ra``,
    ``dec`` [deg], ``z``, ``flux_u … flux_z`` [AB nmgy] and ``ivar_u … ivar_z`` [nmgy⁻²] after
    ``corrections``; ``provenance`` names the file, its package version, the flux kind and the
    corrections with their values.
    """
    import fitsio
    import kcorrect

    path = kcorrect_sdss_path()
    name = {"model": "MODELFLUX", "petro": "PETROFLUX"}[flux]
    data = fitsio.read(str(path), columns=["RA", "DEC", "Z", name, f"{name}_IVAR", "EXTINCTION"])
    f, w = correct_sdss_photometry(data[name], data[f"{name}_IVAR"], data["EXTINCTION"], corrections)
    frame = pd.DataFrame({"nsaid": np.arange(1, len(data) + 1, dtype=np.int64),
                          "ra": data["RA"].astype(np.float64), "dec": data["DEC"].astype(np.float64),
                          "z": data["Z"].astype(np.float64)})
    for i, (fc, wc) in enumerate(zip(FLUX_COLUMNS, IVAR_COLUMNS)):
        frame[fc] = f[:, i]
        frame[wc] = w[:, i]
    provenance = {"data_set": "kcorrect_sdss", "file": f"kcorrect/{KCORRECT_SDSS}",
                  "kcorrect_version": getattr(kcorrect, "__version__", None), "licence": "BSD-3-Clause",
                  "flux_column": name, "rows": int(len(frame)), "corrections": corrections.provenance()}
    return frame, provenance
