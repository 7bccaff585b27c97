"""Per-galaxy ingest reason bits (``docs/data-contracts.md`` §4, ``docs/nsa-ingest.md`` §3).

A galaxy is usable when its ``ingest_reason`` is 0. Bits are OR-ed, never used to drop rows.
"""

from __future__ import annotations

import enum


class IngestReason(enum.IntFlag):
    NONFINITE_FLUX = 1 << 0
    NONPOSITIVE_FLUX = 1 << 1
    BAD_IVAR = 1 << 2
    BAD_SIGMA = 1 << 3
    Z_INVALID = 1 << 4
    Z_OUT_OF_RANGE = 1 << 5
    FLAGS_MISSING = 1 << 6
    FLAGS_UNCLEAN = 1 << 7
    DFLAGS_BAD = 1 << 8
    TOO_FEW_BANDS = 1 << 9


#: Fewest measured bands (flux finite, ivar finite and > 0) a usable galaxy has: the training
#: proposal's ``min_bands``, the fewest the flow has seen.
MIN_BANDS = 3
#: Bits saying the data cannot be used at all (output status ``bad_input``).
DATA_VALIDITY_BITS = IngestReason.TOO_FEW_BANDS | IngestReason.Z_INVALID | IngestReason.Z_OUT_OF_RANGE
#: Per-band bits: informational, saying why bands were unusable. An unusable band of a galaxy
#: with enough others is recorded by ``bands_used`` alone; these bits are set only beside
#: TOO_FEW_BANDS. NONPOSITIVE_FLUX and BAD_SIGMA are no longer set (a zero or negative flux with
#: a valid ivar is a measurement, and σ_f = ivar^-1/2 is finite for every finite ivar > 0);
#: their values stay reserved so that older catalogs keep their meaning.
BAND_BITS = IngestReason.NONFINITE_FLUX | IngestReason.NONPOSITIVE_FLUX | IngestReason.BAD_IVAR | IngestReason.BAD_SIGMA
#: Bits of the quality cuts (output status ``cut``).
CUT_BITS = IngestReason.FLAGS_MISSING | IngestReason.FLAGS_UNCLEAN | IngestReason.DFLAGS_BAD


def reason_names(value: int) -> list[str]:
    """Names of the bits set in ``value`` (in bit order)."""
    return [r.name for r in IngestReason if int(value) & int(r) and r.name is not None]
