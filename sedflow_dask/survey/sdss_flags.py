"""SDSS photoObj flag bits and words (``docs/nsa-ingest.md`` §2.2).

Values are in the CAS 64-bit form. Flat files split a word into two 32-bit halves, FLAGS1 (or
FLAGS, bits 0–31) and FLAGS2 (bits 32–63), each stored as an int32; MOVED (bit 31) makes the
low half negative, so each half is masked to 32 bits before the two are combined.
"""

from __future__ import annotations

import numpy as np

EDGE = 0x4
BLENDED = 0x8
CHILD = 0x10
PEAKCENTER = 0x20
NOPROFILE = 0x80
COSMIC_RAY = 0x1000
INTERP = 0x20000
SATURATED = 0x40000
NOTCHECKED = 0x80000
BINNED1 = 0x10000000
MOVED = 0x80000000
#: flags2 bit 4: benign and common, so many real words have bits >= 32 set.
STATIONARY = 0x1000000000
BAD_COUNTS_ERROR = 0x10000000000
SATUR_CENTER = 0x80000000000
INTERP_CENTER = 0x100000000000
DEBLEND_NOPEAK = 0x400000000000
PSF_FLUX_INTERP = 0x800000000000

#: PEAKCENTER | NOPROFILE | SATURATED | NOTCHECKED | BAD_COUNTS_ERROR | PSF_FLUX_INTERP
#: (0x8100000C00A0): SkyServer's "clean photometry for extended objects" mask, which the paper's
#: cuts equal.
REJECT_EXTENDED = PEAKCENTER | NOPROFILE | SATURATED | NOTCHECKED | BAD_COUNTS_ERROR | PSF_FLUX_INTERP
REJECT_POINT = REJECT_EXTENDED | EDGE
#: Largest PSF magnitude error for which DEBLEND_NOPEAK is tolerated (sdss_clean_* presets).
DEBLEND_NOPEAK_MAX_PSFMAGERR = 0.2

#: Each way a word fails the paper's cut (preset sedflow2022) on its own, by name -> bits. Every
#: entry but one sets its bits; ``BINNED1_CLEARED`` is the required BINNED1 bit *missing*.
#: COSMIC_RAY or INTERP_CENTER alone is benign; only the pair is a defect.
DEFAULT_PRESET_DEFECTS: dict[str, int] = {
    "PEAKCENTER": PEAKCENTER,
    "NOTCHECKED": NOTCHECKED,
    "PSF_FLUX_INTERP": PSF_FLUX_INTERP,
    "BAD_COUNTS_ERROR": BAD_COUNTS_ERROR,
    "SATURATED": SATURATED,
    "NOPROFILE": NOPROFILE,
    "INTERP_CENTER+COSMIC_RAY": INTERP_CENTER | COSMIC_RAY,
    "BINNED1_CLEARED": BINNED1,
}
#: The defect of :data:`DEFAULT_PRESET_DEFECTS` that clears a bit instead of setting it.
CLEARED_DEFECT = "BINNED1_CLEARED"

_LOW32 = np.uint64(0xFFFFFFFF)


def combine_split_words(low, high, *, what: str = "FLAGS1/FLAGS2") -> np.ndarray:
    """The 64-bit words (int64, any shape) from flat-file halves.

    ``(high & 0xFFFFFFFF) << 32 | (low & 0xFFFFFFFF)``: each half is masked to 32 bits *before*
    combining, since an int32 with bit 31 set is negative and would otherwise sign-extend over
    the high word. ValueError naming ``what`` for non-integer halves.
    """
    lo, hi = np.asarray(low), np.asarray(high)
    for a in (lo, hi):
        if a.dtype.kind not in "iu":
            raise ValueError(f"{what}: flag words must be integers, got {a.dtype}")
    lo64 = lo.astype(np.int64).view(np.uint64) & _LOW32
    hi64 = hi.astype(np.int64).view(np.uint64) & _LOW32
    return ((hi64 << np.uint64(32)) | lo64).view(np.int64)


def split_word(word) -> tuple[np.ndarray, np.ndarray]:
    """(FLAGS1, FLAGS2): int32 bit patterns of bits 0–31 and 32–63 of 64-bit words (int64 or
    uint64, any shape); the inverse of :func:`combine_split_words`."""
    w = np.asarray(word)
    w = w.view(np.uint64) if w.dtype.kind == "i" and w.dtype.itemsize == 8 else w.astype(np.uint64)
    return (w & _LOW32).astype(np.uint32).view(np.int32), (w >> np.uint64(32)).astype(np.uint32).view(np.int32)
