"""One HEALPix pixel of the catalog: flow posteriors, routing, the fallback's results, the table.

Pure functions over in-memory data (pandas in, numpy/pyarrow out; no Dask, no files): the Dask
layer (:mod:`.run`) calls :func:`infer_flow` once per pixel, :func:`infer_fallback` on batches of
the galaxies it routes to the MCMC fallback, and :func:`partition_table` to assemble the rows.
Memory per call is bounded by ``sample.batch_galaxies`` × ``sample.n_samples`` draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..config import FallbackConfig, SamplingConfig
from ..fallback import fallback_reasons, fluxes_from_mags, run_fallback
from ..photometry import MAG_COLUMNS, SIGMA_COLUMNS, mag_to_flux
from ..posterior import PosteriorModel, galaxy_seeds, sample_posteriors
from ..sps.parameters import N_BOX
from .core import (
    QUANTITY_NAMES, STAT_NAMES, input_status, median_model_chi2, posterior_quantities, stored_draws,
    summarize_draws,
)

#: Columns an input pixel must have (``docs/data-contracts.md`` §4).
INPUT_COLUMNS: tuple[str, ...] = ("_healpix_29", "nsaid", "ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS,
                                  "ingest_reason", "oos_noise", "oos_color")
#: Flow draws handed to the fallback as starting candidates for its walkers.
N_INIT_DRAWS = 128


@dataclass(frozen=True)
class FallbackCandidates:
    """Galaxies of one pixel routed to the fallback.

    Attributes:
        rows: (C,) positions in the pixel; nsaid: (C,); mag, sigma: (C, 5) [mag];
        z: (C,); seeds: (C,) uint64; init: (C, K, 11) flow draws (box space; NaN allowed).
    """

    rows: np.ndarray
    nsaid: np.ndarray
    mag: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    seeds: np.ndarray
    init: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    def take(self, sel) -> FallbackCandidates:
        return FallbackCandidates(*(getattr(self, f)[sel] for f in
                                    ("rows", "nsaid", "mag", "sigma", "z", "seeds", "init")))

    def batches(self, size: int) -> list[FallbackCandidates]:
        return [self.take(slice(s, s + size)) for s in range(0, len(self), size)]


@dataclass(frozen=True)
class Posteriors:
    """Posterior results for some rows (a pixel's, or a fallback batch's).

    Attributes:
        rows: (R,) positions in the pixel.
        summaries: (R, 17, 7) statistics (``QUANTITY_NAMES`` × ``STAT_NAMES``).
        chi2: (R,) χ² of the posterior-median model photometry.
        n_samples: (R,) draws behind the summaries.
        stored: (R, K, 11) float32 stored draws (box space).
        status: (R,) "ok" (flow), "mcmc" or "timeout" (fallback).
        ess: (R,) effective sample size (fallback rows; NaN for the flow).
    """

    rows: np.ndarray
    summaries: np.ndarray
    chi2: np.ndarray
    n_samples: np.ndarray
    stored: np.ndarray
    status: np.ndarray
    ess: np.ndarray


@dataclass(frozen=True)
class FlowPartition:
    """A pixel after the flow: inputs, flow posteriors, routing decisions.

    Attributes:
        inputs: the input columns (``INPUT_COLUMNS``) as numpy arrays.
        status: (G,) "bad_input" / "cut" from ingestion, "bad_input" for non-finite inputs, else None.
        seeds: (G,) uint64 galaxy seeds.
        accept_frac: (G,) flow accepted fraction (NaN without a flow posterior).
        fallback_reason: (G,) int32 :class:`~sedflow_dask.fallback.FallbackReason` bits.
        flow: the flow's posteriors of the usable rows.
        candidates: the rows routed to the fallback.
    """

    inputs: dict[str, np.ndarray]
    status: np.ndarray
    seeds: np.ndarray
    accept_frac: np.ndarray
    fallback_reason: np.ndarray
    flow: Posteriors
    candidates: FallbackCandidates

    @property
    def n_rows(self) -> int:
        return int(self.status.size)


def check_input_frame(frame: pd.DataFrame, source: str) -> None:
    """Raise ValueError naming ``source`` and the columns or rows that make ``frame`` unusable."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}: not an ingested catalog "
                         f"(docs/data-contracts.md §4)")
    nsaid = frame["nsaid"].to_numpy()
    if nsaid.dtype.kind not in "iu" or (nsaid < 0).any():
        raise ValueError(f"{source}: column 'nsaid' must hold non-negative integers")
    dup = pd.Index(nsaid).duplicated()
    if dup.any():
        raise ValueError(f"{source}: duplicated nsaid {int(nsaid[np.argmax(dup)])} (row {int(np.argmax(dup))})")


