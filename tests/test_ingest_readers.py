"""Catalog readers on hand-written tables written as real FITS (fitsio), Parquet (pyarrow) and CSV files:
the SDSS corrections against a direct formula, the NSA preset's none, generic column maps in every format and
unit, sentinels and the clear errors. No cluster: the readers and the pure ingest core only."""

from __future__ import annotations

import nsa_fixtures as fx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import table_fixtures as tf
from table_fixtures import column_map, sdss_per_band_frame, table_frame, write_sdss_fits, write_table

from sedflow_dask.config import IngestConfig
from sedflow_dask.ingest import IngestReason as R
from sedflow_dask.ingest.core import ingest_frame
from sedflow_dask.ingest.readers import open_catalog, parse_column_map
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.photometry import COLOUR_PAIRS, FLUX_COLUMNS, IVAR_COLUMNS, flux_to_mag, sigma_mag_from_ivar

LOW_Q = np.full(len(COLOUR_PAIRS), -10.0)
# written here from Blanton & Roweis (2007) and the NSA data model, not imported from the package
AB_OFFSET = np.array([-0.04, 0.0, 0.0, 0.0, 0.02])
FLOOR = np.array([0.05, 0.02, 0.02, 0.02, 0.03])
N = 12


@pytest.fixture(scope="module")
def sdss():
    return tf.make_sdss(N)


@pytest.fixture(scope="module")
def table():
    return tf.make_table()


