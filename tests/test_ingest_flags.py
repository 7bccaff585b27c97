"""The SDSS flag predicate (nsa-ingest.md §2.3-2.5): presets, modes, word encodings, column layouts."""

from __future__ import annotations

import warnings

import nsa_fixtures as fx
import numpy as np
import pytest

from sedflow_dask.ingest.flags import PRESETS, clean_word, evaluate_clean, resolve_flag_layout
from sedflow_dask.ingest.schema import ColumnInfo
from sedflow_dask.survey import sdss_flags as F
from sedflow_dask.survey.sdss_flags import combine_split_words, split_word


def columns_of(data: dict[str, np.ndarray]) -> dict[str, ColumnInfo]:
    return {k: ColumnInfo(k, v.dtype.newbyteorder("="), v.shape[1:]) for k, v in data.items()}


def native(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(v.dtype.newbyteorder("=")) for k, v in data.items()}


@pytest.fixture(scope="module")
def fl():
    return fx.make_flags(np.arange(4000), seed=3)


def test_mask_constants_match_the_spec():
    assert PRESETS["sedflow2022"].reject == 0x8100000C00A0 == 141837000769696
    assert PRESETS["sdss_clean_point"].reject == 0x8100000C00A4
    assert PRESETS["sedflow2022"].require == 0x10000000


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_predicate_matches_python_integer_oracle(fl, preset):
    got = clean_word(fl.objc, preset, fl.psferr[:, 1])
    assert np.array_equal(got, fx.expected_clean(fl, preset, "object"))
    # every defect of the default preset occurs, and the presets really differ
    assert 0.2 < 1 - got.mean() < 0.6


def test_each_defect_fails_and_benign_bits_pass():
    base = F.BINNED1 | F.CHILD | F.BLENDED | F.INTERP | F.EDGE | F.MOVED | F.SATUR_CENTER
    assert clean_word(np.array([base]), "sedflow2022")[0]
    assert clean_word(np.array([base | F.COSMIC_RAY]), "sedflow2022")[0]
    assert clean_word(np.array([base | F.INTERP_CENTER]), "sedflow2022")[0]
    for defect in (F.PEAKCENTER, F.NOTCHECKED, F.PSF_FLUX_INTERP, F.BAD_COUNTS_ERROR, F.SATURATED, F.NOPROFILE,
                   F.INTERP_CENTER | F.COSMIC_RAY):
        assert not clean_word(np.array([base | defect]), "sedflow2022")[0], hex(defect)
    assert not clean_word(np.array([base & ~F.BINNED1]), "sedflow2022")[0]
    # EDGE fails only the point-source recipe; DEBLEND_NOPEAK only with a PSF error > 0.2
    assert not clean_word(np.array([base]), "sdss_clean_point", np.array([0.1]))[0]
    nopeak = np.array([F.BINNED1 | F.DEBLEND_NOPEAK] * 3)
    err = np.array([0.1, 0.3, np.nan])
    assert clean_word(nopeak, "sedflow2022").all()
    assert clean_word(nopeak, "sdss_clean_extended", err).tolist() == [True, False, False]


def test_split_int32_words_combine_exactly(fl):
    lo, hi = split_word(fl.objc)
    assert lo.dtype == hi.dtype == np.int32
    # the halves' bit patterns, checked with Python integers
    assert all(int(a) % 2**32 == int(w) % 2**32 and int(b) % 2**32 == int(w) >> 32
               for w, a, b in zip(fl.objc, lo, hi))
    assert (lo < 0).any(), "MOVED (bit 31) must make some FLAGS1 negative"
    assert (hi != 0).mean() > 0.1, "bits >= 32 must be common"
    assert np.array_equal(combine_split_words(lo, hi), fl.objc)
    assert np.array_equal(combine_split_words(lo.astype(np.int64), hi.astype(np.int64)), fl.objc)
    assert all(np.array_equal(a, b) for a, b in zip(split_word(fl.objc.view(np.uint64)), (lo, hi)))
    # sign extension of a negative low word must not leak into the high word
    assert combine_split_words(np.array([-1], np.int32), np.array([0], np.int32))[0] == 0xFFFFFFFF
    # widening: an int32 word tested against the 64-bit mask works (numpy would overflow)
    assert clean_word(np.array([F.BINNED1], dtype=np.int32), "sedflow2022")[0]


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("mode", ["object", "per_band"])
@pytest.mark.parametrize("form", ["int64", "split", "perband", "perband_split"])
def test_layouts_give_the_oracle(fl, preset, mode, form):
    data = native(fx.flag_columns(fl, form))
    if mode == "per_band" and form == "split":
        with pytest.raises(ValueError, match="per_band needs per-band flags"):
            resolve_flag_layout(columns_of(data), mode=mode, preset=preset)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layout = resolve_flag_layout(columns_of(data), mode=mode, preset=preset)
    got = evaluate_clean(data, layout)
    if mode == "object" and form.startswith("perband"):
        assert layout.or_of_bands and any("OR of" in str(w.message) for w in caught)
        word = np.bitwise_or.reduce(fl.band, axis=1)
        expected = np.array([fx.reference_clean(w, preset, e[1]) for w, e in zip(word, fl.psferr)])
    else:
        expected = fx.expected_clean(fl, preset, mode)
    assert np.array_equal(got, expected)