def sample_flow_posteriors(posterior: PosteriorModel, sps_model, x: np.ndarray, seeds: np.ndarray,
                           sample: SamplingConfig, *, n_init: int = 0):
    """Flow posteriors of galaxies x (G, 11) = (mag_ugriz, σ_ugriz, z), batch by batch.

    Returns (summaries (G, 17, 7), χ² (G,), n_filled (G,), stored (G, n_stored, 11), accept
    fraction (G,), init draws (G, n_init, 11)); only ``sample.batch_galaxies`` galaxies' draws
    are in memory at a time.
    """
    g = x.shape[0]
    n_init = min(n_init, sample.n_samples)
    summaries = np.full((g, len(QUANTITY_NAMES), len(STAT_NAMES)), np.nan)
    c2 = np.full(g, np.nan)
    n_filled = np.zeros(g, dtype=np.int64)
    stored = np.full((g, sample.n_stored, N_BOX), np.nan, dtype=np.float32)
    accept = np.full(g, np.nan)
    init = np.full((g, n_init, N_BOX), np.nan, dtype=np.float32)
    step = sample.batch_galaxies
    for start in range(0, g, step):
        b = slice(start, min(start + step, g))
        ps = sample_posteriors(posterior, x[b], sample.n_samples, seeds=seeds[b], max_rounds=sample.max_rounds,
                               batch_galaxies=step)
        summaries[b] = summarize_draws(posterior_quantities(sps_model, ps.samples, x[b, 10]))
        c2[b] = median_model_chi2(sps_model, ps.samples, x[b, 10], x[b, :5], x[b, 5:10])
        n_filled[b] = ps.n_filled
        stored[b] = stored_draws(ps.samples, sample.n_stored)
        accept[b] = ps.accept_frac
        if n_init:
            init[b] = stored_draws(ps.samples, n_init)
    return summaries, c2, n_filled, stored, accept, init


