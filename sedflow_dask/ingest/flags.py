"""The SDSS photometric-flag quality cut of SEDflow (``docs/nsa-ingest.md`` §2.3-2.5).

A flag *word* is the CAS 64-bit photoObj flag value (object-level ``flags`` or per band
``flags_u..z``). Tables deliver it as one 64-bit integer column, or split in the flat-file form
into two 32-bit words (:func:`~sedflow_dask.survey.sdss_flags.combine_split_words` joins them).

:func:`resolve_flag_layout` finds the word(s) in a table's columns; :func:`evaluate_clean`
applies a preset's predicate to the arrays read from them. Pure numpy; no file access.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..photometry import BANDS
from ..survey import sdss_flags as bits
from ..survey.sdss_flags import combine_split_words
from .schema import ColumnInfo, name_map

FlagMode = Literal["object", "per_band"]


@dataclass(frozen=True)
class FlagPreset:
    """One quality-cut recipe.

    CLEAN ⇔ (F & require) = require ∧ (F & reject) = 0 ∧ ¬(INTERP_CENTER ∧ COSMIC_RAY)
    [∧ (DEBLEND_NOPEAK unset ∨ psfMagErr ≤ 0.2) when ``deblend_nopeak_check``].
    """

    name: str
    reject: int
    require: int = bits.BINNED1
    deblend_nopeak_check: bool = False


PRESETS: dict[str, FlagPreset] = {
    # the paper's cuts (SEDflow obs.tex), = SkyServer's extended-object mask; default
    "sedflow2022": FlagPreset("sedflow2022", bits.REJECT_EXTENDED),
    # the SkyServer recipe the paper mirrors: adds the DEBLEND_NOPEAK / PSF-error clause
    "sdss_clean_extended": FlagPreset("sdss_clean_extended", bits.REJECT_EXTENDED, deblend_nopeak_check=True),
    # the point-source recipe (adds EDGE); for completeness, not meant for galaxies
    "sdss_clean_point": FlagPreset("sdss_clean_point", bits.REJECT_POINT, deblend_nopeak_check=True),
}


def get_preset(name: str) -> FlagPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown flag preset {name!r}; expected one of {sorted(PRESETS)}") from None


# -- words -----------------------------------------------------------------------------------
def as_flag_word(values, *, what: str = "flag word") -> np.ndarray:
    """A 64-bit flag word as int64, from any 64-bit integer array (never from floats).

    Widening happens before any bit test: the reject mask has bits >= 32.
    """
    a = np.asarray(values)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what}: flag words must be integers, got {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8:
        return a.view(np.int64)  # the bit pattern is what matters; CAS never sets bit 63
    return a.astype(np.int64)


def clean_word(word, preset: FlagPreset | str, psf_mag_err=None) -> np.ndarray:
    """The §2.3 predicate on 64-bit words (any shape): True where the photometry is clean.

    ``psf_mag_err`` [mag] (same shape) is needed only by presets with the DEBLEND_NOPEAK
    clause; NaN counts as > 0.2 (rejected when DEBLEND_NOPEAK is set).
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    f = as_flag_word(word)
    ok = (f & np.int64(preset.require)) == np.int64(preset.require)
    ok &= (f & np.int64(preset.reject)) == 0
    ok &= ~(((f & np.int64(bits.INTERP_CENTER)) != 0) & ((f & np.int64(bits.COSMIC_RAY)) != 0))
    if preset.deblend_nopeak_check:
        if psf_mag_err is None:
            raise ValueError(f"flag preset {preset.name} needs PSF magnitude errors")
        err = np.asarray(psf_mag_err, dtype=np.float64)
        ok &= ((f & np.int64(bits.DEBLEND_NOPEAK)) == 0) | (err <= bits.DEBLEND_NOPEAK_MAX_PSFMAGERR)
    return ok


# -- where the words are in a table ------------------------------------------------------------
@dataclass(frozen=True)
class WordSource:
    """One 64-bit word: a 64-bit column, or a (low, high) pair of 32-bit halves; ``index``
    picks one entry of a per-row (5,) ugriz array column."""

    low: str
    high: str | None = None
    index: int | None = None

    def read(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        def pick(name: str) -> np.ndarray:
            a = np.asarray(data[name])
            return a[:, self.index] if self.index is not None else a

        if self.high is None:
            return as_flag_word(pick(self.low), what=self.low)
        return combine_split_words(pick(self.low), pick(self.high), what=f"{self.low}/{self.high}")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.low,) if self.high is None else (self.low, self.high)


