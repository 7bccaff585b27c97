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
from ..fallback import fallback_reasons, run_fallback
from ..ingest.reasons import MIN_BANDS
from ..likelihood import observations_from_catalog
from ..photometry import FLUX_COLUMNS, IVAR_COLUMNS, MAG_COLUMNS, SIGMA_COLUMNS, band_present, bands_used_mask
from ..posterior import PosteriorModel, galaxy_seeds, galaxy_stream, sample_posteriors
from ..posterior.importance import ImportanceWeights, systematic_resample, weigh_draws
from ..posterior.inputs import flow_inputs
from ..posterior.mixture import mixture_draws
from ..sps.parameters import N_BOX
from .core import (
    QUANTITY_NAMES,
    STAT_NAMES,
    fallback_status,
    flow_status,
    input_status,
    median_flux_chi2,
    median_model_chi2,
    posterior_quantities,
    stored_draws,
    summarize_draws,
)

#: Columns an input pixel must have (``docs/data-contracts.md`` §4).
INPUT_COLUMNS: tuple[str, ...] = ("_healpix_29", "nsaid", "ra", "dec", "z", *MAG_COLUMNS, *SIGMA_COLUMNS,
                                  *FLUX_COLUMNS, *IVAR_COLUMNS, "ingest_reason", "oos_noise", "oos_color")
#: Flow draws handed to the fallback as starting candidates for its walkers.
N_INIT_DRAWS = 128
#: The galaxy's random substream (``galaxy_stream``) that drives its importance resampling.
RESAMPLE_SUBSTREAM = 1
#: ... and the one that drives the t draws of its defensive mixture (``posterior.mixture``).
MIXTURE_SUBSTREAM = 2
#: The importance-weight columns of the catalog, per usable row.
WEIGHT_COLUMNS: tuple[str, ...] = ("is_efficiency", "is_khat", "log_evidence", "log_evidence_se")


@dataclass(frozen=True)
class FallbackCandidates:
    """Galaxies of one pixel routed to the fallback.

    Attributes:
        rows: (C,) positions in the pixel; nsaid: (C,); flux, sigma: (C, 5) fluxes and errors
        [nmgy] (NaN in absent bands); z: (C,); seeds: (C,) uint64; init: (C, K, 11) flow draws
        (box space; NaN allowed).
    """

    rows: np.ndarray
    nsaid: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    seeds: np.ndarray
    init: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    def take(self, sel) -> FallbackCandidates:
        return FallbackCandidates(*(getattr(self, f)[sel] for f in
                                    ("rows", "nsaid", "flux", "sigma", "z", "seeds", "init")))

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
        status: (R,) "ok" / "reweighted" (the weights kept the flow), "skipped" (routed, until the
            fallback replaces it), "mcmc" / "unconverged" (fallback).
        ess: (R,) bulk effective sample size of the chain, worst parameter (fallback rows; NaN
            for the flow).
        rhat: (R,) rank-normalised split R̂ of the chain, worst parameter (fallback rows; NaN for
            the flow).
        wall_s: (R,) seconds the fallback charged to the galaxy (NaN for the flow).
        method: (R,) "importance", "mixture", "flow" or "mcmc" (``core.METHODS``).
    """

    rows: np.ndarray
    summaries: np.ndarray
    chi2: np.ndarray
    n_samples: np.ndarray
    stored: np.ndarray
    status: np.ndarray
    ess: np.ndarray
    method: np.ndarray
    rhat: np.ndarray
    wall_s: np.ndarray


@dataclass(frozen=True)
class FlowPartition:
    """A pixel after the flow: inputs, flow posteriors, routing decisions.

    Attributes:
        inputs: the input columns (``INPUT_COLUMNS``) as numpy arrays.
        status: (G,) "bad_input" / "cut" from ingestion, "bad_input" for too few bands, else None.
        seeds: (G,) uint64 galaxy seeds.
        bands_used: (G,) uint8 bitmask of the measured bands (``photometry.bands_used_mask``).
        accept_frac: (G,) flow accepted fraction (NaN without a flow posterior).
        fallback_reason: (G,) int32 :class:`~sedflow_dask.fallback.FallbackReason` bits.
        weights: ``WEIGHT_COLUMNS`` -> (G,) importance-weight diagnostics (NaN without a flow
            posterior).
        flow: the flow's posteriors of the usable rows.
        candidates: the rows routed to the fallback.
    """

    inputs: dict[str, np.ndarray]
    status: np.ndarray
    seeds: np.ndarray
    bands_used: np.ndarray
    accept_frac: np.ndarray
    fallback_reason: np.ndarray
    weights: dict[str, np.ndarray]
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


@dataclass(frozen=True)
class WeighedFlow:
    """The flow's posterior of a batch of galaxies, checked against the exact likelihood.

    Attributes:
        samples: (G, S, 11) the flow's box-space draws (NaN where it had none).
        model_flux: (G, S, 5) their model fluxes [nmgy].
        resampled: (G, S) indices into ``samples`` of the importance-resampled draws (-1 for a
            galaxy without a finite weight).
        kept: (G, S) indices of the draws the catalog keeps: ``resampled`` where the weights
            are trusted, the flow's own draws in order elsewhere.
        weights: the importance weights and their diagnostics.
        trusted: (G,) weights pass ``min_efficiency`` and ``max_khat``.
        accept_frac: (G,) the flow's in-box fraction.
        mixture: (G,) the galaxy's draws and weights are the defensive mixture's
            (``posterior.mixture``): the flow's own weights failed, the mixture's passed.
        flow_samples, flow_weights: the flow's own draws and their weights (``samples`` and
            ``weights`` before any mixture replaced a galaxy's).
    """

    samples: np.ndarray
    model_flux: np.ndarray
    resampled: np.ndarray
    kept: np.ndarray
    weights: ImportanceWeights
    trusted: np.ndarray
    accept_frac: np.ndarray
    mixture: np.ndarray
    flow_samples: np.ndarray
    flow_weights: ImportanceWeights

    def take(self, values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Per-draw ``values`` (G, S, ...) at ``indices`` (G, K) (NaN at -1 and at missing draws)."""
        rows = np.arange(values.shape[0])[:, None]
        picked = values[rows, np.maximum(indices, 0)]
        return np.where((indices >= 0).reshape(*indices.shape, *([1] * (values.ndim - 2))), picked, np.nan)

    @property
    def draws(self) -> np.ndarray:
        """(G, S, 11) float32 the kept draws."""
        return self.take(self.samples, self.kept).astype(np.float32)


