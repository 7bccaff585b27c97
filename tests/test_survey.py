"""The survey vocabulary against numbers written down from its sources (nsa-ingest.md §1.3, §2.2)."""

from __future__ import annotations

import numpy as np
import pytest

from sedflow_dask.survey import sdss_flags as F
from sedflow_dask.survey.nsa import NSA_VERSIONS, UGRIZ, column_name, iau_names, schema_version
from sedflow_dask.survey.sdss import sdss_objid


def test_the_cut_masks_are_skyservers():
    assert F.REJECT_EXTENDED == 0x8100000C00A0 == 141837000769696
    assert F.REJECT_POINT == 0x8100000C00A4
    assert F.STATIONARY == 1 << 36 and F.MOVED == 1 << 31


def test_every_default_preset_defect_fails_the_cut_on_its_own():
    base = F.BINNED1 | F.CHILD
    for name, bits in F.DEFAULT_PRESET_DEFECTS.items():
        word = base & ~bits if name == F.CLEARED_DEFECT else base | bits
        fails = (word & F.BINNED1) == 0 or (word & F.REJECT_EXTENDED) != 0 or (
            (word & F.INTERP_CENTER) != 0 and (word & F.COSMIC_RAY) != 0)
        assert fails, name


def test_nsa_versions_and_names():
    assert NSA_VERSIONS == ("v1_0_1", "v0_1_2")
    assert [schema_version(v) for v in NSA_VERSIONS] == ["v1", "v0"]
    assert column_name("SERSIC_NMGY", "v0_1_2") == "NMGY" and column_name("SERSIC_NMGY", "v1_0_1") == "SERSIC_NMGY"
    assert column_name("Z", "v0_1_2") == "Z" and (UGRIZ.start, UGRIZ.stop) == (2, 7)
    with pytest.raises(ValueError, match="nsa_version must be one of"):
        schema_version("v2")


def test_iau_names_truncate():
    # 10h 00m 00.999s, -(0° 59' 59.99"): both fields truncated, the sign kept for |dec| < 1°
    names = iau_names([150.0 + 0.999 * 15 / 3600, 0.0], [-(59 / 60 + 59.99 / 3600), 12.5])
    assert names.tolist() == [b"J100000.99-005959.9", b"J000000.00+123000.0"]


def test_objid_packing():
    got = sdss_objid(np.array([756]), np.array([3]), np.array([200]), np.array([17]))
    assert got.dtype == np.int64
    assert int(got[0]) == (2 << 59) | (301 << 48) | (756 << 32) | (3 << 29) | (200 << 16) | 17
