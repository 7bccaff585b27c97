"""The NSA columns that dress a mock row but carry no physics: GALEX, extinction, raw and
elliptical-Petrosian fluxes, DFLAGS, positions and names, spectroscopic ids, and the SDSS
photo-flag words of the companion tables (``docs/mock-nsa.md``). Pure numpy.
"""

from __future__ import annotations

import numpy as np

from ..photometry import BANDS, N_BANDS, mag_to_flux, sigma_flux_from_mag
from ..survey import sdss_flags as sf
from ..survey.nsa import EXTINCTION_PER_EBV, N_NSA_BANDS, UGRIZ, column_name, iau_names, schema_version
from .labels import CLEARED_DEFECT_CODE, DEFECT_BITS, FLAG_DEFECTS, MockLabels
from .schema import PROFMEAN_SHAPE, catalog_dtype

EBV_MEDIAN, EBV_SIGMA_LN, EBV_RANGE = 0.03, 0.6, (0.005, 0.3)
GALEX_FLOOR = 0.04
GALEX_COVERAGE = 0.70
#: GALEX magnitude where the statistical σ_m is 0.217 mag (S/N 5) — an AIS-like depth.
GALEX_DEPTH = 22.5
ELPETRO_DELTA = (0.1, 0.05)
DFLAGS_RATE = 0.02
ZDIST_SIGMA = 0.0005
ZSRC_SDSS_FRACTION = 0.9
SPECTRUM_FRACTION = 0.85
RA_RANGE = (110.0, 260.0)
DEC_RANGE = (-5.0, 70.0)
IN_DR7_LSS_FRACTION = 0.6

#: Benign flag bits and the fraction of rows that carry each. STATIONARY guarantees bits >= 32
#: in many rows whatever p_fail is; MOVED (bit 31) makes FLAGS1 negative.
BENIGN_RATES: dict[str, float] = {"CHILD": 0.30, "BLENDED": 0.10, "INTERP": 0.10, "EDGE": 0.02,
                                  "STATIONARY": 0.50, "MOVED": 0.01}
#: COSMIC_RAY alone and INTERP_CENTER alone, never both (together they are a defect).
CR_ALONE_RATE = 0.05
IC_ALONE_RATE = 0.05


