"""One block of the mock NSA at a time: the plan (options, labels, models) and the block generator.

Pure numpy, no I/O; :mod:`.write` puts the blocks into files. A block draws its galaxies
(:mod:`.galaxies`), writes the labelled bad values (:mod:`.labels`), dresses the rows in NSA
columns and flag words (:mod:`.columns`) and states its truth (:mod:`.truth`), each from random
streams of its own, so blocks can be made in any order. ``docs/mock-nsa.md`` is the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..noise.model import NoiseModel
from ..photometry import BANDS, COLOUR_PAIRS, flux_to_mag, ivar_from_sigma_mag
from ..survey.nsa import check_version
from ..survey.sdss import sdss_objid
from .columns import catalog_rows, companion_tables, flag_words
from .galaxies import (
    Z_MAX,
    draw_galaxies,
    golden_photometry,
    observe,
    reference_colour_quantiles,
    shipped_colour_quantiles,
)
from .labels import (
    FLAG_DEFECTS,
    PATHOLOGIES,
    PATHOLOGY_CODE,
    STREAM_CANDIDATES,
    STREAM_OBSERVE,
    MockLabels,
    assign_labels,
    inject_bad_values,
    stream_rng,
)
from .schema import flags_dtype
from .truth import truth_columns


@dataclass(frozen=True)
class MockPlan:
    """Everything a block of mock rows depends on; :func:`generate_block` is pure given it.

    Attributes:
        n: catalog galaxies besides the two golden rows (rows in the file: n + 2).
        seed: run seed (>= 0).
        nsa_version: "v1_0_1" or "v0_1_2" (column names, z_max).
        p_fail: fraction of rows with one flag defect.
        flags_inside: also write the flag columns into the catalog table.
        block_rows: rows per generated and written block (the output depends on it).
        noise_model: the noise model drawing σ_m.
        model: the forward model (``PROVABGSModel``).
        colour_quantiles: (10,) training 0.1th percentiles of the ugriz colours [mag].
        labels: the per-row labels.
        colour_source: where ``colour_quantiles`` came from ("given", "shipped training set"
            or "reference sample").
    """

    n: int
    seed: int
    nsa_version: str
    p_fail: float
    flags_inside: bool
    block_rows: int
    noise_model: NoiseModel
    model: Any
    colour_quantiles: np.ndarray
    labels: MockLabels = field(repr=False)
    colour_source: str = "given"

    @property
    def n_rows(self) -> int:
        return self.n + 2

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_rows / self.block_rows)

    def block_slice(self, k: int) -> slice:
        return slice(k * self.block_rows, min((k + 1) * self.block_rows, self.n_rows))

    def counts(self) -> dict[str, int]:
        """Rows per pathology, flag defect and flag feature (exact, known before generation)."""
        lab = self.labels
        out = {f"pathology.{name}": int(np.sum(lab.pathology == i)) for i, name in enumerate(PATHOLOGIES)}
        out.update({f"flag_defect.{name}": int(np.sum(lab.defect == i)) for i, name in enumerate(FLAG_DEFECTS)})
        out["flag_defect.single_band"] = int(np.sum(lab.defect_band >= 0))
        out["deblend_nopeak"] = int(np.sum(lab.deblend > 0))
        out["deblend_nopeak.psf_err_gt_0.2"] = int(np.sum(lab.deblend == 2))
        out["flags_missing"] = int(lab.omitted.sum())
        out["rows"] = self.n_rows
        return out


def plan_mock_nsa(n: int, *, seed: int = 0, nsa_version: str = "v1_0_1", noise_model: NoiseModel | None = None,
                  p_fail: float = 0.30, flags_inside: bool = False, block_rows: int = 65_536, model=None,
                  colour_quantiles=None) -> MockPlan:
    """Validate the options, assign the labels and build (or reuse) the models."""
    from ..noise import load_noise_model
    from ..sps import PROVABGSModel

    check_version(nsa_version)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= float(p_fail) <= 1.0:
        raise ValueError(f"p_fail must lie in [0, 1], got {p_fail!r}")
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if noise_model is None or not isinstance(noise_model, NoiseModel):
        noise_model = load_noise_model(noise_model)
    model = model if model is not None else PROVABGSModel()
    source = "given"
    if colour_quantiles is None:
        q = shipped_colour_quantiles(model, noise_model)
        source = "shipped training set"
        if q is None:
            q, source = reference_colour_quantiles(model, noise_model), "reference sample"
    else:
        q = np.asarray(colour_quantiles, dtype=np.float64)
        if q.shape != (len(COLOUR_PAIRS),) or not np.all(np.isfinite(q)):
            raise ValueError(f"colour_quantiles must be {len(COLOUR_PAIRS)} finite numbers (u-g, u-r, ... i-z)")
    return MockPlan(n=int(n), seed=int(seed), nsa_version=nsa_version, p_fail=float(p_fail),
                    flags_inside=bool(flags_inside), block_rows=int(block_rows), noise_model=noise_model,
                    model=model, colour_quantiles=q, labels=assign_labels(int(n), int(seed), float(p_fail)),
                    colour_source=source)


@dataclass(frozen=True)
class MockBlock:
    """One block of output rows.

    Attributes:
        catalog: structured big-endian rows of the NSA table (FITS-ready).
        flags: companion rows (64-bit words) of the block's rows that are not omitted, shuffled.
        flags_split: the same rows with the object word as FLAGS1/FLAGS2 int32.
        truth: column name -> array, one entry per catalog row, in catalog order.
    """

    catalog: np.ndarray
    flags: np.ndarray
    flags_split: np.ndarray
    truth: dict[str, np.ndarray]


def generate_block(plan: MockPlan, k: int) -> MockBlock:
    """Rows ``plan.block_slice(k)`` of the mock: catalog, flag companions and truth."""
    sl = plan.block_slice(k)
    lab = plan.labels.block(sl)
    golden = lab.rows_with("golden_1", "golden_2")
    colour_rows = lab.rows_with("colour_outlier")

    gal = draw_galaxies(plan.model, plan.noise_model, plan.colour_quantiles, Z_MAX[plan.nsa_version], colour_rows,
                        stream_rng(plan.seed, STREAM_CANDIDATES, k))
    rng = stream_rng(plan.seed, STREAM_OBSERVE, k)
    m_true = flux_to_mag(gal.flux_true)
    noisy = np.flatnonzero(lab.rows_with("noise_outlier"))
    sigma, sigma_reported, f_obs = observe(plan.noise_model, plan.colour_quantiles, gal.flux_true, m_true, noisy,
                                           lab.pathology_band[noisy], colour_rows, golden, rng)
    flux32 = f_obs.astype(np.float32)
    ivar32 = ivar_from_sigma_mag(flux32, sigma_reported).astype(np.float32)
    z_true = gal.z.copy()
    z_cat = gal.z.astype(np.float32)

    # Golden rows: verbatim photometry and redshift, no truth θ.
    if golden.any():
        gflux, givar, gz = golden_photometry()
        gi = np.flatnonzero(golden)
        which = (lab.pathology[gi] == PATHOLOGY_CODE["golden_2"]).astype(int)
        flux32[gi], ivar32[gi], z_cat[gi] = gflux[which], givar[which], gz[which]
        z_true[gi] = gz[which]
        m_true[gi] = flux_to_mag(flux32[gi])
        gal.theta_box[gi] = np.nan
        gal.flux_true[gi] = np.nan

    inject_bad_values(lab, flux32, ivar32, z_cat, rng)
    cat, aux = catalog_rows(plan.nsa_version, plan.flags_inside, lab.nsaid, flux32, ivar32, z_cat, m_true, rng)
    words, psf_err = flag_words(lab, sigma, golden, rng)
    objid = sdss_objid(aux["run"], aux["camcol"], aux["field"], rng.integers(1, 2000, lab.nsaid.size))
    if plan.flags_inside:
        cat["FLAGS"] = words["object"].view(np.int64)
        band_i64 = words["bands"].view(np.int64)
        for j, band in enumerate(BANDS):
            cat[f"FLAGS_{band.upper()}"] = band_i64[:, j]
            cat[f"PSFMAGERR_{band.upper()}"] = psf_err[:, j]
        cat["OBJID"] = objid

    keep = ~lab.omitted
    order = np.flatnonzero(keep)[rng.permutation(int(keep.sum()))]   # companions are not in catalog order
    flags = np.zeros(order.size, dtype=flags_dtype(split=False))
    split = np.zeros(order.size, dtype=flags_dtype(split=True))
    companion_tables(flags, split, lab.nsaid, objid, words, psf_err, order)

    truth = truth_columns(lab, np.arange(sl.start, sl.stop), gal, z_true, z_cat, flux32, ivar32,
                          theta_ok=~golden & ~colour_rows, edge=words["edge"], dflags_bad=aux["dflags_bad"])
    return MockBlock(catalog=cat, flags=flags, flags_split=split, truth=truth)
