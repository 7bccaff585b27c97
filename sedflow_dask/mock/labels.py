"""What each mock row is meant to be, fixed before any galaxy is drawn: pathologies, flag defects.

Injected pathologies (``docs/mock-nsa.md``) are assigned with exact counts round(rate · n), on
disjoint rows; flag defects likewise. The truth's expected reason bits follow from these labels
by construction, never from the ingest's rules. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ingest.reasons import IngestReason
from ..photometry import N_BANDS
from ..survey.sdss_flags import CLEARED_DEFECT, DEFAULT_PRESET_DEFECTS

#: Row labels, in code order (the truth's ``pathology`` column holds these names).
PATHOLOGIES: tuple[str, ...] = (
    "none", "noise_outlier", "colour_outlier", "nonpositive_flux", "zero_ivar", "negative_ivar",
    "nan_flux", "nan_z", "negative_z", "z_above_range", "golden_1", "golden_2",
)
PATHOLOGY_RATES: dict[str, float] = {
    "noise_outlier": 0.015, "colour_outlier": 0.003, "nonpositive_flux": 0.003, "zero_ivar": 0.003,
    "negative_ivar": 0.001, "nan_flux": 0.001, "nan_z": 0.001, "negative_z": 0.002, "z_above_range": 0.001,
}
#: Pathology name -> its int8 code in :attr:`MockLabels.pathology`.
PATHOLOGY_CODE: dict[str, np.int8] = {name: np.int8(i) for i, name in enumerate(PATHOLOGIES)}
#: Data-validity reason bit each pathology sets (the others set none). The band pathologies touch
#: one band of five, so the galaxy keeps four measured bands and stays usable: a zero or negative
#: flux is a measurement, a bad ivar or NaN flux only clears the band's bit of ``bands_used``.
PATHOLOGY_REASON: dict[str, IngestReason] = {
    "nan_z": IngestReason.Z_INVALID,
    "negative_z": IngestReason.Z_OUT_OF_RANGE,
    "z_above_range": IngestReason.Z_OUT_OF_RANGE,
}
#: Pathologies that touch one ugriz band (the truth's ``pathology_band``).
BAND_PATHOLOGIES = frozenset({"noise_outlier", "nonpositive_flux", "zero_ivar", "negative_ivar", "nan_flux"})

#: The defects a failing row gets exactly one of, in code order (code 0 = none).
FLAG_DEFECTS: tuple[str, ...] = ("none", *DEFAULT_PRESET_DEFECTS)
#: Bits of each defect code (code 0: none).
DEFECT_BITS: tuple[int, ...] = (0, *DEFAULT_PRESET_DEFECTS.values())
#: The code of the defect that clears its bits instead of setting them.
CLEARED_DEFECT_CODE = FLAG_DEFECTS.index(CLEARED_DEFECT)
#: Fraction of defective rows whose defect sits in one band's word only (object word clean).
SINGLE_BAND_DEFECT_FRACTION = 0.10
DEBLEND_NOPEAK_RATE = 0.03
OMITTED_RATE = 0.01
FLAG_PRESETS: tuple[str, ...] = ("sedflow2022", "sdss_clean_extended", "sdss_clean_point")
FLAG_MODES: tuple[str, ...] = ("object", "per_band")

#: Random streams of a run: labels (one for the run), then per block the galaxy candidates and
#: their observation.
STREAM_LABELS, STREAM_CANDIDATES, STREAM_OBSERVE = 0, 1, 2


def stream_rng(seed: int, stream: int, block: int = 0) -> np.random.Generator:
    """Independent generator per (run seed, stream, block): blocks can be made in any order."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, block]))


def pathology_counts(n: int) -> dict[str, int]:
    """Exact number of rows of each injected pathology for n catalog rows (golden rows aside)."""
    return {name: int(round(rate * n)) for name, rate in PATHOLOGY_RATES.items()}