def catalog_rows(nsa_version: str, flags_inside: bool, nsaid: np.ndarray, flux32: np.ndarray, ivar32: np.ndarray,
                 z_cat: np.ndarray, m_true: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The catalog table of a block (flag columns left zero) and the values the flags reuse.

    Args:
        nsa_version: the release whose names and columns are written.
        flags_inside: whether the table has the flag columns (filled by the caller).
        nsaid: (B,) NSAIDs.
        flux32, ivar32: (B, 5) ugriz fluxes [nmgy] and inverse variances [nmgy⁻²] as written.
        z_cat: (B,) catalog redshifts.
        m_true: (B, 5) noiseless magnitudes [AB] (GALEX is drawn relative to r).
        rng: the block's observation stream.

    Returns:
        (rows, aux): big-endian structured rows, and ``run``, ``camcol``, ``field`` (B,) int64
        and ``dflags_bad`` (B,) bool (a DFLAGS bit 0-2 in a ugriz band).
    """
    b = len(flux32)
    cat = np.zeros(b, dtype=catalog_dtype(nsa_version, flags_inside))
    is_v1 = schema_version(nsa_version) == "v1"

    def name(v1: str) -> str:
        return column_name(v1, nsa_version)

    nmgy = np.zeros((b, N_NSA_BANDS), np.float32)
    nmgy_ivar = np.zeros((b, N_NSA_BANDS), np.float32)
    nmgy[:, UGRIZ], nmgy_ivar[:, UGRIZ] = flux32, ivar32
    # GALEX: NUV = r + N(4, 1), FUV = NUV + N(0.5, 0.4); 30 % without coverage (0, 0).
    r_mag = np.where(np.isfinite(m_true[:, 2]), m_true[:, 2], 17.0)
    nuv = r_mag + rng.normal(4.0, 1.0, b)
    gmag = np.stack([nuv + rng.normal(0.5, 0.4, b), nuv], axis=1)
    gsig = np.hypot(0.217 * 10 ** (0.4 * (gmag - GALEX_DEPTH)), GALEX_FLOOR)
    gflux = mag_to_flux(gmag)
    gsig_f = sigma_flux_from_mag(gflux, gsig)   # GALEX fluxes may go negative: use the noiseless σ_f
    covered = rng.random(b) < GALEX_COVERAGE
    nmgy[:, :2] = np.where(covered[:, None], gflux + gsig_f * rng.standard_normal((b, 2)), 0.0)
    nmgy_ivar[:, :2] = np.where(covered[:, None], 1.0 / gsig_f**2, 0.0)

    ebv = np.clip(EBV_MEDIAN * np.exp(EBV_SIGMA_LN * rng.standard_normal(b)), *EBV_RANGE)
    ext = (ebv[:, None] * np.asarray(EXTINCTION_PER_EBV)[None, :]).astype(np.float32)
    with np.errstate(invalid="ignore"):
        cat[name("SERSIC_NMGY")] = nmgy
        cat[name("SERSIC_NMGY_IVAR")] = nmgy_ivar
        cat["EXTINCTION"] = ext
        # Raw fluxes: NSA's NMGY undone by the extinction only (the AB offsets and floors are not
        # undone, so raw and corrected agree only approximately, as in the real file).
        cat[name("SERSIC_FLUX")] = nmgy * 10 ** (-0.4 * ext.astype(np.float64))
        cat[name("SERSIC_FLUX_IVAR")] = nmgy_ivar * 10 ** (0.8 * ext.astype(np.float64))
        if is_v1:
            delta = rng.normal(*ELPETRO_DELTA, size=(b, 1))
            cat["ELPETRO_NMGY"] = nmgy * 10 ** (-0.4 * delta)       # same σ_m, same pathologies
            cat["ELPETRO_NMGY_IVAR"] = nmgy_ivar * 10 ** (0.8 * delta)
    profile = np.exp(-(np.arange(PROFMEAN_SHAPE[1]) + 0.5) / 4.0).astype(np.float32)
    cat["PROFMEAN"] = np.clip(np.nan_to_num(nmgy), 0, None)[:, :, None] * profile[None, None, :] / 10.0

    dflags = np.zeros((b, N_NSA_BANDS), np.int32)
    hit = np.flatnonzero(rng.random(b) < DFLAGS_RATE)
    dbit = rng.integers(0, 7, hit.size)
    dband = rng.integers(0, N_NSA_BANDS, hit.size)
    dflags[hit, dband] = 1 << dbit
    cat["DFLAGS"] = dflags
    dflags_bad = np.zeros(b, bool)
    dflags_bad[hit] = (dbit <= 2) & (dband >= UGRIZ.start)

    ra = rng.uniform(*RA_RANGE, b)
    sin_lo, sin_hi = np.sin(np.radians(DEC_RANGE))
    dec = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, b)))
    cat["NSAID"] = nsaid
    cat["RA"], cat["DEC"] = ra, dec
    cat["IAUNAME"] = iau_names(ra, dec)
    spec = rng.random(b) < SPECTRUM_FRACTION
    cat["PLATE"] = np.where(spec, rng.integers(266, 2975, b), 0)
    cat["MJD"] = np.where(spec, rng.integers(51578, 54664, b), 0)
    cat["FIBERID"] = np.where(spec, rng.integers(1, 641, b), 0)
    cat["ISDSS"] = np.where(spec, rng.integers(0, 900_000, b), -1)
    run, camcol, fieldno = rng.integers(94, 8163, b), rng.integers(1, 7, b), rng.integers(11, 801, b)
    cat["RUN"], cat["CAMCOL"], cat["FIELD"] = run, camcol, fieldno
    cat["RERUN"] = b"301"
    cat["Z"] = z_cat
    with np.errstate(invalid="ignore"):
        cat["ZDIST"] = (z_cat + rng.normal(0.0, ZDIST_SIGMA, b)).astype(np.float32)
    cat["ZSRC"] = np.where(rng.random(b) < ZSRC_SDSS_FRACTION, b"sdss", b"ned")
    cat[name("SERSIC_OK")] = 1
    in_lss = rng.random(b) < IN_DR7_LSS_FRACTION
    if is_v1:
        cat["IN_DR7_LSS"] = in_lss
    return cat, {"run": run, "camcol": camcol, "field": fieldno, "dflags_bad": dflags_bad}


def flag_words(labels: MockLabels, sigma: np.ndarray, golden: np.ndarray, rng: np.random.Generator
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """SDSS photo-flag words and PSF magnitude errors of a block.

    Args:
        labels: the block's labels (defects, DEBLEND_NOPEAK).
        sigma: (B, 5) drawn σ_m [mag] (the PSF errors scale with it).
        golden: (B,) bool; golden rows carry BINNED1 only.
        rng: the block's observation stream.

    Returns:
        ({"object": (B,) uint64, "bands": (B, 5) uint64, "edge": (B,) bool}, psf_err (B, 5) float32 [mag]).
    """
    b = len(sigma)
    obj_word = np.full(b, sf.BINNED1, np.uint64)
    edge = rng.random(b) < BENIGN_RATES["EDGE"]
    for bit, on in (
        (sf.CHILD, rng.random(b) < BENIGN_RATES["CHILD"]),
        (sf.BLENDED, rng.random(b) < BENIGN_RATES["BLENDED"]),
        (sf.INTERP, rng.random(b) < BENIGN_RATES["INTERP"]),
        (sf.EDGE, edge),
        (sf.STATIONARY, rng.random(b) < BENIGN_RATES["STATIONARY"]),
        (sf.MOVED, rng.random(b) < BENIGN_RATES["MOVED"]),
    ):
        obj_word[on & ~golden] |= np.uint64(bit)
    edge &= ~golden
    u = rng.random(b)
    obj_word[(u < CR_ALONE_RATE) & ~golden] |= np.uint64(sf.COSMIC_RAY)
    obj_word[(u >= CR_ALONE_RATE) & (u < CR_ALONE_RATE + IC_ALONE_RATE) & ~golden] |= np.uint64(sf.INTERP_CENTER)
    deblend = labels.deblend
    obj_word[deblend > 0] |= np.uint64(sf.DEBLEND_NOPEAK)
    band_words = np.repeat(obj_word[:, None], N_BANDS, axis=1)
    defect, dband = labels.defect, labels.defect_band
    for code in range(1, len(FLAG_DEFECTS)):
        bits = np.uint64(DEFECT_BITS[code])
        everywhere = (defect == code) & (dband < 0)
        one_band = np.flatnonzero((defect == code) & (dband >= 0))
        if code == CLEARED_DEFECT_CODE:
            obj_word[everywhere] &= ~bits
            band_words[everywhere] &= ~bits
            band_words[one_band, dband[one_band]] &= ~bits
        else:
            obj_word[everywhere] |= bits
            band_words[everywhere] |= bits
            band_words[one_band, dband[one_band]] |= bits
    # PSF magnitude errors: ~ the band's σ_m; DEBLEND_NOPEAK rows get all five bands on one side
    # of 0.2, so the sdss_clean_* result does not depend on which band a reader checks.
    psf_err = np.clip(np.nan_to_num(sigma, nan=0.1) * rng.uniform(0.8, 2.0, (b, N_BANDS)), 0.005, 2.0)
    psf_err = np.where((deblend == 1)[:, None], rng.uniform(0.02, 0.19, (b, N_BANDS)), psf_err)
    psf_err = np.where((deblend == 2)[:, None], rng.uniform(0.21, 0.8, (b, N_BANDS)), psf_err).astype(np.float32)
    return {"object": obj_word, "bands": band_words, "edge": edge}, psf_err


def companion_tables(flags: np.ndarray, split: np.ndarray, nsaid: np.ndarray, objid: np.ndarray,
                     words: dict[str, np.ndarray], psf_err: np.ndarray, order: np.ndarray) -> None:
    """Fill the two companion tables (64-bit words, int32 halves) with rows ``order`` of a block.

    Args:
        flags, split: zeroed rows of ``flags_dtype(split=False)`` and ``flags_dtype(split=True)``.
        nsaid, objid: (B,) ids of the block's rows.
        words, psf_err: what :func:`flag_words` returned.
        order: the block rows the companions hold, in companion order.
    """
    for tab in (flags, split):
        tab["NSAID"] = nsaid[order]
        tab["OBJID"] = objid[order]
        for j, band in enumerate(BANDS):
            tab[f"PSFMAGERR_{band.upper()}"] = psf_err[order, j]
    flags["FLAGS"] = words["object"][order].view(np.int64)
    split["FLAGS1"], split["FLAGS2"] = sf.split_word(words["object"][order])
    for j, band in enumerate(BANDS):
        flags[f"FLAGS_{band.upper()}"] = words["bands"][order, j].view(np.int64)
        split[f"FLAGS1_{band.upper()}"], split[f"FLAGS2_{band.upper()}"] = sf.split_word(words["bands"][order, j])