def mags(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    f = frame[list(FLUX_COLUMNS)].to_numpy(np.float64)
    w = frame[list(IVAR_COLUMNS)].to_numpy(np.float64)
    return flux_to_mag(f), sigma_mag_from_ivar(f, w)


@pytest.mark.parametrize("ext, ab, floors", [(True, True, True), (False, True, True), (True, False, True),
                                             (True, True, False), (False, False, False)])
def test_sdss_corrections_against_the_direct_formula(sdss, tmp_path, ext, ab, floors):
    path = write_sdss_fits(tmp_path / "export.fits", sdss)
    config = IngestConfig(extinction=ext, ab_offsets=ab, error_floors=floors)
    reader = open_catalog(path, config)
    assert reader.preset == "sdss" and reader.provenance()["detected"]
    frame = reader.read_frame(0, N)
    m, s = mags(frame)
    # in magnitudes: m_AB = m_SDSS - A + offset; sigma^2 = sigma_stat^2 + floor^2, each once
    m_sdss = 22.5 - 2.5 * np.log10(sdss["flux"])
    sigma_stat = 2.5 / np.log(10) / (sdss["flux"] * np.sqrt(sdss["ivar"]))
    np.testing.assert_allclose(m, m_sdss - ext * sdss["ext"] + ab * AB_OFFSET, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s, np.sqrt(sigma_stat**2 + floors * FLOOR**2), rtol=1e-12)
    np.testing.assert_array_equal(frame["nsaid"].to_numpy(), sdss["objid"])
    prov = reader.provenance()
    c = prov["corrections"]
    assert (c["extinction"], c["ab_offsets"], c["error_floors"]) == (ext, ab, floors)
    assert ("ab_offsets_mag" in c) == ab and ("error_floors_mag" in c) == floors
    if ab:
        assert c["ab_offsets_mag"] == AB_OFFSET.tolist()
    if floors:
        assert c["error_floors_mag"] == FLOOR.tolist()
    assert ("switched off" in prov["statement"]) == (not (ext and ab and floors))


def test_sdss_csv_parquet_per_band_columns_read_like_fits_vectors(sdss, tmp_path):
    fits = open_catalog(write_sdss_fits(tmp_path / "e.fits", sdss)).read_frame(0, N)
    frame = sdss_per_band_frame(sdss)
    csv = tmp_path / "e.csv"
    csv.write_text("#Table1\n" + frame.to_csv(index=False))  # SkyServer's CSV opens with a comment line
    upper = frame.rename(columns=lambda c: c.upper().replace("FLUXIVAR", "FLUX_IVAR"))  # MODELFLUX_IVAR_U
    pq.write_table(pa.Table.from_pandas(upper, preserve_index=False), tmp_path / "e.parquet", row_group_size=5)
    for path in (csv, tmp_path / "e.parquet"):
        reader = open_catalog(path)
        assert reader.preset == "sdss"
        got = pd.concat([reader.read_frame(a, b) for a, b in ((0, 5), (5, 11), (11, N))])
        pd.testing.assert_frame_equal(got, fits, check_exact=True)


def test_sdss_ids_and_ambiguity(sdss, tmp_path):
    both = write_sdss_fits(tmp_path / "both.fits", sdss, petro=True)
    with pytest.raises(ValueError, match=r"ambiguous.*model \(MODELFLUX, MODELFLUX_IVAR\); petro \(PETROFLUX, "
                                         r"PETROFLUX_IVAR\).*--flux model\|petro"):
        open_catalog(both)
    petro = open_catalog(both, IngestConfig(sdss_flux="petro", ab_offsets=False, extinction=False,
                                            error_floors=False)).read_frame(0, N)
    np.testing.assert_allclose(petro[list(FLUX_COLUMNS)].to_numpy(), sdss["petro"], rtol=1e-15)
    with pytest.raises(ValueError, match="--flux cmodel needs CMODELFLUX"):
        open_catalog(both, IngestConfig(sdss_flux="cmodel"))
    no_id = open_catalog(write_sdss_fits(tmp_path / "noid.fits", sdss, drop=("OBJID",)))
    np.testing.assert_array_equal(no_id.read_frame(3, 6)["nsaid"].to_numpy(), [4, 5, 6])  # 1-based row numbers
    assert no_id.provenance()["id"] == "row number (1-based)"


def test_sdss_missing_columns_name_the_option(sdss, tmp_path):
    with pytest.raises(ValueError, match=r"no RA/Dec columns.*--columns ra=COL,dec=COL"):
        open_catalog(write_sdss_fits(tmp_path / "nora.fits", sdss, drop=("RA",)))
    with pytest.raises(ValueError, match=r"no redshift column.*--columns z=COL"):
        open_catalog(write_sdss_fits(tmp_path / "noz.fits", sdss, drop=("Z",)))
    noext = write_sdss_fits(tmp_path / "noext.fits", sdss, drop=("EXTINCTION",))
    with pytest.raises(ValueError, match=r"no EXTINCTION column.*--no-extinction"):
        open_catalog(noext)
    assert open_catalog(noext, IngestConfig(extinction=False)).preset == "sdss"
    # other columns named through the map
    renamed = sdss_per_band_frame(sdss).rename(columns={"ra": "RA_DEG", "z": "ZSPEC"})
    renamed.to_csv(tmp_path / "renamed.csv", index=False)
    with pytest.raises(ValueError, match="no RA/Dec"):
        open_catalog(tmp_path / "renamed.csv")
    reader = open_catalog(tmp_path / "renamed.csv", IngestConfig(columns={"ra": "RA_DEG", "z": "ZSPEC"}))
    assert reader.preset == "sdss" and reader.provenance()["columns"]["z"] == "ZSPEC"


def test_nsa_preset_applies_no_correction(tmp_path):
    cat = fx.make_catalog(40, 8, inject=False)
    reader = open_catalog(fx.write_nsa(tmp_path / "nsa_v1_0_1.fits", cat))
    assert reader.preset == "nsa"
    frame = reader.read_frame(0, 40)
    # the stored float32 fluxes and ivars, untouched: no extinction, AB offset or floor
    np.testing.assert_array_equal(frame[list(FLUX_COLUMNS)].to_numpy(), cat.nmgy[:, 2:7])
    np.testing.assert_array_equal(frame[list(IVAR_COLUMNS)].to_numpy(), cat.ivar[:, 2:7])
    c = reader.provenance()["corrections"]
    assert (c["extinction"], c["ab_offsets"], c["error_floors"]) == (False, False, False)
    with pytest.raises(ValueError, match="--columns applies to the sdss and table presets"):
        open_catalog(tmp_path / "nsa_v1_0_1.fits", IngestConfig(preset="nsa", columns={"z": "ZDIST"}))


# -- generic tables ------------------------------------------------------------------------------
def table_config(form: str, **kw) -> IngestConfig:
    return IngestConfig(columns=parse_column_map(column_map(form)), flux_unit="jy" if form == "jy" else "nanomaggies",
                        **kw)


@pytest.mark.parametrize("form", ["nmgy", "jy", "mag"])
def test_generic_tables_in_every_format_read_the_same(table, tmp_path, form):
    frame = table_frame(table, form)
    got = {}
    for fmt in ("fits", "parquet", "csv"):
        reader = open_catalog(write_table(frame, tmp_path / f"t.{fmt}", fmt), table_config(form))
        assert reader.preset == "table" and reader.provenance()["format"] == fmt
        got[fmt] = pd.concat([reader.read_frame(a, b) for a, b in ((0, 13), (13, 30))])
    pd.testing.assert_frame_equal(got["fits"], got["parquet"], check_exact=True)
    pd.testing.assert_frame_equal(got["fits"], got["csv"], check_exact=True)
    np.testing.assert_array_equal(got["csv"]["nsaid"].to_numpy(), table["ID"])
    # every unit and form gives the same AB nanomaggies and ivars as the nanomaggy table
    np.testing.assert_allclose(got["csv"][list(FLUX_COLUMNS)].to_numpy(), table["flux"], rtol=1e-12)
    np.testing.assert_allclose(got["csv"][list(IVAR_COLUMNS)].to_numpy(), 1.0 / table["sigma"] ** 2, rtol=1e-11)


def test_sentinels_nans_and_bad_errors_become_unmeasured_bands(table, tmp_path):
    """Each bad value costs its band (a bit of bands_used cleared), not the galaxy; a negative flux
    with a valid error is a measurement; bad redshifts and too few bands are reason bits."""
    u, g, r, i, z = 1, 2, 4, 8, 16
    frame = table_frame(table, "mag")
    expect = np.zeros(len(frame), dtype=np.int64)
    bands = np.full(len(frame), 31, dtype=np.int64)
    for row, (col, value, bit, lost) in enumerate([
            ("MAG_U", 99.0, 0, u), ("MAG_G", -99.0, 0, g), ("MAG_R", -9999.0, 0, r), ("MAG_I", np.nan, 0, i),
            ("MAGERR_Z", 0.0, 0, z), ("MAGERR_U", -1.0, 0, u), ("MAGERR_G", 99.0, 0, g), ("MAGERR_R", np.nan, 0, r),
            ("ZSPEC", -9999.0, R.Z_OUT_OF_RANGE, 0), ("ZSPEC", np.nan, R.Z_INVALID, 0)]):
        frame.loc[row, col] = value
        expect[row], bands[row] = int(bit), 31 - lost
    fluxes = table_frame(table, "nmgy")
    for row, (col, value, lost) in enumerate([("IVAR_U", 0.0, u), ("IVAR_G", -3.0, g), ("F_R", np.nan, r),
                                              ("F_I", -9999.0, i), ("IVAR_Z", np.nan, z), ("F_U", -2.5, 0),
                                              ("F_G", 0.0, 0)], start=10):
        fluxes.loc[row, col] = value
        bands[row] = 31 - lost
    fluxes.loc[17, ["F_U", "F_G"]] = np.nan            # three bands left: usable
    fluxes.loc[18, ["F_U", "F_G", "IVAR_R"]] = [np.nan, -9999.0, 0.0]  # two left: too few
    bands[17], bands[18] = 28, 24
    expect[18] = int(R.TOO_FEW_BANDS | R.NONFINITE_FLUX | R.BAD_IVAR)
    proposal = default_proposal()
    for form, data in (("mag", frame), ("nmgy", fluxes)):
        reader = open_catalog(write_table(data, tmp_path / f"{form}.csv", "csv"), table_config(form))
        out = ingest_frame(reader.read_frame(0, len(data)), proposal=proposal, colour_quantiles=LOW_Q)
        rows = slice(0, 10) if form == "mag" else slice(10, 19)
        np.testing.assert_array_equal(out["ingest_reason"].to_numpy()[rows], expect[rows])
        np.testing.assert_array_equal(out["bands_used"].to_numpy()[rows], bands[rows])
        assert (out["ingest_reason"].to_numpy()[19:] == 0).all() and (out["bands_used"].to_numpy()[19:] == 31).all()
        if form == "nmgy":
            assert out["flux_u"].to_numpy()[15] == -2.5 and out["flux_g"].to_numpy()[16] == 0.0
            assert np.isnan(out["flux_i"].to_numpy()[13]) and out["ivar_i"].to_numpy()[13] == 0.0
    # text that is not a number in a CSV (SkyServer's "null") is a NaN, not a crash
    text = (tmp_path / "mag.csv").read_text().splitlines()
    cells = text[20].split(",")
    cells[frame.columns.get_loc("MAG_Z")] = "null"
    text[20] = ",".join(cells)
    (tmp_path / "null.csv").write_text("\n".join(text) + "\n")
    reader = open_catalog(tmp_path / "null.csv", table_config("mag"))
    out = ingest_frame(reader.read_frame(0, len(frame)), proposal=proposal, colour_quantiles=LOW_Q)
    assert out["ingest_reason"].to_numpy()[19] == 0 and out["bands_used"].to_numpy()[19] == 31 - z


def test_sdss_export_keeps_negative_model_fluxes(sdss, tmp_path):
    s = {k: v.copy() for k, v in sdss.items()}
    s["flux"][0, 0] = -1.7                           # a faint u band measured below zero
    s["flux"][1, 0] = -9999.0                        # an export's placeholder for "no value"
    reader = open_catalog(write_sdss_fits(tmp_path / "neg.fits", s), IngestConfig(extinction=False, ab_offsets=False))
    frame = reader.read_frame(0, N)
    assert frame["flux_u"].to_numpy()[0] == -1.7
    # the error floor scales with |f|: sigma_f^2 = 1/ivar + (0.05 |f| / 1.0857)^2
    floor_var = (0.05 * 1.7 * np.log(10) / 2.5) ** 2
    assert frame["ivar_u"].to_numpy()[0] == pytest.approx(1 / (1 / s["ivar"][0, 0] + floor_var), rel=1e-12)
    assert np.isnan(frame["flux_u"].to_numpy()[1]) and frame["ivar_u"].to_numpy()[1] == 0.0
    out = ingest_frame(frame, proposal=default_proposal(), colour_quantiles=LOW_Q)
    assert out["ingest_reason"].tolist()[:2] == [0, 0] and out["bands_used"].tolist()[:2] == [31, 30]


def test_column_map_errors_name_the_key_column_or_option(table, tmp_path):
    path = write_table(table_frame(table, "nmgy"), tmp_path / "t.parquet", "parquet")
    full = parse_column_map(column_map("nmgy"))

    def opened(**changes):
        m = {k: v for k, v in {**full, **changes}.items() if v is not None}
        return open_catalog(path, IngestConfig(preset="table", columns=m))

    with pytest.raises(ValueError, match=r"no ra: .*--columns ra=COL,dec=COL"):
        opened(ra=None)
    with pytest.raises(ValueError, match=r"no z; .*--columns z=COL"):
        opened(z=None)
    with pytest.raises(ValueError, match=r"band g: the column map names flux_g; give flux_g with ivar_g or fluxerr_g"):
        opened(ivar_g=None)
    with pytest.raises(ValueError, match=r"--columns flux_r=FLUX_R: no column FLUX_R; the file has 14 columns"):
        opened(flux_r="FLUX_R")
    with pytest.raises(ValueError, match="unknown column-map key"):
        parse_column_map("id=ID,colour=G_R")
    with pytest.raises(ValueError, match="not of the form name=COLUMN"):
        parse_column_map("id=ID,RA")
    with pytest.raises(ValueError, match=r"the table preset needs a column map"):
        open_catalog(path, IngestConfig(preset="table"))
    with pytest.raises(ValueError, match=r"cannot tell what kind of catalog.*--preset table --columns"):
        open_catalog(path)
    assert opened(id=None).read_frame(0, 3)["nsaid"].tolist() == [1, 2, 3]  # no id column: 1-based rows


def test_bad_files_are_refused_by_format(table, tmp_path):
    csv_as_fits = tmp_path / "catalog.fits"
    table_frame(table, "nmgy").to_csv(csv_as_fits, index=False)
    with pytest.raises(ValueError, match=r"catalog.fits is named like a FITS file but is not one.*CSV"):
        open_catalog(csv_as_fits)
    good = fx.write_nsa(tmp_path / "nsa.fits", fx.make_catalog(50, 2))
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size - 2880])
    with pytest.raises(ValueError, match=r"cut.fits is truncated"):
        open_catalog(cut)
    pq_path = write_table(table_frame(table, "nmgy"), tmp_path / "t.parquet", "parquet")
    (tmp_path / "cut.parquet").write_bytes(pq_path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"cut.parquet is not a readable Parquet file"):
        open_catalog(tmp_path / "cut.parquet")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="neither FITS .* nor a CSV"):
        open_catalog(tmp_path / "blob.bin")