def weighed_flow_batch(posterior: PosteriorModel, sps_model, flux: np.ndarray, sigma: np.ndarray, z: np.ndarray,
                       seeds: np.ndarray, n_samples: int, max_rounds: int, batch_galaxies: int,
                       fallback: FallbackConfig) -> WeighedFlow:
    """Flow draws of galaxies with fluxes and errors (G, 5) [nmgy] (NaN: absent band) and redshifts
    (G,), weighed against the Gaussian flux likelihood and resampled.

    A galaxy whose weights fail ``min_efficiency`` or ``max_khat`` gets a second proposal, the
    defensive mixture of the flow and a Student-t fitted to its weighted draws
    (``posterior.mixture``, t draws from its ``MIXTURE_SUBSTREAM``), when
    ``fallback.mixture_rescue`` is on; if the mixture's weights pass, its draws and weights
    replace the flow's. Each galaxy's resampling takes one uniform variate from its
    ``RESAMPLE_SUBSTREAM``, so the draws depend on its seed alone (and the batch, through
    float32 sums; ``resample`` re-runs the whole batch).
    """
    x = flow_inputs(flux, sigma, z)
    ps = sample_posteriors(posterior, x, n_samples, seeds=seeds, max_rounds=max_rounds,
                           batch_galaxies=batch_galaxies, log_density=True)
    log_q = ps.log_q
    if log_q is None:  # log_density=True always gives it
        raise RuntimeError("sample_posteriors returned no log q")
    weights, model_flux = weigh_draws(sps_model, ps.samples, log_q, z, flux, sigma, posterior.prior)
    flow_weights, samples, mixture = weights, ps.samples, np.zeros(len(z), dtype=bool)
    trusted = weights.trusted(fallback.min_efficiency, fallback.max_khat)
    if fallback.mixture_rescue and not trusted.all():
        samples, model_flux = samples.copy(), model_flux.copy()
        served: dict[int, ImportanceWeights] = {}
        for g in np.flatnonzero(~trusted):
            rng = galaxy_stream(int(seeds[g]), MIXTURE_SUBSTREAM)
            fit_box, fit_log_weights = ps.samples[g], weights.smoothed[g]
            for _ in range(fallback.mixture_rounds):  # each round's t is fitted to the last round's draws
                drawn = mixture_draws(posterior, x[g:g + 1], ps.samples[g], log_q[g], fit_box, fit_log_weights, rng,
                                      df=fallback.mixture_df, inflation=fallback.mixture_inflation,
                                      flow_fraction=fallback.mixture_flow_fraction)
                if drawn is None:
                    break
                box, mixture_log_q = drawn
                mixed, mixed_flux = weigh_draws(sps_model, box[None], mixture_log_q[None], z[g:g + 1],
                                                flux[g:g + 1], sigma[g:g + 1], posterior.prior)
                if mixed.trusted(fallback.min_efficiency, fallback.max_khat)[0]:
                    samples[g], model_flux[g], served[int(g)] = box, mixed_flux[0], mixed
                    mixture[g] = True
                    break
                fit_box, fit_log_weights = box, mixed.smoothed[0]
        if served:
            weights = weights.with_rows(served)
            trusted = weights.trusted(fallback.min_efficiency, fallback.max_khat)
    offsets = np.array([galaxy_stream(int(sd), RESAMPLE_SUBSTREAM).random() for sd in seeds])
    resampled = systematic_resample(weights.smoothed, offsets)
    as_drawn = np.where(np.isfinite(samples[:, :, 0]), np.arange(n_samples), -1)
    kept = np.where(trusted[:, None], resampled, as_drawn)
    return WeighedFlow(samples=samples, model_flux=model_flux, resampled=resampled, kept=kept, weights=weights,
                       trusted=trusted, accept_frac=ps.accept_frac, mixture=mixture, flow_samples=ps.samples,
                       flow_weights=flow_weights)