def infer_flow(frame: pd.DataFrame, posterior: PosteriorModel, sps_model, *, seed: int,
               sample: SamplingConfig, fallback: FallbackConfig, source: str = "input") -> FlowPartition:
    """Flow posteriors for the usable rows of one pixel, and which of them need the fallback.

    Rows whose ingest bits mark bad input or a flag cut get no posterior; a row with a
    non-finite magnitude or one with no positive finite flux, σ ≤ 0 or z outside the prior's
    (0, 0.2] but no such bit (not produced by ``sedflow ingest``) is "bad_input" too. Galaxy seeds derive from (``seed``, nsaid) (data-contracts §7).
    """
    check_input_frame(frame, source)
    inputs = {c: frame[c].to_numpy() for c in INPUT_COLUMNS}
    g = len(frame)
    mag = np.column_stack([inputs[c] for c in MAG_COLUMNS]).astype(np.float64).reshape(g, 5)
    sig = np.column_stack([inputs[c] for c in SIGMA_COLUMNS]).astype(np.float64).reshape(g, 5)
    z = inputs["z"].astype(np.float64)
    x = np.column_stack([mag, sig, z])
    status = input_status(inputs["ingest_reason"])
    finite = np.all(np.isfinite(x), axis=1) & np.all(sig > 0, axis=1) & (z > 0) & (z <= posterior.prior.z_max)
    with np.errstate(over="ignore"):  # a finite magnitude of 1e300 is no flux, -1e300 an infinite one
        flux = mag_to_flux(mag)
    finite &= np.all(np.isfinite(flux) & (flux > 0), axis=1)
    status[(status == None) & ~finite] = "bad_input"  # noqa: E711 (object array)
    usable = np.flatnonzero(status == None)  # noqa: E711
    seeds = galaxy_seeds(seed, inputs["nsaid"])
    summaries, c2, n_filled, stored, acc_u, init = sample_flow_posteriors(
        posterior, sps_model, x[usable], seeds[usable], sample, n_init=N_INIT_DRAWS)
    accept = np.full(g, np.nan)
    accept[usable] = acc_u
    reasons = np.zeros(g, dtype=np.int32)
    reasons[usable] = fallback_reasons(c2, inputs["oos_noise"][usable].astype(bool),
                                       inputs["oos_color"][usable].astype(bool), fallback)
    flow = Posteriors(rows=usable, summaries=summaries, chi2=c2, n_samples=n_filled, stored=stored,
                      status=np.full(usable.size, "ok", dtype=object), ess=np.full(usable.size, np.nan))
    routed = reasons[usable] != 0
    rows = usable[routed]
    candidates = FallbackCandidates(rows=rows, nsaid=inputs["nsaid"][rows].astype(np.int64), mag=mag[rows],
                                    sigma=sig[rows], z=z[rows], seeds=seeds[rows], init=init[routed])
    return FlowPartition(inputs=inputs, status=status, seeds=seeds, accept_frac=accept, fallback_reason=reasons,
                         flow=flow, candidates=candidates)


def _joined(parts: list[FlowPartition], get, shift: bool = False) -> np.ndarray:
    """``get(part)`` of consecutive row ranges, concatenated; ``shift``: row positions made pixel-wide."""
    offsets = np.cumsum([0] + [p.n_rows for p in parts[:-1]])
    return np.concatenate([get(p) + o if shift else get(p) for p, o in zip(parts, offsets)])


def concat_flow_partitions(parts: list[FlowPartition]) -> FlowPartition:
    """One pixel's flow results from those of its consecutive row ranges (row positions shifted)."""
    if len(parts) == 1:
        return parts[0]
    flow = Posteriors(*(_joined(parts, lambda p, f=f: getattr(p.flow, f), shift=(f == "rows"))
                        for f in ("rows", "summaries", "chi2", "n_samples", "stored", "status", "ess")))
    return FlowPartition(inputs={c: _joined(parts, lambda p, c=c: p.inputs[c]) for c in parts[0].inputs},
                         status=_joined(parts, lambda p: p.status), seeds=_joined(parts, lambda p: p.seeds),
                         accept_frac=_joined(parts, lambda p: p.accept_frac),
                         fallback_reason=_joined(parts, lambda p: p.fallback_reason),
                         flow=flow, candidates=concat_candidates(parts))


def concat_candidates(parts: list[FlowPartition]) -> FallbackCandidates:
    """The routed galaxies of a pixel's consecutive row ranges (row positions shifted)."""
    return FallbackCandidates(*(_joined(parts, lambda p, f=f: getattr(p.candidates, f), shift=(f == "rows"))
                                for f in ("rows", "nsaid", "mag", "sigma", "z", "seeds", "init")))


def infer_fallback(candidates: FallbackCandidates, model, config: FallbackConfig, n_stored: int) -> Posteriors:
    """MCMC posteriors of routed galaxies (``model``: :func:`~sedflow_dask.fallback.fallback_model`)."""
    flux, sigma = fluxes_from_mags(candidates.mag, candidates.sigma)
    res = run_fallback(model, flux, sigma, candidates.z, seeds=candidates.seeds, init=candidates.init,
                       config=config, batch_galaxies=config.batch_galaxies)
    summaries = summarize_draws(posterior_quantities(model, res.samples, candidates.z))
    c2 = median_model_chi2(model, res.samples, candidates.z, candidates.mag, candidates.sigma)
    n = np.sum(np.isfinite(res.samples[:, :, 0]), axis=1)
    return Posteriors(rows=candidates.rows, summaries=summaries, chi2=c2, n_samples=n,
                      stored=stored_draws(res.samples, n_stored), status=res.status.astype(object),
                      ess=res.ess.astype(np.float64))