@dataclass(frozen=True)
class MockLabels:
    """Per-row labels fixed before any galaxy is drawn (length n + 2; the golden rows last).

    Attributes:
        nsaid: int32 NSAIDs: a permutation of 0..n-1, then n and n + 1.
        pathology: int8 index into :data:`PATHOLOGIES`.
        pathology_band: int8 ugriz band (0..4) a band pathology touches, else -1.
        defect: int8 index into :data:`FLAG_DEFECTS`.
        defect_band: int8 band (0..4) holding a single-band defect, -1 when in every word.
        deblend: int8 0 none, 1 DEBLEND_NOPEAK with PSF errors <= 0.2, 2 with errors > 0.2.
        omitted: bool, row left out of the flag companion.
    """

    nsaid: np.ndarray
    pathology: np.ndarray
    pathology_band: np.ndarray
    defect: np.ndarray
    defect_band: np.ndarray
    deblend: np.ndarray
    omitted: np.ndarray

    def block(self, sl: slice) -> MockLabels:
        """The labels of rows ``sl`` (views)."""
        return MockLabels(nsaid=self.nsaid[sl], pathology=self.pathology[sl], pathology_band=self.pathology_band[sl],
                          defect=self.defect[sl], defect_band=self.defect_band[sl], deblend=self.deblend[sl],
                          omitted=self.omitted[sl])

    def rows_with(self, *names: str) -> np.ndarray:
        """Boolean mask of the rows whose pathology is one of ``names``."""
        return np.isin(self.pathology, [PATHOLOGY_CODE[name] for name in names])


def assign_labels(n: int, seed: int, p_fail: float) -> MockLabels:
    """Exact-count, disjoint pathology rows and flag defects for a mock of ``n`` rows."""
    rng = stream_rng(seed, STREAM_LABELS)
    n_rows = n + 2
    nsaid = np.concatenate([rng.permutation(n), [n, n + 1]]).astype(np.int32)

    pathology = np.zeros(n_rows, np.int8)
    order = rng.permutation(n)
    start = 0
    for name, k in pathology_counts(n).items():
        pathology[order[start:start + k]] = PATHOLOGY_CODE[name]
        start += k
    pathology[n], pathology[n + 1] = PATHOLOGY_CODE["golden_1"], PATHOLOGY_CODE["golden_2"]
    band_rows = np.isin(pathology, [PATHOLOGY_CODE[p] for p in BAND_PATHOLOGIES])
    pathology_band = np.where(band_rows, rng.integers(0, N_BANDS, n_rows), -1).astype(np.int8)

    defect = np.zeros(n_rows, np.int8)
    n_fail = int(round(p_fail * n))
    failing = rng.permutation(n)[:n_fail]
    defect[failing] = 1 + np.arange(n_fail) % (len(FLAG_DEFECTS) - 1)
    defect_band = np.full(n_rows, -1, np.int8)
    moved = failing[: int(round(SINGLE_BAND_DEFECT_FRACTION * n_fail))]
    defect_band[moved] = rng.integers(0, N_BANDS, moved.size)

    deblend = np.zeros(n_rows, np.int8)
    k = int(round(DEBLEND_NOPEAK_RATE * n))
    rows = rng.permutation(n)[:k]
    deblend[rows] = np.where(np.arange(k) % 2 == 0, 1, 2)

    omitted = np.zeros(n_rows, bool)
    omitted[rng.permutation(n)[: int(round(OMITTED_RATE * n))]] = True
    return MockLabels(nsaid=nsaid, pathology=pathology, pathology_band=pathology_band, defect=defect,
                      defect_band=defect_band, deblend=deblend, omitted=omitted)


def inject_bad_values(labels: MockLabels, flux32: np.ndarray, ivar32: np.ndarray, z_cat: np.ndarray,
                      rng: np.random.Generator) -> None:
    """Write each row's pathological value in place, in its labelled band (one pathology per row).

    Args:
        labels: the block's labels.
        flux32, ivar32: (B, 5) float32 ugriz fluxes [nmgy] and inverse variances [nmgy⁻²].
        z_cat: (B,) float32 catalog redshifts.
        rng: the block's observation stream.
    """
    band = labels.pathology_band

    def rows_of(name: str) -> np.ndarray:
        return np.flatnonzero(labels.pathology == PATHOLOGY_CODE[name])

    r = rows_of("nonpositive_flux")
    zero = rng.random(r.size) < 1 / 3          # a third exactly 0, the rest negative measurements
    flux32[r, band[r]] = np.where(zero, 0.0, -rng.uniform(0.05, 1.0, r.size) * flux32[r, band[r]])
    r = rows_of("zero_ivar")
    ivar32[r, band[r]] = 0.0
    r = rows_of("negative_ivar")
    ivar32[r, band[r]] = -ivar32[r, band[r]]
    r = rows_of("nan_flux")
    flux32[r, band[r]] = np.nan
    z_cat[rows_of("nan_z")] = np.nan
    r = rows_of("negative_z")
    z_cat[r] = -rng.uniform(1e-5, 0.002, r.size)   # never exactly 0: z = 0 is ambiguous between notes
    r = rows_of("z_above_range")
    z_cat[r] = rng.uniform(0.2005, 0.2995, r.size)