def sample_flow_posteriors(posterior: PosteriorModel, sps_model, flux: np.ndarray, sigma: np.ndarray,
                           z: np.ndarray, seeds: np.ndarray, sample: SamplingConfig, fallback: FallbackConfig, *,
                           n_init: int = 0) -> dict[str, np.ndarray]:
    """Weighed flow posteriors of galaxies (fluxes, errors (G, 5) [nmgy], NaN: absent; z (G,)), batch by batch.

    Returns arrays by name: summaries (G, 17, 7), chi2 (G,), n_filled (G,), stored (G,
    n_stored, 11), accept_frac (G,), trusted (G,), mixture (G,), the ``WEIGHT_COLUMNS`` (G,) and init (G,
    n_init, 11), the weight-resampled draws the fallback starts from; only
    ``sample.batch_galaxies`` galaxies' draws are in memory at a time.
    """
    g = z.shape[0]
    n_init = min(n_init, sample.n_samples)
    out = {"summaries": np.full((g, len(QUANTITY_NAMES), len(STAT_NAMES)), np.nan), "chi2": np.full(g, np.nan),
           "n_filled": np.zeros(g, dtype=np.int64),
           "stored": np.full((g, sample.n_stored, N_BOX), np.nan, dtype=np.float32),
           "accept_frac": np.full(g, np.nan), "trusted": np.zeros(g, dtype=bool), "mixture": np.zeros(g, dtype=bool),
           "init": np.full((g, n_init, N_BOX), np.nan, dtype=np.float32),
           **{c: np.full(g, np.nan) for c in WEIGHT_COLUMNS}}
    step = sample.batch_galaxies
    for start in range(0, g, step):
        b = slice(start, min(start + step, g))
        wf = weighed_flow_batch(posterior, sps_model, flux[b], sigma[b], z[b], seeds[b], sample.n_samples,
                                sample.max_rounds, step, fallback)
        out["summaries"][b] = summarize_draws(posterior_quantities(sps_model, wf.samples, z[b], wf.kept))
        out["chi2"][b] = median_flux_chi2(wf.take(wf.model_flux, wf.kept), flux[b], sigma[b])
        draws = wf.draws
        out["n_filled"][b] = np.sum(np.isfinite(draws[:, :, 0]), axis=1)
        out["stored"][b] = stored_draws(draws, sample.n_stored)
        out["accept_frac"][b] = wf.accept_frac
        out["trusted"][b] = wf.trusted
        out["mixture"][b] = wf.mixture
        for column, values in zip(WEIGHT_COLUMNS, (wf.weights.efficiency, wf.weights.khat, wf.weights.log_evidence,
                                                   wf.weights.log_evidence_se)):
            out[column][b] = values
        if n_init:
            out["init"][b] = stored_draws(wf.take(wf.samples, wf.resampled), n_init)
    return out