@dataclass(frozen=True)
class FlagLayout:
    """How to get the flag word(s) and PSF errors for one preset and mode from a table.

    Attributes:
        mode: "object" or "per_band" (as requested).
        preset: the preset's name.
        object_word: the object-level word (object mode), or None.
        band_words: per ugriz band, the word (per_band mode, or object mode built as their OR).
        psf_err: per ugriz band, (column, index or None) of psfMagErr [mag] (None where not
            needed), or None when the preset needs none.
        bands: ugriz indices a per_band cut checks; psf_band: the index object mode checks.
        or_of_bands: object mode approximated by OR-ing the per-band words (warned about).
        source: the table's name for messages.
    """

    mode: FlagMode
    preset: str
    object_word: WordSource | None
    band_words: tuple[WordSource, ...] | None
    psf_err: tuple[tuple[str, int | None] | None, ...] | None
    bands: tuple[int, ...]
    psf_band: int
    or_of_bands: bool = False
    source: str = "flags table"

    def object_source(self) -> WordSource:
        if self.object_word is None:
            raise ValueError(f"{self.source}: the layout has no object-level flag word")
        return self.object_word

    def band_sources(self) -> tuple[WordSource, ...]:
        if self.band_words is None:
            raise ValueError(f"{self.source}: the layout has no per-band flag words")
        return self.band_words

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored names of every column to read (the projection), in a stable order."""
        cols: list[str] = []
        if self.mode == "object" and not self.or_of_bands:
            cols += self.object_source().columns
        if self.band_words is not None and (self.mode == "per_band" or self.or_of_bands):
            for w in self.band_words:
                cols += w.columns
        if self.psf_err is not None:
            cols += [p[0] for p in self.psf_err if p is not None]
        return tuple(dict.fromkeys(cols))

    def describe(self) -> str:
        if self.mode == "object" and not self.or_of_bands:
            how = "+".join(self.object_source().columns)
        else:
            how = "OR of per-band " if self.or_of_bands else "per band "
            how += ",".join(dict.fromkeys(c for w in self.band_sources() for c in w.columns))
        return how


def _is64(info: ColumnInfo) -> bool:
    return info.dtype.kind in "iu" and info.dtype.itemsize == 8


def _word_candidates(cols: Mapping[str, ColumnInfo], names: dict[str, str], shape: tuple[int, ...], source: str,
                     prefixes: tuple[tuple[str, str], ...], single: tuple[str, ...]) -> tuple[str, str | None] | None:
    """(low, high) stored names of the first matching word of the given per-row shape."""
    def get(upper: str) -> ColumnInfo | None:
        stored = names.get(upper)
        return cols[stored] if stored is not None and tuple(cols[stored].shape) == shape else None

    for low_u, high_u in prefixes:
        low, high = get(low_u), get(high_u)
        if low is not None and high is not None:
            for c in (low, high):
                if c.dtype.kind not in "iu":
                    raise ValueError(f"{source}: flag column {c.name} is {c.describe()}; expected integers")
            return low.name, high.name
    for upper in single:
        info = get(upper)
        if info is None:
            continue
        if info.dtype.kind not in "iu":
            raise ValueError(f"{source}: flag column {info.name} is {info.describe()}; expected 64-bit integers")
        if not _is64(info):
            raise ValueError(f"{source}: flag column {info.name} is {info.describe()}, which cannot hold SDSS flag bits "
                             f"32-63 (BAD_COUNTS_ERROR, INTERP_CENTER, PSF_FLUX_INTERP); give the 64-bit word or the "
                             f"FLAGS1/FLAGS2 pair of 32-bit halves")
        return info.name, None
    return None


_OBJECT_SPLIT = (("FLAGS1", "FLAGS2"), ("FLAGS", "FLAGS2"), ("OBJC_FLAGS", "OBJC_FLAGS2"))
_OBJECT_SINGLE = ("FLAGS", "OBJC_FLAGS")
_ARRAY_SPLIT = (("FLAGS1", "FLAGS2"), ("FLAGS", "FLAGS2"))
_ARRAY_SINGLE = ("FLAGS_UGRIZ", "FLAGS")
#: Every upper-case name that marks a table as carrying flags.
FLAG_COLUMN_NAMES = frozenset(
    {"FLAGS", "FLAGS1", "FLAGS2", "FLAGS_UGRIZ", "OBJC_FLAGS", "OBJC_FLAGS2"}
    | {f"FLAGS_{b.upper()}" for b in BANDS} | {f"FLAGS1_{b.upper()}" for b in BANDS}
    | {f"FLAGS2_{b.upper()}" for b in BANDS}
)


def has_flag_columns(columns) -> bool:
    """Whether a table has any column that looks like SDSS flags."""
    return bool(FLAG_COLUMN_NAMES & set(name_map(columns)))


def resolve_flag_layout(columns: Mapping[str, ColumnInfo], *, mode: FlagMode = "object",
                        preset: str = "sedflow2022", bands: tuple[str, ...] = BANDS, psf_err_band: str = "g",
                        source: str = "flags table") -> FlagLayout:
    """Find the flag words and PSF errors one preset and mode need among a table's columns.

    Object words: ``FLAGS`` (64-bit), or FLAGS1/FLAGS (low) + FLAGS2 (high), or
    OBJC_FLAGS(+OBJC_FLAGS2). Per-band words: ``FLAGS_UGRIZ`` or ``FLAGS`` as 64-bit (5,)
    arrays, FLAGS1/FLAGS + FLAGS2 as (5,) arrays, ``FLAGS_U..FLAGS_Z`` (64-bit) or
    ``FLAGS1_U``/``FLAGS2_U``... scalars. PSF errors: ``PSFMAGERR_U..Z`` or a (5,) ``PSFMAGERR``.
    In object mode with only per-band words, the object word is their OR (with a warning).
    Raises a ValueError naming ``source`` and the columns when something needed is missing.
    """
    if mode not in ("object", "per_band"):
        raise ValueError(f"unknown flag mode {mode!r}; expected 'object' or 'per_band'")
    get_preset(preset)
    bad = [b for b in (*bands, psf_err_band) if b not in BANDS]
    if bad or not bands:
        raise ValueError(f"flag bands must be among {BANDS}; got {list(bands)} / psf_err_band {psf_err_band!r}")
    names = name_map(columns)
    cols = dict(columns)

    # each kind of word is complained about only when the mode needs it, so that a stray or
    # odd column of the other kind does not break a run
    try:
        obj = _word_candidates(cols, names, (), source, _OBJECT_SPLIT, _OBJECT_SINGLE)
    except ValueError:
        if mode == "object":
            raise
        obj = None
    object_word = WordSource(*obj) if obj else None
    band_error: ValueError | None = None
    try:
        band_words = _band_words(cols, names, source)
    except ValueError as exc:
        band_words, band_error = None, exc
    if band_error is not None and (mode == "per_band" or object_word is None):
        raise band_error

    or_of_bands = False
    if mode == "object" and object_word is None:
        if band_words is None:
            raise ValueError(f"{source}: no SDSS flag columns for object mode: expected FLAGS (64-bit), "
                             f"FLAGS1+FLAGS2 (32-bit halves) or per-band FLAGS_U..FLAGS_Z; "
                             f"the table has {', '.join(list(cols)[:15])}")
        or_of_bands = True
    if mode == "per_band" and band_words is None:
        raise ValueError(f"{source}: flag_mode per_band needs per-band flags (FLAGS_U..FLAGS_Z, a (5,) FLAGS_UGRIZ, "
                         f"or (5,) FLAGS1/FLAGS2); the table has only object-level "
                         f"{'+'.join(object_word.columns) if object_word else 'nothing'}")

    psf_err = None
    if get_preset(preset).deblend_nopeak_check:
        needed = bands if mode == "per_band" else (psf_err_band,)
        psf_err = _psf_columns(cols, names, needed, preset, source)

    layout = FlagLayout(mode=mode, preset=preset, object_word=object_word, band_words=band_words, psf_err=psf_err,
                        bands=tuple(BANDS.index(b) for b in bands), psf_band=BANDS.index(psf_err_band),
                        or_of_bands=or_of_bands, source=source)
    if or_of_bands:
        warnings.warn(f"{source}: object-level flags requested but only per-band words are present; using the OR of "
                      f"the five per-band words (an approximation: objc_flags are not a plain OR for every bit)",
                      stacklevel=2)
    return layout


def _band_words(cols: Mapping[str, ColumnInfo], names: dict[str, str], source: str) -> tuple[WordSource, ...] | None:
    arr = _word_candidates(cols, names, (len(BANDS),), source, _ARRAY_SPLIT, _ARRAY_SINGLE)
    if arr:
        return tuple(WordSource(arr[0], arr[1], k) for k in range(len(BANDS)))
    per = []
    for b in BANDS:
        u = b.upper()
        found = _word_candidates(cols, names, (), source, ((f"FLAGS1_{u}", f"FLAGS2_{u}"),), (f"FLAGS_{u}",))
        per.append(WordSource(*found) if found else None)
    words = tuple(w for w in per if w is not None)
    if len(words) == len(BANDS):
        return words
    if words:
        missing = [f"FLAGS_{b.upper()}" for b, w in zip(BANDS, per) if w is None]
        raise ValueError(f"{source}: per-band flag columns are incomplete: missing {', '.join(missing)}")
    return None


def _psf_columns(cols: Mapping[str, ColumnInfo], names: dict[str, str], needed: tuple[str, ...], preset: str,
                 source: str) -> tuple[tuple[str, int | None] | None, ...]:
    """Per ugriz band, (column, index) of its PSF magnitude error; None for bands not needed."""
    arr = names.get("PSFMAGERR")
    found: list[tuple[str, int | None] | None]
    if arr is not None and tuple(cols[arr].shape) == (len(BANDS),):
        found = [(arr, k) for k in range(len(BANDS))]
    else:
        found = [(names[f"PSFMAGERR_{b.upper()}"], None) if f"PSFMAGERR_{b.upper()}" in names else None
                 for b in BANDS]
    missing = [f"PSFMAGERR_{b.upper()}" for b in needed if found[BANDS.index(b)] is None]
    if missing:
        raise ValueError(f"{source}: flag preset {preset} needs PSF magnitude errors: missing "
                         f"{', '.join(missing)} (or a (5,) PSFMAGERR array)")
    out: list[tuple[str, int | None] | None] = []
    for b, entry in zip(BANDS, found):
        if b not in needed or entry is None:  # None here only for bands not needed (checked above)
            out.append(None)
            continue
        col = entry[0]
        if cols[col].dtype.kind != "f":
            raise ValueError(f"{source}: column {col} is {cols[col].describe()}; expected floating-point magnitudes")
        out.append(entry)
    return tuple(out)


def _psf(data: Mapping[str, np.ndarray], layout: FlagLayout, k: int) -> np.ndarray | None:
    entry = layout.psf_err[k] if layout.psf_err is not None else None
    if entry is None:
        return None
    col, idx = entry
    a = np.asarray(data[col], dtype=np.float64)
    return a[:, idx] if idx is not None else a


def evaluate_clean(data: Mapping[str, np.ndarray], layout: FlagLayout) -> np.ndarray:
    """(N,) bool: the preset's predicate on the columns of ``layout.columns`` read into ``data``.

    Object mode: the object word (or the OR of the band words), with the PSF error of
    ``psf_band``. Per-band mode: the predicate on each listed band's word with that band's
    PSF error; clean only if every listed band passes (BINNED1 is then required in each).
    """
    preset = get_preset(layout.preset)
    if layout.mode == "object":
        if layout.or_of_bands:
            band_words = layout.band_sources()
            word = band_words[0].read(data)
            for w in band_words[1:]:
                word = word | w.read(data)
        else:
            word = layout.object_source().read(data)
        return clean_word(word, preset, _psf(data, layout, layout.psf_band))
    band_words = layout.band_sources()
    return np.logical_and.reduce([clean_word(band_words[k].read(data), preset, _psf(data, layout, k))
                                  for k in layout.bands])
