"""SDSS conventions: kcorrect error floors, objID packing, and SDSS photometry as SkyServer/CasJobs
export it turned into what the models expect.

SDSS ``*FLUX`` columns are nanomaggies on the SDSS system, not corrected for Galactic
extinction, with only their statistical inverse variances. The NSA's fluxes (and so the
SEDflow training data) are AB, extinction-corrected and carry kcorrect's error floors. Three
steps bring an SDSS export onto that footing, each switchable and each recorded:

1. Galactic extinction: ``f · 10^(0.4 A)`` with ``A`` the ``EXTINCTION`` column [mag];
2. SDSS → AB: ``m_AB = m_SDSS + Δ`` with Δ = (−0.04, 0, 0, 0, +0.02) mag for ugriz
   (Blanton & Roweis 2007, AJ 133 734, §2.3), i.e. ``f_AB = f · 10^(−0.4 Δ)``;
3. error floors: σ_m² → σ_m² + floor² per band, the kcorrect floors (0.05, 0.02, 0.02, 0.02,
   0.03) mag that every NSA σ already includes (added to the flux variance as
   (floor · f / 1.0857)², so a band's σ_m is never below its floor).

Pure numpy, float64, (N, 5) ugriz arrays throughout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..photometry import MAG_PER_LN, N_BANDS

#: NSA's kcorrect error floors for ugriz [mag], added in quadrature where ivar > 0
#: (kcorrect ``k_minerror``); every real NSA σ_m is at least this.
KCORRECT_FLOORS: tuple[float, ...] = (0.05, 0.02, 0.02, 0.02, 0.03)
#: m_AB − m_SDSS per ugriz band [mag] (Blanton & Roweis 2007).
SDSS_TO_AB: tuple[float, ...] = (-0.04, 0.0, 0.0, 0.0, 0.02)


def sdss_objid(run, camcol, field, obj, *, sky_version: int = 2, rerun: int = 301) -> np.ndarray:
    """SDSS ``objID`` (int64) packed from its parts as the CAS does (sqlloader PhotoTables).

    Bits: skyVersion << 59 | rerun << 48 | run << 32 | camcol << 29 | field << 16 | obj; the
    defaults (skyVersion 2, rerun 301) give ids near 1.2376e18 like DR7-DR17's.
    """
    def u64(v) -> np.ndarray:
        return np.asarray(v).astype(np.uint64)

    packed = ((np.uint64(sky_version) << np.uint64(59)) | (np.uint64(rerun) << np.uint64(48))
              | (u64(run) << np.uint64(32)) | (u64(camcol) << np.uint64(29)) | (u64(field) << np.uint64(16))
              | u64(obj))
    return packed.view(np.int64)


@dataclass(frozen=True)
class SDSSCorrections:
    """Which of the three corrections to apply (all on for an SDSS export, all off for the NSA)."""

    extinction: bool = True
    ab_offsets: bool = True
    error_floors: bool = True

    def provenance(self) -> dict[str, Any]:
        """The switches with the values each applied step used."""
        out: dict[str, Any] = asdict(self)
        if self.ab_offsets:
            out["ab_offsets_mag"] = list(SDSS_TO_AB)
        if self.error_floors:
            out["error_floors_mag"] = list(KCORRECT_FLOORS)
        if self.extinction:
            out["extinction_source"] = "per-row EXTINCTION column [mag]"
        return out


def correct_sdss_photometry(flux, ivar, extinction=None, corrections: SDSSCorrections = SDSSCorrections()
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(flux, ivar) in AB nanomaggies and nmgy⁻² after the chosen corrections.

    Args:
        flux: (N, 5) SDSS fluxes [nmgy].
        ivar: (N, 5) their inverse variances [nmgy⁻²]; ≤ 0 or non-finite stays as it is (no
            measurement), so the ingest's reason bits still see it.
        extinction: (N, 5) Galactic extinction A [mag]; required when ``corrections.extinction``.
        corrections: the switches.
    """
    f = np.array(flux, dtype=np.float64)
    w = np.array(ivar, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != N_BANDS or w.shape != f.shape:
        raise ValueError(f"flux and ivar must both have shape (N, {N_BANDS}); got {f.shape} and {w.shape}")
    log_scale = np.zeros_like(f)  # 0.4 × (mag correction), per element
    if corrections.extinction:
        if extinction is None:
            raise ValueError("the extinction correction needs an EXTINCTION column (or switch it off)")
        a = np.asarray(extinction, dtype=np.float64)
        if a.shape != f.shape:
            raise ValueError(f"extinction must have shape {f.shape}; got {a.shape}")
        log_scale += 0.4 * a
    if corrections.ab_offsets:
        log_scale -= 0.4 * np.asarray(SDSS_TO_AB)
    scale = 10.0 ** log_scale
    f = f * scale
    valid = np.isfinite(w) & (w > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.where(valid, w / scale**2, w)
        if corrections.error_floors:
            floor_sigma_f = np.asarray(KCORRECT_FLOORS) / MAG_PER_LN * np.abs(f)
            var = np.where(valid, 1.0 / np.where(valid, w, 1.0), np.nan) + floor_sigma_f**2
            w = np.where(valid & np.isfinite(var) & (var > 0), 1.0 / var, w)
    return f, w