def test_int64_and_split_forms_give_identical_masks(fl):
    a = native(fx.flag_columns(fl, "int64"))
    b = native(fx.flag_columns(fl, "split"))
    la = resolve_flag_layout(columns_of(a))
    lb = resolve_flag_layout(columns_of(b))
    assert la.columns == ("FLAGS",) and lb.columns == ("FLAGS1", "FLAGS2")
    assert resolve_flag_layout(columns_of(a), mode="per_band").columns == ("FLAGS_UGRIZ",)  # projection
    assert np.array_equal(evaluate_clean(a, la), evaluate_clean(b, lb))
    assert (evaluate_clean(a, la) != fx.expected_clean(fl, "sedflow2022", "per_band")).any(), \
        "object and per-band modes must differ on this fixture"


def test_per_band_subset_and_psf_band(fl):
    data = native(fx.flag_columns(fl, "perband"))
    layout = resolve_flag_layout(columns_of(data), mode="per_band", bands=("r",))
    expected = np.array([fx.reference_clean(w[2]) for w in fl.band])
    assert np.array_equal(evaluate_clean(data, layout), expected)
    obj = native(fx.flag_columns(fl, "int64"))
    layout = resolve_flag_layout(columns_of(obj), preset="sdss_clean_extended", psf_err_band="r")
    assert np.array_equal(evaluate_clean(obj, layout), fx.expected_clean(fl, "sdss_clean_extended", psf_band=2))


def test_layout_errors_name_the_columns():
    cols = {"NSAID": ColumnInfo("NSAID", np.dtype(np.int64))}
    with pytest.raises(ValueError, match="no SDSS flag columns"):
        resolve_flag_layout(cols, source="t.fits")
    bad32 = {**cols, "FLAGS": ColumnInfo("FLAGS", np.dtype(np.int32))}
    with pytest.raises(ValueError, match=r"t.fits: flag column FLAGS is int32.*bits 32-63"):
        resolve_flag_layout(bad32, source="t.fits")
    flt = {**cols, "FLAGS": ColumnInfo("FLAGS", np.dtype(np.float64))}
    with pytest.raises(ValueError, match="FLAGS is float64"):
        resolve_flag_layout(flt, source="t.fits")
    ok = {**cols, "FLAGS": ColumnInfo("FLAGS", np.dtype(np.int64))}
    with pytest.raises(ValueError, match="needs PSF magnitude errors: missing PSFMAGERR_G"):
        resolve_flag_layout(ok, preset="sdss_clean_extended", source="t.fits")
    partial = {**ok, "FLAGS_U": ColumnInfo("FLAGS_U", np.dtype(np.int64))}
    resolve_flag_layout(partial)  # object mode ignores an incomplete per-band set
    with pytest.raises(ValueError, match="incomplete: missing FLAGS_G, FLAGS_R"):
        resolve_flag_layout(partial, mode="per_band")


def test_lower_case_names_are_found(fl):
    data = {k.lower(): v for k, v in native(fx.flag_columns(fl, "split")).items()}
    layout = resolve_flag_layout(columns_of(data))
    assert layout.columns == ("flags1", "flags2")
    assert np.array_equal(evaluate_clean(data, layout), fx.expected_clean(fl))