def catalog_schema() -> pa.Schema:
    """The output catalog's columns (``docs/data-contracts.md`` §6; ``catalogs/README.md``)."""
    fields = [pa.field(c, pa.int64() if c in ("_healpix_29", "nsaid") else pa.float64())
              for c in INPUT_COLUMNS[:-3]]
    fields += [
        pa.field("ingest_reason", pa.int32()), pa.field("oos_noise", pa.bool_()), pa.field("oos_color", pa.bool_()),
        pa.field("status", pa.string()), pa.field("method", pa.string()), pa.field("fallback_reason", pa.int32()),
        pa.field("accept_frac", pa.float64()), pa.field("chi2_median_model", pa.float64()),
        pa.field("n_samples", pa.int64()), pa.field("seed", pa.uint64()), pa.field("mcmc_ess", pa.float64()),
    ]
    fields += [pa.field(f"{q}_{s}", pa.float64()) for q in QUANTITY_NAMES for s in STAT_NAMES]
    fields.append(pa.field("samples", pa.list_(pa.float32())))
    return pa.schema(fields)


def partition_table(part: FlowPartition, fallback_results: list[Posteriors], n_stored: int) -> pa.Table:
    """The pixel's output rows: every input row once, with its status.

    Rows routed to the fallback but absent from ``fallback_results`` (fallback disabled or
    capped) keep the flow's posterior, status "timeout", method "flow".
    """
    g = part.n_rows
    status = part.status.copy()
    method = np.full(g, None, dtype=object)
    summaries = np.full((g, len(QUANTITY_NAMES), len(STAT_NAMES)), np.nan)
    c2 = np.full(g, np.nan)
    n_samples = np.zeros(g, dtype=np.int64)
    ess = np.full(g, np.nan)
    stored = np.full((g, n_stored, N_BOX), np.nan, dtype=np.float32)
    has = np.zeros(g, dtype=bool)

    def put(p: Posteriors, how: str) -> None:
        summaries[p.rows], c2[p.rows], n_samples[p.rows], ess[p.rows] = p.summaries, p.chi2, p.n_samples, p.ess
        stored[p.rows] = p.stored
        status[p.rows] = p.status
        method[p.rows] = how
        has[p.rows] = True

    put(part.flow, "flow")
    status[part.candidates.rows] = "timeout"
    for p in fallback_results:
        put(p, "mcmc")
    schema = catalog_schema()
    cols: dict[str, pa.Array] = {c: pa.array(part.inputs[c], type=schema.field(c).type) for c in INPUT_COLUMNS}
    cols.update({
        "status": pa.array(status.tolist(), pa.string()),
        "method": pa.array(method.tolist(), pa.string()),
        "fallback_reason": pa.array(part.fallback_reason, pa.int32()),
        "accept_frac": pa.array(part.accept_frac, pa.float64(), mask=np.isnan(part.accept_frac)),
        "chi2_median_model": pa.array(c2, pa.float64(), mask=~has | np.isnan(c2)),
        "n_samples": pa.array(n_samples, pa.int64()),
        "seed": pa.array(part.seeds, pa.uint64()),
        "mcmc_ess": pa.array(ess, pa.float64(), mask=np.isnan(ess)),
    })
    for i, q in enumerate(QUANTITY_NAMES):
        for j, s in enumerate(STAT_NAMES):
            v = summaries[:, i, j]
            cols[f"{q}_{s}"] = pa.array(v, pa.float64(), mask=~has | np.isnan(v))
    flat = pa.array(stored.reshape(-1), pa.float32())
    offsets = pa.array(np.arange(g + 1, dtype=np.int32) * (n_stored * N_BOX), pa.int32())
    samples = pa.ListArray.from_arrays(offsets, flat, mask=pa.array(~has))
    cols["samples"] = samples
    return pa.table([cols[f.name] for f in schema], schema=schema)