def infer_flow(frame: pd.DataFrame, posterior: PosteriorModel, sps_model, *, seed: int,
               sample: SamplingConfig, fallback: FallbackConfig, source: str = "input") -> FlowPartition:
    """Flow posteriors for the usable rows of one pixel, and which of them need the fallback.

    The data are the catalog's fluxes and inverse variances (``flux_*``, ``ivar_*``): a band is
    measured where both are finite and ivar > 0, whatever the flux's sign. Rows whose ingest bits
    mark bad input or a flag cut get no posterior; a row with fewer than ``MIN_BANDS`` measured
    bands or z outside the prior's (0, 0.2] is "bad_input" too. Galaxy seeds derive from
    (``seed``, nsaid) (data-contracts §7).
    """
    check_input_frame(frame, source)
    inputs = {c: frame[c].to_numpy() for c in INPUT_COLUMNS}
    g = len(frame)
    flux, sig = observations_from_catalog(
        np.column_stack([inputs[c] for c in FLUX_COLUMNS]).astype(np.float64).reshape(g, 5),
        np.column_stack([inputs[c] for c in IVAR_COLUMNS]).astype(np.float64).reshape(g, 5))
    z = inputs["z"].astype(np.float64)
    status = input_status(inputs["ingest_reason"])
    present = band_present(flux, sig)
    with np.errstate(invalid="ignore"):
        valid = (present.sum(axis=1) >= MIN_BANDS) & (z > 0) & (z <= posterior.prior.z_max)
    valid &= ~np.any(np.isinf(flux), axis=1)
    status[(status == None) & ~valid] = "bad_input"  # noqa: E711 (object array)
    usable = np.flatnonzero(status == None)  # noqa: E711
    seeds = galaxy_seeds(seed, inputs["nsaid"])
    flow = sample_flow_posteriors(posterior, sps_model, flux[usable], sig[usable], z[usable], seeds[usable], sample,
                                  fallback, n_init=N_INIT_DRAWS)
    accept = np.full(g, np.nan)
    accept[usable] = flow["accept_frac"]
    weights = {c: np.full(g, np.nan) for c in WEIGHT_COLUMNS}
    for c in WEIGHT_COLUMNS:
        weights[c][usable] = flow[c]
    reasons = np.zeros(g, dtype=np.int32)
    reasons[usable] = fallback_reasons(flow["is_efficiency"], flow["is_khat"], fallback)
    routed = reasons[usable] != 0
    status_u = flow_status(~routed, flow["is_efficiency"], fallback.ok_efficiency)
    status_u[flow["mixture"] & ~routed] = "reweighted"  # the flow alone was not good enough
    status_u[routed] = "skipped"  # until the fallback's result replaces it
    posteriors = Posteriors(rows=usable, summaries=flow["summaries"], chi2=flow["chi2"], n_samples=flow["n_filled"],
                            stored=flow["stored"], status=status_u, ess=np.full(usable.size, np.nan),
                            method=np.where(routed, "flow", np.where(flow["mixture"], "mixture", "importance")
                                            ).astype(object),
                            rhat=np.full(usable.size, np.nan), wall_s=np.full(usable.size, np.nan))
    rows = usable[routed]
    candidates = FallbackCandidates(rows=rows, nsaid=inputs["nsaid"][rows].astype(np.int64), flux=flux[rows],
                                    sigma=sig[rows], z=z[rows], seeds=seeds[rows], init=flow["init"][routed])
    return FlowPartition(inputs=inputs, status=status, seeds=seeds, bands_used=bands_used_mask(present),
                         accept_frac=accept, fallback_reason=reasons, weights=weights, flow=posteriors,
                         candidates=candidates)


