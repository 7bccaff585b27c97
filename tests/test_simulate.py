"""``sedflow simulate`` on a real distributed LocalCluster (worker processes)."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sedflow_dask.cli import main
from sedflow_dask.config import Config
from sedflow_dask.noise import load_noise_model
from sedflow_dask.noise.proposal import default_proposal
from sedflow_dask.parquet import read_sedflow_metadata
from sedflow_dask.photometry import FLUX_COLUMNS, colours, flux_to_mag, present_from_mask
from sedflow_dask.prior import SEDPrior
from sedflow_dask.simulate import (
    chunk_rng,
    read_training_set,
    simulate_photometry,
    simulate_training_set,
    training_colour_quantiles,
    training_set_metadata,
)
from sedflow_dask.simulate.io import FLUX_ERR_COLUMNS, FLUX_OBS_COLUMNS, SCHEMA, THETA_COLUMNS
from sedflow_dask.sps import PHYSICAL_NAMES, PROVABGSModel, box_to_physical

N, CHUNK = 5000, 4096
CONFIG = Config.from_dict({"seed": 7, "simulate": {"n": N, "chunk_rows": CHUNK}})


def assert_same_training_set(a, b) -> None:
    """The same rows in the same order: integer columns equal, float columns to float32 round-off.

    Floats made in a Dask worker may round differently from those made in this process
    (threads, SIMD paths), so they are compared with a tolerance.
    """
    ta, tb = read_training_set(a), read_training_set(b)
    assert ta.schema.equals(tb.schema) and ta.num_rows == tb.num_rows
    for name in ta.column_names:
        x, y = ta[name].to_numpy(), tb[name].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def assert_same_quantiles(a: dict[str, float], b: dict[str, float]) -> None:
    """Colour quantiles {name: mag} equal to float32 round-off of the magnitudes."""
    assert list(a) == list(b)
    np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def training_set(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "ts"
    summary = simulate_training_set(CONFIG, out, client, stream=None)
    return out, summary


def test_exact_row_count_and_bookkeeping(training_set):
    out, summary = training_set
    table = read_training_set(out)
    assert table.num_rows == N == summary["n_kept"]
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert len(set(table["row"].to_pylist())) == N
    assert summary["n_drawn"] == sum(c["n_drawn"] for c in summary["chunks"])
    assert summary["n_drawn"] == N + sum(summary["drop_counts"].values())
    assert summary["n_drawn"] > N  # the range rule drops draws: more are drawn than kept
    assert summary["n_chunks"] == len(summary["files"]) == len(list(out.glob("part-*.parquet")))
    assert summary["noise_sha256"] == load_noise_model().sha256()
    assert summary["proposal_sha256"] == default_proposal().sha256()
    assert set(summary["drop_counts"]) == {"mag_out_of_range"}  # negative fluxes are data, not drops
    assert summary == training_set_metadata(out) == json.loads((out / "manifest.json").read_text())
    for name in summary["files"]:  # every file carries its chunk's provenance
        meta = read_sedflow_metadata(out / name)
        assert meta["seed"] == 7 and meta["ssp_sha256"] == summary["ssp_sha256"]


def test_rows_depend_only_on_the_seed(training_set):
    # recompute the chunks in this process, with no Dask at all: the same rows come out
    out, summary = training_set
    model, proposal, prior = PROVABGSModel(), default_proposal(), SEDPrior()
    expected = [simulate_photometry(model, proposal, prior, CHUNK, chunk_rng(7, c), chunk=c, row_offset=c * CHUNK)
                for c in range(summary["n_chunks"])]
    flux = np.concatenate([e.flux_obs for e in expected])[:N].astype(np.float32)
    theta = np.concatenate([e.theta_box for e in expected])[:N].astype(np.float32)
    table = read_training_set(out)
    # the workers' float64 arithmetic may round differently from this process's (threads, SIMD
    # paths), which can move a float32 value by one unit in the last place: compare with a tolerance
    stored = np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in FLUX_OBS_COLUMNS])
    np.testing.assert_allclose(stored, flux, rtol=1e-6, atol=1e-6)  # NaN (absent bands) in the same places
    np.testing.assert_allclose(np.column_stack([table[c].to_numpy() for c in THETA_COLUMNS]), theta, rtol=1e-6,
                               atol=1e-7)
    last = expected[summary["n_chunks"] - 1]
    kept_before = sum(e.n_kept for e in expected[:-1])
    last_rows = N - kept_before
    assert summary["chunks"][-1]["n_drawn"] == int(np.flatnonzero(last.draw_outcome == 0)[last_rows - 1]) + 1


def test_columns_are_consistent(training_set):
    out, _ = training_set
    df = read_training_set(out).to_pandas()
    phys = box_to_physical(df[list(THETA_COLUMNS)].to_numpy(np.float64))
    np.testing.assert_allclose(phys, df[list(PHYSICAL_NAMES)].to_numpy(np.float64), rtol=2e-6, atol=2e-6)
    assert (df["z"] > 0).all() and (df["z"] <= 0.2).all()
    present = present_from_mask(df["bands_used"].to_numpy())
    err = df[list(FLUX_ERR_COLUMNS)].to_numpy(np.float64)
    obs = df[list(FLUX_OBS_COLUMNS)].to_numpy(np.float64)
    # a band is measured exactly where the mask says, with an error inside the proposal's range
    assert np.array_equal(np.isfinite(err), present) and np.array_equal(np.isfinite(obs), present)
    proposal = default_proposal()
    assert (present.sum(axis=1) >= proposal.min_bands).all()
    lo, hi = (np.broadcast_to(v, err.shape)[present] for v in (proposal.sigma_min, proposal.sigma_max))
    # the real component may rarely fall outside the log-uniform range (faint u at its floor: 2e-5)
    assert np.mean((err[present] < lo * (1 - 1e-6)) | (err[present] > hi * (1 + 1e-6))) < 1e-3
    assert (obs[present] <= 0).any()  # non-positive fluxes are kept as measurements
    # about `dropout` of the bands are absent
    assert abs((~present).mean() - proposal.dropout) < 0.03
    noise = load_noise_model()
    true_mag = 22.5 - 2.5 * np.log10(df[[f"flux_{b}" for b in "ugriz"]].to_numpy(np.float64))
    # every kept galaxy's noiseless magnitudes lie in the noise model's ranges (float32 slack)
    assert ((true_mag >= noise.mag_min - 1e-4) & (true_mag <= noise.mag_max + 1e-4)).all()


def test_colour_quantiles_are_exact(training_set):
    out, summary = training_set
    mags = flux_to_mag(np.column_stack([read_training_set(out, [c])[c].to_numpy() for c in FLUX_COLUMNS]))
    expected = np.quantile(colours(mags), 0.001, axis=0)  # of the noiseless colours
    np.testing.assert_allclose(training_colour_quantiles(out), expected, rtol=0, atol=1e-12)


def test_resume_reuses_complete_chunks(client, training_set, tmp_path):
    src, summary = training_set
    out = tmp_path / "resumed"
    out.mkdir()
    for f in src.glob("part-*.parquet"):
        (out / f.name).write_bytes(f.read_bytes())
    (out / "part-00001.parquet").unlink()  # a chunk lost by a killed run; no summary written
    before = {f.name: f.stat().st_mtime_ns for f in out.glob("part-*.parquet")}
    again = simulate_training_set(CONFIG, out, client, stream=None)
    after = {f.name: f.stat().st_mtime_ns for f in out.glob("part-*.parquet")}
    untruncated = [n for n in before if n != summary["files"][-1]]
    assert untruncated and all(after[n] == before[n] for n in untruncated)  # reused, not rewritten
    assert_same_training_set(out, src)
    assert_same_quantiles(again["colour_quantiles"], summary["colour_quantiles"])
    # asking again is a no-op; another configuration needs --overwrite
    assert simulate_training_set(CONFIG, out, client, stream=None)["created_utc"] == again["created_utc"]
    other = Config.from_dict({"seed": 8, "simulate": {"n": N, "chunk_rows": CHUNK}})
    with pytest.raises(ValueError, match="--overwrite"):
        simulate_training_set(other, out, client, stream=None)


def test_incomplete_set_is_refused_by_readers(tmp_path):
    (tmp_path / "part-00000.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="incomplete"):
        read_training_set(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        read_training_set(tmp_path / "nope")


def test_cli_against_a_running_scheduler(client, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["simulate", "--n", "1500", "--out", str(out), "--seed", "3", "--scheduler", client.scheduler.address,
               "--set", "simulate.chunk_rows=4096"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_kept"] == 1500 and printed["seed"] == 3
    assert read_training_set(out).num_rows == 1500
    assert sum(pq.read_metadata(f).num_rows for f in out.glob("part-*.parquet")) == 1500


def test_cli_errors(tmp_path, capsys):
    assert main(["simulate", "--n", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "x"), "--set", "simulate.z_max=0.5"]) == 2
    assert "z_max" in capsys.readouterr().err


def test_prior_object():
    prior = SEDPrior()
    theta, z = prior.sample(1000, np.random.default_rng(0))
    assert prior.in_support(theta).all() and (z > 1e-4).all() and (z <= 0.2).all()
    logp = prior.log_prob(theta)
    assert np.allclose(logp, logp[0]) and np.isfinite(logp).all()
    # normalised: exp(log p) times the box volume is 1
    assert np.exp(logp[0]) * np.prod(prior.upper - prior.lower) == pytest.approx(1.0)
    outside = theta[:3].copy()
    outside[0, 0] = 13.0
    outside[1, 5] = -1
    assert list(prior.in_support(outside)) == [False, False, True]
    assert np.isneginf(prior.log_prob(outside)[:2]).all()
    assert np.isneginf(prior.log_prob_redshift([0.0, 0.25])).all()
    assert prior.to_physical(theta).shape == (1000, 12)
    dirichlet = SEDPrior(simplex="flat_dirichlet")
    t2, _ = dirichlet.sample(200_000, np.random.default_rng(1))
    beta = box_to_physical(t2)[:, 1:5]
    np.testing.assert_allclose(beta.mean(axis=0), 0.25, atol=3e-3)  # flat Dirichlet: E[beta] = 1/4
    # its density integrates to one over the unit square of (u1, u2): Monte Carlo check
    u = np.random.default_rng(2).uniform(size=(400_000, 11)) * (prior.upper - prior.lower) + prior.lower
    vol = np.prod(prior.upper - prior.lower)
    assert np.mean(np.exp(dirichlet.log_prob(u))) * vol == pytest.approx(1.0, rel=0.01)
    with pytest.raises(ValueError, match="z_min"):
        SEDPrior(z_min=0.0)


def test_seed_streams_are_independent():
    a = chunk_rng(0, 0).random(4)
    assert not np.array_equal(a, chunk_rng(0, 1).random(4))
    assert not np.array_equal(a, chunk_rng(1, 0).random(4))
    np.testing.assert_array_equal(a, chunk_rng(0, 0).random(4))
    with pytest.raises(ValueError):
        chunk_rng(-1, 0)


def test_worker_threads_are_set(client):
    threads = client.run(lambda: __import__("torch").get_num_threads())
    assert set(threads.values()) == {1}
    assert len({pid for pid in client.run(os.getpid).values()}) == 2  # real processes


def test_shipped_colour_quantiles_match_the_shipped_models():
    import json

    from sedflow_dask.simulate.io import DEFAULT_QUANTILES_PATH
    from sedflow_dask.sps import load_ssp_table

    shipped = json.loads(DEFAULT_QUANTILES_PATH.read_text())
    assert shipped["provenance"]["noise_sha256"] == load_noise_model().sha256()
    assert shipped["provenance"]["proposal_sha256"] == default_proposal().sha256()
    assert shipped["provenance"]["ssp_sha256"] == load_ssp_table().sha256
    assert shipped["provenance"]["n_kept"] == 1_131_561
    # an independent smaller simulation (other seed) lands close to them
    model, proposal, prior = PROVABGSModel(), default_proposal(), SEDPrior()
    sim = simulate_photometry(model, proposal, prior, 240_000, chunk_rng(123, 0))
    q = np.quantile(colours(flux_to_mag(sim.flux_true.astype(np.float32))), 0.001, axis=0)
    np.testing.assert_allclose(training_colour_quantiles(), q, atol=0.05)


def test_in_process_run_gives_the_same_set(training_set, tmp_path):
    src, summary = training_set
    again = simulate_training_set(CONFIG, tmp_path / "local", None, stream=None)
    assert_same_training_set(tmp_path / "local", src)
    assert again["n_drawn"] == summary["n_drawn"]
    assert_same_quantiles(again["colour_quantiles"], summary["colour_quantiles"])


def test_training_set_hash_covers_the_data_files(training_set, tmp_path):
    from sedflow_dask.train.data import training_set_sha256

    src, summary = training_set
    assert summary["n_chunks"] >= 2
    base = training_set_sha256(src)

    def copy(name: str):
        dst = tmp_path / name
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).write_bytes(f.read_bytes())
        return dst

    assert training_set_sha256(copy("same")) == base  # the bytes, not the place
    first, second = summary["files"][:2]
    swapped = copy("swapped")
    (swapped / first).write_bytes((src / second).read_bytes())
    (swapped / second).write_bytes((src / first).read_bytes())
    assert training_set_sha256(swapped) != base
    # one value of one chunk edited; the summary (counts, quantiles) stays as it was
    edited = copy("edited")
    table = pq.read_table(edited / first)
    flux = table["flux_obs_r"].to_numpy(zero_copy_only=False).copy()
    flux[np.isfinite(flux).argmax()] += 0.5
    column = table.schema.get_field_index("flux_obs_r")
    pq.write_table(table.set_column(column, "flux_obs_r", pa.array(flux)), edited / first)
    assert training_set_metadata(edited) == summary and training_set_sha256(edited) != base