def test_command_line_and_config_file_reach_the_readers(sdss, table, tmp_path):
    from sedflow_dask.cli import build_parser
    from sedflow_dask.config import load_config
    from sedflow_dask.ingest.cli import ingest_options

    export = write_sdss_fits(tmp_path / "e.fits", sdss)
    args = build_parser().parse_args(["ingest", str(export), "--out", "o", "--no-extinction", "--no-error-floors",
                                      "--flux", "model"])
    config, path = ingest_options(args, IngestConfig())
    assert (config.extinction, config.ab_offsets, config.error_floors, config.sdss_flux) == (False, True, False, "model")
    c = open_catalog(path, config).provenance()["corrections"]
    assert (c["extinction"], c["ab_offsets"], c["error_floors"]) == (False, True, False)
    # the [ingest.columns] table of a config file is the column map
    path = write_table(table_frame(table, "jy"), tmp_path / "t.csv", "csv")
    toml = tmp_path / "run.toml"
    toml.write_text('[ingest]\nflux_unit = "jy"\n[ingest.columns]\n'
                    + "".join(f'{k} = "{v}"\n' for k, v in parse_column_map(column_map("jy")).items()))
    reader = open_catalog(path, load_config(str(toml)).ingest)
    assert reader.preset == "table" and reader.provenance()["flux_unit"] == "jy"
    np.testing.assert_allclose(reader.read_frame(0, 5)[list(FLUX_COLUMNS)].to_numpy(), table["flux"][:5], rtol=1e-12)
    args = build_parser().parse_args(["ingest", "--dataset", "kcorrect-sdss", "--out", "o"])
    config, path = ingest_options(args, IngestConfig())
    assert (config.preset, config.sdss_flux) == ("sdss", "model") and path.name == "gst_tests_small.fits"