def _joined(parts: list[FlowPartition], get, shift: bool = False) -> np.ndarray:
    """``get(part)`` of consecutive row ranges, concatenated; ``shift``: row positions made pixel-wide."""
    offsets = np.cumsum([0] + [p.n_rows for p in parts[:-1]])
    return np.concatenate([get(p) + o if shift else get(p) for p, o in zip(parts, offsets)])


def concat_flow_partitions(parts: list[FlowPartition]) -> FlowPartition:
    """One pixel's flow results from those of its consecutive row ranges (row positions shifted)."""
    if len(parts) == 1:
        return parts[0]
    flow = Posteriors(*(_joined(parts, lambda p, f=f: getattr(p.flow, f), shift=(f == "rows"))
                        for f in ("rows", "summaries", "chi2", "n_samples", "stored", "status", "ess", "method",
                                  "rhat", "wall_s")))
    return FlowPartition(inputs={c: _joined(parts, lambda p, c=c: p.inputs[c]) for c in parts[0].inputs},
                         status=_joined(parts, lambda p: p.status), seeds=_joined(parts, lambda p: p.seeds),
                         bands_used=_joined(parts, lambda p: p.bands_used),
                         accept_frac=_joined(parts, lambda p: p.accept_frac),
                         fallback_reason=_joined(parts, lambda p: p.fallback_reason),
                         weights={c: _joined(parts, lambda p, c=c: p.weights[c]) for c in WEIGHT_COLUMNS},
                         flow=flow, candidates=concat_candidates(parts))


def concat_candidates(parts: list[FlowPartition]) -> FallbackCandidates:
    """The routed galaxies of a pixel's consecutive row ranges (row positions shifted)."""
    return FallbackCandidates(*(_joined(parts, lambda p, f=f: getattr(p.candidates, f), shift=(f == "rows"))
                                for f in ("rows", "nsaid", "flux", "sigma", "z", "seeds", "init")))


def infer_fallback(candidates: FallbackCandidates, model, config: FallbackConfig, n_stored: int) -> Posteriors:
    """MCMC posteriors of routed galaxies (``model``: :func:`~sedflow_dask.fallback.fallback_model`).

    A chain is "mcmc" when it converged and its posterior-median model re-checks within
    ``config.max_chi2`` of the best fit it found (:func:`.core.fallback_status`), else "unconverged".
    """
    res = run_fallback(model, candidates.flux, candidates.sigma, candidates.z, seeds=candidates.seeds, init=candidates.init,
                       config=config, batch_galaxies=config.batch_galaxies)
    summaries = summarize_draws(posterior_quantities(model, res.samples, candidates.z))
    c2 = median_model_chi2(model, res.samples, candidates.z, candidates.flux, candidates.sigma)
    n = np.sum(np.isfinite(res.samples[:, :, 0]), axis=1)
    return Posteriors(rows=candidates.rows, summaries=summaries, chi2=c2, n_samples=n,
                      stored=stored_draws(res.samples, n_stored),
                      status=fallback_status(res.converged, c2, res.chi2_min, config.max_chi2),
                      ess=res.ess_bulk.astype(np.float64), method=np.full(len(candidates), "mcmc", dtype=object),
                      rhat=res.rhat.astype(np.float64), wall_s=res.wall_s.astype(np.float64))


def catalog_schema() -> pa.Schema:
    """The output catalog's columns (``docs/data-contracts.md`` §6; ``catalogs/README.md``)."""
    fields = [pa.field(c, pa.int64() if c in ("_healpix_29", "nsaid") else pa.float64())
              for c in INPUT_COLUMNS[:-3]]
    fields += [
        pa.field("ingest_reason", pa.int32()), pa.field("oos_noise", pa.bool_()), pa.field("oos_color", pa.bool_()),
        pa.field("bands_used", pa.uint8()), pa.field("status", pa.string()), pa.field("method", pa.string()), pa.field("fallback_reason", pa.int32()),
        pa.field("accept_frac", pa.float64()), *(pa.field(c, pa.float64()) for c in WEIGHT_COLUMNS),
        pa.field("chi2_median_model", pa.float64()),
        pa.field("n_samples", pa.int64()), pa.field("seed", pa.uint64()), pa.field("mcmc_ess", pa.float64()),
        pa.field("mcmc_rhat", pa.float64()), pa.field("mcmc_wall_s", pa.float64()),
    ]
    fields += [pa.field(f"{q}_{s}", pa.float64()) for q in QUANTITY_NAMES for s in STAT_NAMES]
    fields.append(pa.field("samples", pa.list_(pa.float32())))
    return pa.schema(fields)


