"""The mock's truth table: what each row is, and what the ingest should find in it.

Expected reason bits and clean results follow from the labels by construction (never from the
ingest's rules); ``docs/mock-nsa.md`` lists the columns and the conventions they encode.
"""

from __future__ import annotations

import numpy as np

from ..ingest.reasons import IngestReason
from ..photometry import BANDS, flux_to_mag, sigma_mag_from_ivar
from ..sps.parameters import N_BOX, PHYSICAL_NAMES, box_to_physical
from .galaxies import Galaxies
from .labels import FLAG_DEFECTS, FLAG_MODES, FLAG_PRESETS, PATHOLOGIES, PATHOLOGY_CODE, PATHOLOGY_REASON, MockLabels


def truth_columns(labels: MockLabels, rows: np.ndarray, gal: Galaxies, z_true: np.ndarray, z_cat: np.ndarray,
                  flux32: np.ndarray, ivar32: np.ndarray, *, theta_ok: np.ndarray, edge: np.ndarray,
                  dflags_bad: np.ndarray) -> dict[str, np.ndarray]:
    """The truth columns of a block, one entry per catalog row.

    Args:
        labels: the block's labels.
        rows: (B,) row numbers in the catalog file.
        gal: the block's galaxies.
        z_true, z_cat: (B,) redshift the forward model used and the ``Z`` written.
        flux32, ivar32: (B, 5) ugriz fluxes [nmgy] and inverse variances [nmgy⁻²] as written.
        theta_ok: (B,) whether θ reproduces the fluxes (not for colour outliers and golden rows).
        edge: (B,) EDGE set in the object word.
        dflags_bad: (B,) a DFLAGS bit 0-2 in a ugriz band.
    """
    pathology = labels.pathology
    truth: dict[str, np.ndarray] = {"nsaid": labels.nsaid.astype(np.int64), "row": rows.astype(np.int64)}
    for j in range(N_BOX):
        truth[f"theta_{j}"] = gal.theta_box[:, j]
    phys = np.full((rows.size, len(PHYSICAL_NAMES)), np.nan)
    finite = np.all(np.isfinite(gal.theta_box), axis=1)
    phys[finite] = box_to_physical(gal.theta_box[finite])
    for j, pname in enumerate(PHYSICAL_NAMES):
        truth[pname] = phys[:, j]
    truth["z"] = z_true
    truth["z_catalog"] = z_cat.astype(np.float64)
    truth["r_target"] = np.where(finite, gal.r_target, np.nan)
    f64, w64 = flux32.astype(np.float64), ivar32.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mag, sig = flux_to_mag(f64), sigma_mag_from_ivar(f64, w64)
    for j, band in enumerate(BANDS):
        truth[f"flux_true_{band}"] = gal.flux_true[:, j]
    for j, band in enumerate(BANDS):
        truth[f"mag_{band}"] = mag[:, j]
    for j, band in enumerate(BANDS):
        truth[f"sigma_{band}"] = sig[:, j]

    data_bits = np.zeros(rows.size, np.int32)
    for pname, bit in PATHOLOGY_REASON.items():
        data_bits[pathology == PATHOLOGY_CODE[pname]] |= np.int32(int(bit))
    defect, dband, deblend = labels.defect, labels.defect_band, labels.deblend
    clean = {}
    clean_sedflow = {"object": ~((defect > 0) & (dband < 0)), "per_band": defect == 0}
    for mode in FLAG_MODES:
        clean[("sedflow2022", mode)] = clean_sedflow[mode]
        clean[("sdss_clean_extended", mode)] = clean_sedflow[mode] & (deblend != 2)
        clean[("sdss_clean_point", mode)] = clean[("sdss_clean_extended", mode)] & ~edge
    in_companion = ~labels.omitted
    reason = data_bits | np.where(~in_companion, np.int32(int(IngestReason.FLAGS_MISSING)),
                                  np.where(clean[("sedflow2022", "object")], 0,
                                           np.int32(int(IngestReason.FLAGS_UNCLEAN)))).astype(np.int32)
    truth["ingest_reason"] = reason
    truth["ingest_reason_data"] = data_bits
    truth["in_flags_companion"] = in_companion
    for (preset, mode), value in clean.items():
        truth[f"clean_{preset}_{mode}"] = value
    truth["dflags_bad"] = dflags_bad
    truth["injected_oos_noise"] = labels.rows_with("noise_outlier", "golden_1", "golden_2")
    truth["injected_oos_color"] = pathology == PATHOLOGY_CODE["colour_outlier"]
    truth["theta_reproduces_flux"] = theta_ok
    truth["pathology"] = np.asarray(PATHOLOGIES, dtype=object)[pathology]
    truth["pathology_band"] = labels.pathology_band
    truth["flag_defect"] = np.asarray(FLAG_DEFECTS, dtype=object)[defect]
    truth["flag_defect_band"] = dband
    truth["deblend_nopeak"] = deblend > 0
    truth["edge"] = edge
    return truth


def expected_ingest_reason(truth, *, preset: str = "sedflow2022", flag_mode: str = "object",
                           flags: str = "companion", missing_flags: str = "exclude",
                           dflags_cut: bool = False) -> np.ndarray:
    """Expected ``ingest_reason`` (int32) of truth rows under other ingest options.

    ``truth`` is the truth table (a mapping of columns or a DataFrame). ``flags``: "companion"
    (a flag table beside the catalog: rows not in it get FLAGS_MISSING, or nothing with
    ``missing_flags="keep"``), "inside" (the columns written with ``flags_inside=True``: every
    row has words) or "none" (no flags: the flag cuts are off). ``flag_mode="per_band"`` assumes
    the default flag_bands = ugriz. A band pathology sets no bit: four bands stay measured (``docs/mock-nsa.md``).
    """
    if preset not in FLAG_PRESETS or flag_mode not in FLAG_MODES:
        raise ValueError(f"preset must be one of {FLAG_PRESETS} and flag_mode one of {FLAG_MODES}")
    if flags not in ("companion", "inside", "none") or missing_flags not in ("exclude", "keep"):
        raise ValueError("flags must be 'companion', 'inside' or 'none'; missing_flags 'exclude' or 'keep'")
    reason = np.asarray(truth["ingest_reason_data"], dtype=np.int32).copy()
    if dflags_cut:
        reason |= np.where(np.asarray(truth["dflags_bad"], bool), np.int32(int(IngestReason.DFLAGS_BAD)), 0).astype(np.int32)
    if flags == "none":
        return reason
    clean = np.asarray(truth[f"clean_{preset}_{flag_mode}"], bool)
    unclean = np.where(clean, 0, np.int32(int(IngestReason.FLAGS_UNCLEAN))).astype(np.int32)
    if flags == "inside":
        return reason | unclean
    present = np.asarray(truth["in_flags_companion"], bool)
    missing = np.int32(int(IngestReason.FLAGS_MISSING)) if missing_flags == "exclude" else np.int32(0)
    return reason | np.where(present, unclean, missing).astype(np.int32)