def fallback_rows(table: pa.Table, n_stored: int) -> Posteriors:
    """The fallback's results (rows of method "mcmc") held by a written partition (``catalog_schema``).

    Row positions are the partition's; values round-trip exactly (float64 columns, float32 draws),
    so a finished partition rewritten with them keeps those rows as they were.
    """
    method = table.column("method").to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(method == "mcmc")
    sub = table.take(pa.array(rows))
    column = lambda name: sub.column(name).to_numpy(zero_copy_only=False).astype(np.float64)  # noqa: E731
    summaries = np.stack([np.stack([column(f"{q}_{s}") for s in STAT_NAMES], axis=-1) for q in QUANTITY_NAMES],
                         axis=1) if rows.size else np.empty((0, len(QUANTITY_NAMES), len(STAT_NAMES)))
    flat = sub.column("samples").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return Posteriors(rows=rows, summaries=summaries, chi2=column("chi2_median_model"),
                      n_samples=sub.column("n_samples").to_numpy().astype(np.int64),
                      stored=flat.astype(np.float32).reshape(rows.size, n_stored, N_BOX),
                      status=sub.column("status").to_numpy(zero_copy_only=False).astype(object),
                      ess=column("mcmc_ess"), method=method[rows].astype(object), rhat=column("mcmc_rhat"),
                      wall_s=column("mcmc_wall_s"))


def partition_table(part: FlowPartition, fallback_results: list[Posteriors], n_stored: int) -> pa.Table:
    """The pixel's output rows: every input row once, with its status.

    Rows routed to the fallback but absent from ``fallback_results`` (fallback disabled or
    capped) keep the flow's unweighted posterior, status "skipped", method "flow".
    """
    g = part.n_rows
    status = part.status.copy()
    method = np.full(g, None, dtype=object)
    summaries = np.full((g, len(QUANTITY_NAMES), len(STAT_NAMES)), np.nan)
    c2 = np.full(g, np.nan)
    n_samples = np.zeros(g, dtype=np.int64)
    ess, rhat, wall_s = np.full(g, np.nan), np.full(g, np.nan), np.full(g, np.nan)
    stored = np.full((g, n_stored, N_BOX), np.nan, dtype=np.float32)
    has = np.zeros(g, dtype=bool)

    def put(p: Posteriors) -> None:
        summaries[p.rows], c2[p.rows], n_samples[p.rows], ess[p.rows] = p.summaries, p.chi2, p.n_samples, p.ess
        rhat[p.rows], wall_s[p.rows] = p.rhat, p.wall_s
        stored[p.rows] = p.stored
        status[p.rows] = p.status
        method[p.rows] = p.method
        has[p.rows] = True

    put(part.flow)
    for p in fallback_results:
        put(p)
    schema = catalog_schema()
    cols: dict[str, pa.Array] = {c: pa.array(part.inputs[c], type=schema.field(c).type) for c in INPUT_COLUMNS}
    cols.update({
        "bands_used": pa.array(part.bands_used, pa.uint8()),
        "status": pa.array(status.tolist(), pa.string()),
        "method": pa.array(method.tolist(), pa.string()),
        "fallback_reason": pa.array(part.fallback_reason, pa.int32()),
        "accept_frac": pa.array(part.accept_frac, pa.float64(), mask=np.isnan(part.accept_frac)),
        **{c: pa.array(part.weights[c], pa.float64(), mask=np.isnan(part.weights[c])) for c in WEIGHT_COLUMNS},
        "chi2_median_model": pa.array(c2, pa.float64(), mask=~has | np.isnan(c2)),
        "n_samples": pa.array(n_samples, pa.int64()),
        "seed": pa.array(part.seeds, pa.uint64()),
        "mcmc_ess": pa.array(ess, pa.float64(), mask=np.isnan(ess)),
        "mcmc_rhat": pa.array(rhat, pa.float64(), mask=np.isnan(rhat)),
        "mcmc_wall_s": pa.array(wall_s, pa.float64(), mask=np.isnan(wall_s)),
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
