"""Pure generation (numpy, no I/O) of mock NSA rows, their flag words and their truth.

Galaxies come from the forward model and the noise model (issue 3); ``docs/nsa-ingest.md`` §6
supplies ranges, schema details and pathologies. Per row:

1. θ from the SEDflow prior (box space), z ~ Gamma(3, 0.012) truncated to [0.002, z_max]
   (z_max 0.15 for v1_0_1, 0.055 for v0_1_2), rounded to float32 first so that the redshift
   the forward model saw is exactly the one stored in the catalog.
2. Noiseless ugriz fluxes f [nmgy] from ``PROVABGSModel.photometry``. A target r magnitude is
   drawn from the §6.4 mixture (85 % p(r) ∝ 10^(0.5 r) on [13, 17.77], 10 % U[10, 13], 5 %
   U[17.77, 20.5]); since the stellar mass only scales the flux, log_mstar is shifted by
   Δ = 0.4 (r_model − r_target) and f by 10^Δ. A candidate is redrawn (θ, z and r_target all
   anew) when the shifted log_mstar leaves the prior box [7, 12.5], when a noiseless magnitude
   leaves the noise model's valid range, or when a noiseless colour is bluer than the training
   set's 0.1th percentile (:func:`shipped_colour_quantiles`, else
   :func:`reference_colour_quantiles`), so that ordinary mock galaxies
   lie inside the training support. The realised r and z distributions are therefore the
   mixture and the Gamma conditioned on that support.
3. σ_m per band from the noise model's N(μ(m), s(m)) truncated to [floor·(1 + 1e-6),
   μ + 2.5 s] — equivalent to resampling until inside. The lower end keeps NSA's invariant
   σ_m ≥ kcorrect floor (the 1e-6 absorbs float32 storage); the upper end keeps ordinary
   galaxies out of the paper's noise-outlier class (σ > μ + 3 s), so that only injected rows
   are noise outliers.
4. Noisy flux f̂ = f + N(0, 0.921 f σ_m) (noiseless flux in the error, as the training set
   does), redrawn where f̂ <= 0; ivar = 1 / (0.921 f̂ σ_m)², i.e. NSA's ivar describes the
   measured flux, and the ingest's σ_m = 1.0857 / (f̂ √ivar) recovers σ_m exactly.
5. A row whose observed values would fall on the wrong side of the paper's out-of-support
   tests for its label (σ > μ + 3 s at the *noisy* magnitude, or a noisy colour below the
   training percentile — a faint u band's own noise can do either) gets σ_m and noise redrawn,
   so ``injected_oos_noise``/``injected_oos_color`` are exactly what those tests find with the
   plan's noise model and colour quantiles.

Injected pathologies (§6.5) are assigned up front with exact counts (round(rate · n)), on
disjoint rows; flag defects (§6.6) likewise. Expected reason bits and clean results are set
by construction from those labels, never by evaluating the ingest's rules.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammainc, gammaincinv, ndtr, ndtri

from ..ingest import sdss_flags as sf
from ..ingest.reasons import IngestReason
from ..noise.model import NoiseModel
from ..photometry import (
    BANDS,
    COLOUR_PAIRS,
    KCORRECT_FLOORS,
    N_BANDS,
    colours,
    flux_to_mag,
    ivar_from_sigma_mag,
    mag_to_flux,
    sigma_flux_from_mag,
    sigma_mag_from_ivar,
)
from ..sps.parameters import BOX_LOWER, BOX_UPPER, N_BOX, PHYSICAL_NAMES, box_to_physical, draw_box_prior
from .schema import N_NSA_BANDS, PROFMEAN_SHAPE, UGRIZ_SLICE, catalog_dtype, catalog_name, check_version, flags_dtype

# --- redshift (§6.3) --------------------------------------------------------------------------
Z_GAMMA_SHAPE = 3.0
Z_GAMMA_SCALE = 0.012
Z_MIN = 0.002
Z_MAX: dict[str, float] = {"v1_0_1": 0.15, "v0_1_2": 0.055}

# --- brightness (§6.4): (weight, kind, lo, hi) --------------------------------------------------
R_MIXTURE: tuple[tuple[float, str, float, float], ...] = (
    (0.85, "exp0.5", 13.0, 17.77),
    (0.10, "uniform", 10.0, 13.0),
    (0.05, "uniform", 17.77, 20.5),
)

# --- noise -------------------------------------------------------------------------------------
#: Ordinary σ_m is kept at least this relative margin above the floor, so that σ recomputed
#: from the float32 flux and ivar (relative error ~1e-7) is still >= the floor.
FLOOR_MARGIN = 1e-6
#: Ordinary σ_m is truncated at μ + ORDINARY_SIGMA_MAX · s (the paper's outlier test is μ + 3 s,
#: evaluated at the noisy magnitude, hence the margin).
ORDINARY_SIGMA_MAX = 2.5
#: Noise outliers: one band's σ_m × U(5, 20), and at least this factor above μ + 3 s.
NOISE_OUTLIER_FACTOR = (5.0, 20.0)
NOISE_OUTLIER_MIN_EXCESS = 1.5
#: Margins of the label check at the noisy magnitudes: ordinary rows stay below μ + 2.9 s and
#: 0.01 mag above the colour limits, outliers beyond μ + 3.1 s and 0.01 mag below them.
OOS_MARGIN_SIGMA = 0.1
OOS_MARGIN_COLOUR = 0.01

# --- colour outliers ---------------------------------------------------------------------------
#: u−g and i−z are set this much [mag] bluer than the training 0.1th percentile (plus U(0, 0.3)):
#: several times the colour noise at the magnitudes involved, so the ingest's OOS_COLOR test
#: flags them whatever the seed. (§6.5 says "3σ bluer than the mean", which can stay inside the
#: support; the intent — bluer than the training data — is what is kept.)
COLOUR_OUTLIER_MARGIN = (0.3, 0.6)
COLOUR_QUANTILE = 0.001
REFERENCE_SAMPLE = 65_536
#: Fixed seed of the training-like reference sample: every mock shares the same colour limits.
REFERENCE_SEED = 20220315

# --- auxiliary columns (§6.2, §6.4) ------------------------------------------------------------
EXTINCTION_R = (8.29, 8.18, 5.155, 3.793, 2.751, 2.086, 1.479)  # FNugriz, dimage atlas_kcorrect
EBV_MEDIAN, EBV_SIGMA_LN, EBV_RANGE = 0.03, 0.6, (0.005, 0.3)
GALEX_FLOOR = 0.04
GALEX_COVERAGE = 0.70
#: GALEX magnitude where the statistical σ_m is 0.217 mag (S/N 5) — an AIS-like depth.
GALEX_DEPTH = 22.5
ELPETRO_DELTA = (0.1, 0.05)
DFLAGS_RATE = 0.02
ZDIST_SIGMA = 0.0005
ZSRC_SDSS_FRACTION = 0.9
SPECTRUM_FRACTION = 0.85
RA_RANGE = (110.0, 260.0)
DEC_RANGE = (-5.0, 70.0)
IN_DR7_LSS_FRACTION = 0.6

# --- pathologies (§6.5) ------------------------------------------------------------------------
#: Row labels, in code order (the truth's ``pathology`` column holds these names).
PATHOLOGIES: tuple[str, ...] = (
    "none", "noise_outlier", "colour_outlier", "nonpositive_flux", "zero_ivar", "negative_ivar",
    "nan_flux", "nan_z", "negative_z", "z_above_range", "golden_1", "golden_2",
)
PATHOLOGY_RATES: dict[str, float] = {
    "noise_outlier": 0.015, "colour_outlier": 0.003, "nonpositive_flux": 0.003, "zero_ivar": 0.003,
    "negative_ivar": 0.001, "nan_flux": 0.001, "nan_z": 0.001, "negative_z": 0.002, "z_above_range": 0.001,
}
_P = {name: np.int8(i) for i, name in enumerate(PATHOLOGIES)}
#: Data-validity reason bit each pathology sets (the others set none).
PATHOLOGY_REASON: dict[str, IngestReason] = {
    "nonpositive_flux": IngestReason.NONPOSITIVE_FLUX,
    "zero_ivar": IngestReason.BAD_IVAR,
    "negative_ivar": IngestReason.BAD_IVAR,
    "nan_flux": IngestReason.NONFINITE_FLUX,
    "nan_z": IngestReason.Z_INVALID,
    "negative_z": IngestReason.Z_OUT_OF_RANGE,
    "z_above_range": IngestReason.Z_OUT_OF_RANGE,
}
#: Pathologies that touch one ugriz band (the truth's ``pathology_band``).
BAND_PATHOLOGIES = frozenset({"noise_outlier", "nonpositive_flux", "zero_ivar", "negative_ivar", "nan_flux"})

#: The two golden rows of ``nsa-ingest.md`` §5, appended with NSAIDs n and n + 1.
#: (i): fluxes [nmgy], ivars [nmgy⁻²], z; σ_r ≈ 0.116, a clear noise outlier.
GOLDEN_1 = {
    "flux": (35.560593, 91.709236, 139.84373, 169.70816, 194.97598),
    "ivar": (0.22200741, 0.30760366, 0.00446658, 0.05008115, 0.01728794),
    "z": 0.0351418,
}
#: (ii): the paper's conditioning vector x = (m_ugriz, σ_ugriz, z); σ_i = 0.177 (timed out).
GOLDEN_2_X = (18.714787, 18.016953, 17.825827, 17.731255, 17.677258,
              0.08050386, 0.02300007, 0.02354047, 0.17673106, 0.06297234, 0.02071856)

# --- flag companion (§6.6) ---------------------------------------------------------------------
#: SDSS STATIONARY (flags2 bit 4, 0x1000000000; sqlloader DataConstants PhotoFlags): benign and
#: common, it guarantees bits >= 32 in many rows whatever p_fail is.
STATIONARY = 0x1000000000
BENIGN_RATES: dict[str, float] = {"CHILD": 0.30, "BLENDED": 0.10, "INTERP": 0.10, "EDGE": 0.02,
                                  "STATIONARY": 0.50, "MOVED": 0.01}
#: COSMIC_RAY alone and INTERP_CENTER alone, never both (together they are a defect).
CR_ALONE_RATE = 0.05
IC_ALONE_RATE = 0.05
#: The defects a failing row gets exactly one of, in code order (code 0 = none).
FLAG_DEFECTS: tuple[str, ...] = (
    "none", "PEAKCENTER", "NOTCHECKED", "PSF_FLUX_INTERP", "BAD_COUNTS_ERROR", "SATURATED",
    "NOPROFILE", "INTERP_CENTER+COSMIC_RAY", "BINNED1_CLEARED",
)
_DEFECT_BITS: tuple[int, ...] = (
    0, sf.PEAKCENTER, sf.NOTCHECKED, sf.PSF_FLUX_INTERP, sf.BAD_COUNTS_ERROR, sf.SATURATED,
    sf.NOPROFILE, sf.INTERP_CENTER | sf.COSMIC_RAY, sf.BINNED1,
)
_BINNED1_CLEARED = len(FLAG_DEFECTS) - 1
#: Fraction of defective rows whose defect sits in one band's word only (object word clean).
SINGLE_BAND_DEFECT_FRACTION = 0.10
DEBLEND_NOPEAK_RATE = 0.03
OMITTED_RATE = 0.01
FLAG_PRESETS: tuple[str, ...] = ("sedflow2022", "sdss_clean_extended", "sdss_clean_point")
FLAG_MODES: tuple[str, ...] = ("object", "per_band")
#: SDSS objID packing (sqlloader PhotoTables): skyVersion 2, rerun 301 give ~1.2376e18.
_OBJID_SKYVERSION, _RERUN = 2, 301

_STREAM_LABELS, _STREAM_CANDIDATES, _STREAM_OBSERVE = 0, 1, 2


def _rng(seed: int, stream: int, block: int = 0) -> np.random.Generator:
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


def assign_labels(n: int, seed: int, p_fail: float) -> MockLabels:
    """Exact-count, disjoint pathology rows and flag defects for a mock of ``n`` rows."""
    rng = _rng(seed, _STREAM_LABELS)
    n_rows = n + 2
    nsaid = np.concatenate([rng.permutation(n), [n, n + 1]]).astype(np.int32)

    pathology = np.zeros(n_rows, np.int8)
    order = rng.permutation(n)
    start = 0
    for name, k in pathology_counts(n).items():
        pathology[order[start:start + k]] = _P[name]
        start += k
    pathology[n], pathology[n + 1] = _P["golden_1"], _P["golden_2"]
    band_rows = np.isin(pathology, [_P[p] for p in BAND_PATHOLOGIES])
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


# --- physics helpers ---------------------------------------------------------------------------

def draw_redshifts(n: int, rng: np.random.Generator, z_max: float) -> np.ndarray:
    """Gamma(3, 0.012) truncated to [Z_MIN, z_max] by inverse CDF, rounded to float32 values."""
    lo, hi = gammainc(Z_GAMMA_SHAPE, Z_MIN / Z_GAMMA_SCALE), gammainc(Z_GAMMA_SHAPE, z_max / Z_GAMMA_SCALE)
    z = Z_GAMMA_SCALE * gammaincinv(Z_GAMMA_SHAPE, lo + (hi - lo) * rng.random(n))
    # Stored as float32 'E': the forward model must see the value the catalog holds.
    return np.clip(z, Z_MIN, z_max).astype(np.float32).astype(np.float64)


def draw_r_targets(n: int, rng: np.random.Generator) -> np.ndarray:
    """Target r magnitudes [AB] from the §6.4 mixture."""
    weights = np.array([w for w, *_ in R_MIXTURE])
    comp = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right")
    u = rng.random(n)
    r = np.empty(n)
    for k, (_, kind, lo, hi) in enumerate(R_MIXTURE):
        sel = comp == k
        if kind == "uniform":
            r[sel] = lo + (hi - lo) * u[sel]
        else:  # p(r) ∝ 10^(0.5 r): inverse CDF of an exponential in r
            b = 0.5 * np.log(10.0)
            r[sel] = np.log(np.exp(b * lo) + u[sel] * (np.exp(b * hi) - np.exp(b * lo))) / b
    return r


def truncated_normal(mu: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """N(mu, s) truncated to [lo, hi] by inverse CDF (s = 0 or an empty window: mu clipped)."""
    mu, s = np.broadcast_arrays(np.asarray(mu, float), np.asarray(s, float))
    lo, hi = np.broadcast_to(lo, mu.shape), np.broadcast_to(hi, mu.shape)
    u = rng.random(mu.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = ndtr((lo - mu) / s), ndtr((hi - mu) / s)
        x = mu + s * ndtri(a + u * (b - a))
    fallback = ~(s > 0) | ~(b - a > 1e-12) | ~np.isfinite(x)
    return np.clip(np.where(fallback, mu, x), lo, hi)


def reference_colour_quantiles(model, noise_model: NoiseModel, n: int = REFERENCE_SAMPLE,
                               quantile: float = COLOUR_QUANTILE, seed: int = REFERENCE_SEED) -> np.ndarray:
    """The 10 ugriz colours' ``quantile`` in a training-like sample [mag].

    Prior θ, z ~ U(1e-4, 0.2], noiseless fluxes, σ' ~ N(μ, s), f̂ = f + N(0, 0.921 f σ'), rows
    dropped by the paper's rules (range, σ' < 0, f̂ <= 0), colours of the noisy magnitudes —
    what ``sedflow simulate`` records as its training colour quantiles. Estimated from ``n`` draws
    (~1/3 kept), so good to a few hundredths of a magnitude; pass a training set's own
    quantiles to :func:`plan_mock_nsa` instead where one exists.
    """
    rng = _rng(seed, 0)
    theta, z = draw_box_prior(n, rng)
    f = model.photometry(theta, z, space="box", unit="nanomaggies")
    m = flux_to_mag(f)
    sigma = noise_model.draw_sigmas(np.nan_to_num(m, nan=99.0), rng)
    f_obs = f + sigma_flux_from_mag(f, np.abs(sigma)) * rng.standard_normal(f.shape)
    keep = noise_model.in_range(m) & np.all(sigma >= 0, axis=1) & np.all(f_obs > 0, axis=1)
    return np.quantile(colours(flux_to_mag(f_obs[keep])), quantile, axis=0)


def shipped_colour_quantiles(model, noise_model: NoiseModel) -> np.ndarray | None:
    """The default training set's colour quantiles shipped with the package, if they apply.

    They apply when that training set used the same noise model, SSP table and forward-model
    options (its provenance records their hashes and the ``sps`` options); then the mock's
    ordinary galaxies sit inside exactly the support ``sedflow ingest`` tests by default.
    """
    try:
        from ..simulate.io import DEFAULT_QUANTILES_PATH, training_colour_quantiles

        prov = json.loads(Path(DEFAULT_QUANTILES_PATH).read_text()).get("provenance", {})
        table = getattr(model, "table", None)
        config = getattr(model, "config", None)
        if (prov.get("noise_sha256") != noise_model.sha256()
                or table is None or prov.get("ssp_sha256") != table.sha256
                or config is None or prov.get("sps") != config.to_dict()):
            return None
        return training_colour_quantiles(DEFAULT_QUANTILES_PATH)
    except (ImportError, OSError, ValueError, AttributeError, KeyError):
        return None


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


# --- one block ---------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class _Galaxies:
    theta_box: np.ndarray   # (B, 11)
    z: np.ndarray           # (B,)
    flux_true: np.ndarray   # (B, 5) nmgy
    r_target: np.ndarray    # (B,)


def _draw_galaxies(plan: MockPlan, colour_rows: np.ndarray, rng: np.random.Generator) -> _Galaxies:
    """Accepted galaxies for a block: ordinary rows and colour-outlier rows (``colour_rows``)."""
    b = colour_rows.size
    need_ord, need_col = int(np.sum(~colour_rows)), int(np.sum(colour_rows))
    z_max = Z_MAX[plan.nsa_version]
    nm, q = plan.noise_model, plan.colour_quantiles
    (i_ug,), (i_iz,) = (np.flatnonzero([p == pair for p in COLOUR_PAIRS]) for pair in ((0, 1), (3, 4)))
    got_ord: list[tuple] = []
    got_col: list[tuple] = []
    n_ord = n_col = 0
    accept = 0.6
    while n_ord < need_ord or n_col < need_col:
        missing = max(need_ord - n_ord, 0) + max(need_col - n_col, 0)
        m = int(missing / accept * 1.1) + 64
        theta, _ = draw_box_prior(m, rng)
        z = draw_redshifts(m, rng, z_max)
        r_target = draw_r_targets(m, rng)
        margin = rng.uniform(*COLOUR_OUTLIER_MARGIN, size=(m, 2))
        flux = plan.model.photometry(theta, z, space="box", unit="nanomaggies")
        mag = flux_to_mag(flux)
        delta = 0.4 * (mag[:, 2] - r_target)          # dex of mass that brings r to its target
        theta[:, 0] += delta
        flux *= 10.0 ** delta[:, None]
        mag -= 2.5 * delta[:, None]
        ok_mass = (theta[:, 0] >= BOX_LOWER[0]) & (theta[:, 0] <= BOX_UPPER[0])
        col = colours(mag)
        ok_ord = ok_mass & nm.in_range(mag) & np.all(col >= q, axis=1)
        # Colour outlier: u brighter and z fainter until u−g and i−z are well below the
        # training 0.1th percentiles; every colour involving u or z gets bluer too.
        d_u = col[:, i_ug] - (np.minimum(col[:, i_ug], q[i_ug]) - margin[:, 0])
        d_z = col[:, i_iz] - (np.minimum(col[:, i_iz], q[i_iz]) - margin[:, 1])
        mag_col = mag.copy()
        mag_col[:, 0] -= d_u
        mag_col[:, 4] += d_z
        ok_col = ok_mass & nm.in_range(mag_col)
        flux_col = flux.copy()
        flux_col[:, 0] *= 10.0 ** (0.4 * d_u)
        flux_col[:, 4] *= 10.0 ** (-0.4 * d_z)
        io = np.flatnonzero(ok_ord)[: max(need_ord - n_ord, 0)]
        ok_col[io] = False                                   # a candidate serves one row only
        ic = np.flatnonzero(ok_col)[: max(need_col - n_col, 0)]
        got_ord.append((theta[io], z[io], flux[io], r_target[io]))
        got_col.append((theta[ic], z[ic], flux_col[ic], r_target[ic]))
        n_ord += io.size
        n_col += ic.size
        accept = max(np.mean(ok_ord), 0.05)
    theta_box = np.empty((b, N_BOX))
    z = np.empty(b)
    flux_true = np.empty((b, N_BANDS))
    r_target = np.empty(b)
    for rows, parts in ((~colour_rows, got_ord), (colour_rows, got_col)):
        if not parts:
            continue
        theta_box[rows] = np.concatenate([p[0] for p in parts])
        z[rows] = np.concatenate([p[1] for p in parts])
        flux_true[rows] = np.concatenate([p[2] for p in parts])
        r_target[rows] = np.concatenate([p[3] for p in parts])
    return _Galaxies(theta_box=theta_box, z=z, flux_true=flux_true, r_target=r_target)


def _iau_names(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """IAU names 'JHHMMSS.ss±DDMMSS.s' (19 bytes, truncated, not rounded), vectorised."""
    cs = np.floor(ra / 15.0 * 360_000).astype(np.int64)       # centiseconds of time
    ds = np.floor(np.abs(dec) * 36_000).astype(np.int64)      # tenths of arcseconds
    out = np.empty((ra.size, 19), np.uint8)

    def put(col: int, values: np.ndarray, width: int) -> None:
        for k in range(width):
            out[:, col + width - 1 - k] = ord("0") + values // 10**k % 10

    out[:, 0] = ord("J")
    put(1, cs // 360_000, 2)
    put(3, cs // 6_000 % 60, 2)
    put(5, cs // 100 % 60, 2)
    out[:, 7] = ord(".")
    put(8, cs % 100, 2)
    out[:, 10] = np.where(dec < 0, ord("-"), ord("+"))
    put(11, ds // 36_000, 2)
    put(13, ds // 600 % 60, 2)
    put(15, ds // 10 % 60, 2)
    out[:, 17] = ord(".")
    put(18, ds % 10, 1)
    return out.view("S19").ravel()


def split_words(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """64-bit flag words -> (bits 0-31, bits 32-63), each as the int32 with that bit pattern."""
    w = np.asarray(words).view(np.uint64) if np.asarray(words).dtype.kind == "i" else np.asarray(words, np.uint64)
    return ((w & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32),
            (w >> np.uint64(32)).astype(np.uint32).view(np.int32))


def _golden_photometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2, 5) fluxes, (2, 5) ivars and (2,) redshifts of the golden rows, float32 as written."""
    x = np.asarray(GOLDEN_2_X, dtype=np.float64)
    f2 = mag_to_flux(x[:5])
    flux = np.stack([np.asarray(GOLDEN_1["flux"]), f2]).astype(np.float32)
    ivar = np.stack([np.asarray(GOLDEN_1["ivar"]),
                     ivar_from_sigma_mag(f2, x[5:10])]).astype(np.float32)
    return flux, ivar, np.array([GOLDEN_1["z"], x[10]], dtype=np.float32)


def _observe(plan: MockPlan, flux_true: np.ndarray, m_true: np.ndarray, noisy: np.ndarray, noisy_band: np.ndarray,
             colour_rows: np.ndarray, golden: np.ndarray, rng: np.random.Generator):
    """σ_m (drawn), σ_m (reported) and the noisy fluxes of a block's galaxies.

    σ_m comes from the noise model truncated to [floor, μ + 2.5 s]; noise outliers report one
    band's σ_m × U(5, 20) (at least 1.5 (μ + 3 s)). The flux scatter uses the drawn σ (what
    is inflated is the *reported* error), so ordinary measurements stay positive; f̂ <= 0 is
    redrawn. Rows whose observed values would disagree with their label under the paper's
    tests at the *noisy* magnitudes (σ > μ + 3 s, a colour below the training 0.1th
    percentile; the galaxy's own noise can push a faint u band across) are redrawn too, with a
    small margin, so that the OOS labels are exact for the plan's noise model.
    """
    nm, q = plan.noise_model, plan.colour_quantiles
    b = flux_true.shape[0]
    floors = np.asarray(KCORRECT_FLOORS)[None, :]
    mu, s = nm.sigma_median(m_true), nm.sigma_scatter(m_true)
    lo = np.broadcast_to(floors * (1.0 + FLOOR_MARGIN), mu.shape)
    hi = np.maximum(mu + ORDINARY_SIGMA_MAX * s, lo)
    factor = rng.uniform(*NOISE_OUTLIER_FACTOR, size=noisy.size)
    want_noise = np.zeros(b, bool)
    want_noise[noisy] = True
    sigma = np.empty_like(mu)
    sigma_rep = np.empty_like(mu)
    f_obs = np.empty_like(mu)
    todo = np.arange(b)
    for _attempt in range(50):
        sigma[todo] = truncated_normal(mu[todo], s[todo], lo[todo], hi[todo], rng)
        sigma_rep[todo] = sigma[todo]
        sel = np.isin(noisy, todo)
        rows, bands = noisy[sel], noisy_band[sel]
        sigma_rep[rows, bands] = np.maximum(sigma[rows, bands] * factor[sel],
                                            NOISE_OUTLIER_MIN_EXCESS * (mu[rows, bands] + 3.0 * s[rows, bands]))
        sigma_f = sigma_flux_from_mag(flux_true[todo], sigma[todo])
        f = flux_true[todo] + sigma_f * rng.standard_normal(sigma_f.shape)
        for _ in range(100):
            bad = ~(f > 0)
            if not bad.any():
                break
            f[bad] = flux_true[todo][bad] + sigma_f[bad] * rng.standard_normal(int(bad.sum()))
        f_obs[todo] = np.abs(f)
        m_obs = flux_to_mag(f_obs[todo])
        sig = sigma_rep[todo]
        is_noise = nm.noise_outlier(m_obs, sig, 3.0 + OOS_MARGIN_SIGMA)
        not_noise = ~nm.noise_outlier(m_obs, sig, 3.0 - OOS_MARGIN_SIGMA)
        col = colours(m_obs)
        is_colour = np.any(col < q - OOS_MARGIN_COLOUR, axis=1)
        not_colour = np.all(col >= q + OOS_MARGIN_COLOUR, axis=1)
        ok = np.where(want_noise[todo], is_noise, not_noise) & np.where(colour_rows[todo], is_colour, not_colour)
        todo = todo[~ok & ~golden[todo]]
        if todo.size == 0:
            break
    return sigma, sigma_rep, f_obs


def generate_block(plan: MockPlan, k: int) -> MockBlock:
    """Rows ``plan.block_slice(k)`` of the mock: catalog, flag companions and truth."""
    sl = plan.block_slice(k)
    lab = plan.labels
    path, pband = lab.pathology[sl], lab.pathology_band[sl]
    golden = (path == _P["golden_1"]) | (path == _P["golden_2"])
    colour_rows = path == _P["colour_outlier"]

    gal = _draw_galaxies(plan, colour_rows, _rng(plan.seed, _STREAM_CANDIDATES, k))
    rng = _rng(plan.seed, _STREAM_OBSERVE, k)
    m_true = flux_to_mag(gal.flux_true)
    noisy = np.flatnonzero(path == _P["noise_outlier"])
    sigma, sigma_reported, f_obs = _observe(plan, gal.flux_true, m_true, noisy, pband[noisy],
                                            colour_rows, golden, rng)
    flux32 = f_obs.astype(np.float32)
    ivar32 = ivar_from_sigma_mag(flux32, sigma_reported).astype(np.float32)
    # Guard the floor invariant against float32 rounding (never triggers with FLOOR_MARGIN).
    for _ in range(4):
        low = sigma_mag_from_ivar(flux32, ivar32) < np.asarray(KCORRECT_FLOORS)[None, :]
        if not low.any():
            break
        ivar32[low] = np.nextafter(ivar32[low], np.float32(0))
    z_true = gal.z.copy()
    z_cat = gal.z.astype(np.float32)

    # Golden rows: verbatim photometry and redshift, no truth θ.
    if golden.any():
        gflux, givar, gz = _golden_photometry()
        gi = np.flatnonzero(golden)
        which = (path[gi] == _P["golden_2"]).astype(int)
        flux32[gi], ivar32[gi], z_cat[gi] = gflux[which], givar[which], gz[which]
        z_true[gi] = gz[which]
        m_true[gi] = flux_to_mag(flux32[gi])
        gal.theta_box[gi] = np.nan
        gal.flux_true[gi] = np.nan

    _inject_bad_values(path, pband, flux32, ivar32, z_cat, rng)
    cat, aux = _catalog_rows(plan, sl, flux32, ivar32, z_cat, m_true, rng)
    words, psf_err = _flag_words(plan, sl, sigma, golden, rng)
    objid = ((np.uint64(_OBJID_SKYVERSION) << np.uint64(59)) | (np.uint64(_RERUN) << np.uint64(48))
             | (aux["run"].astype(np.uint64) << np.uint64(32)) | (aux["camcol"].astype(np.uint64) << np.uint64(29))
             | (aux["field"].astype(np.uint64) << np.uint64(16))
             | rng.integers(1, 2000, path.size).astype(np.uint64)).view(np.int64)
    obj_i64, band_i64 = words["object"].view(np.int64), words["bands"].view(np.int64)
    if plan.flags_inside:
        cat["FLAGS"] = obj_i64
        for j, band in enumerate(BANDS):
            cat[f"FLAGS_{band.upper()}"] = band_i64[:, j]
            cat[f"PSFMAGERR_{band.upper()}"] = psf_err[:, j]
        cat["OBJID"] = objid

    keep = ~lab.omitted[sl]
    order = np.flatnonzero(keep)[rng.permutation(int(keep.sum()))]   # companions are not in catalog order
    flags = np.zeros(order.size, dtype=flags_dtype(split=False))
    split = np.zeros(order.size, dtype=flags_dtype(split=True))
    for tab in (flags, split):
        tab["NSAID"] = lab.nsaid[sl][order]
        tab["OBJID"] = objid[order]
        for j, band in enumerate(BANDS):
            tab[f"PSFMAGERR_{band.upper()}"] = psf_err[order, j]
    flags["FLAGS"] = obj_i64[order]
    split["FLAGS1"], split["FLAGS2"] = split_words(words["object"][order])
    for j, band in enumerate(BANDS):
        flags[f"FLAGS_{band.upper()}"] = band_i64[order, j]
        split[f"FLAGS1_{band.upper()}"], split[f"FLAGS2_{band.upper()}"] = split_words(words["bands"][order, j])

    truth = _truth(plan, sl, gal, z_true, z_cat, flux32, ivar32, theta_ok=~golden & ~colour_rows,
                   edge=words["edge"], dflags_bad=aux["dflags_bad"])
    return MockBlock(catalog=cat, flags=flags, flags_split=split, truth=truth)


def _inject_bad_values(path: np.ndarray, pband: np.ndarray, flux32: np.ndarray, ivar32: np.ndarray,
                       z_cat: np.ndarray, rng: np.random.Generator) -> None:
    """Write the §6.5 bad values in place, each in its row's band (one pathology per row)."""
    def rows_of(name: str) -> np.ndarray:
        return np.flatnonzero(path == _P[name])

    r = rows_of("nonpositive_flux")
    zero = rng.random(r.size) < 1 / 3          # a third exactly 0, the rest negative measurements
    flux32[r, pband[r]] = np.where(zero, 0.0, -rng.uniform(0.05, 1.0, r.size) * flux32[r, pband[r]])
    r = rows_of("zero_ivar")
    ivar32[r, pband[r]] = 0.0
    r = rows_of("negative_ivar")
    ivar32[r, pband[r]] = -ivar32[r, pband[r]]
    r = rows_of("nan_flux")
    flux32[r, pband[r]] = np.nan
    z_cat[rows_of("nan_z")] = np.nan
    r = rows_of("negative_z")
    z_cat[r] = -rng.uniform(1e-5, 0.002, r.size)   # never exactly 0: z = 0 is ambiguous between notes
    r = rows_of("z_above_range")
    z_cat[r] = rng.uniform(0.2005, 0.2995, r.size)


def _catalog_rows(plan: MockPlan, sl: slice, flux32: np.ndarray, ivar32: np.ndarray, z_cat: np.ndarray,
                  m_true: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The catalog table of a block (without flag columns) and the values the flags reuse."""
    b = flux32.shape[0]
    cat = np.zeros(b, dtype=catalog_dtype(plan.nsa_version, plan.flags_inside))
    name = lambda v1: catalog_name(v1, plan.nsa_version)  # noqa: E731
    is_v1 = plan.nsa_version == "v1_0_1"

    nmgy = np.zeros((b, N_NSA_BANDS), np.float32)
    nmgy_ivar = np.zeros((b, N_NSA_BANDS), np.float32)
    nmgy[:, UGRIZ_SLICE], nmgy_ivar[:, UGRIZ_SLICE] = flux32, ivar32
    # GALEX: NUV = r + N(4, 1), FUV = NUV + N(0.5, 0.4); 30 % without coverage (0, 0).
    r_mag = np.where(np.isfinite(m_true[:, 2]), m_true[:, 2], 17.0)
    nuv = r_mag + rng.normal(4.0, 1.0, b)
    gmag = np.stack([nuv + rng.normal(0.5, 0.4, b), nuv], axis=1)
    gsig = np.hypot(0.217 * 10 ** (0.4 * (gmag - GALEX_DEPTH)), GALEX_FLOOR)
    gflux = mag_to_flux(gmag)
    gsig_f = sigma_flux_from_mag(gflux, gsig)   # GALEX fluxes may go negative: use the noiseless σ_f
    covered = rng.random(b) < GALEX_COVERAGE
    nmgy[:, :2] = np.where(covered[:, None], gflux + gsig_f * rng.standard_normal((b, 2)), 0.0)
    nmgy_ivar[:, :2] = np.where(covered[:, None], 1.0 / gsig_f**2, 0.0)

    ebv = np.clip(EBV_MEDIAN * np.exp(EBV_SIGMA_LN * rng.standard_normal(b)), *EBV_RANGE)
    ext = (ebv[:, None] * np.asarray(EXTINCTION_R)[None, :]).astype(np.float32)
    with np.errstate(invalid="ignore"):
        cat[name("SERSIC_NMGY")] = nmgy
        cat[name("SERSIC_NMGY_IVAR")] = nmgy_ivar
        cat["EXTINCTION"] = ext
        # Raw fluxes: NSA's NMGY undone by the extinction only (the AB offsets and floors are not
        # undone, so raw and corrected agree only approximately, as in the real file).
        cat[name("SERSIC_FLUX")] = nmgy * 10 ** (-0.4 * ext.astype(np.float64))
        cat[name("SERSIC_FLUX_IVAR")] = nmgy_ivar * 10 ** (0.8 * ext.astype(np.float64))
        if is_v1:
            delta = rng.normal(*ELPETRO_DELTA, size=(b, 1))
            cat["ELPETRO_NMGY"] = nmgy * 10 ** (-0.4 * delta)       # same σ_m, same pathologies
            cat["ELPETRO_NMGY_IVAR"] = nmgy_ivar * 10 ** (0.8 * delta)
    profile = np.exp(-(np.arange(PROFMEAN_SHAPE[1]) + 0.5) / 4.0).astype(np.float32)
    cat["PROFMEAN"] = np.clip(np.nan_to_num(nmgy), 0, None)[:, :, None] * profile[None, None, :] / 10.0

    dflags = np.zeros((b, N_NSA_BANDS), np.int32)
    hit = np.flatnonzero(rng.random(b) < DFLAGS_RATE)
    dbit = rng.integers(0, 7, hit.size)
    dband = rng.integers(0, N_NSA_BANDS, hit.size)
    dflags[hit, dband] = 1 << dbit
    cat["DFLAGS"] = dflags
    dflags_bad = np.zeros(b, bool)
    dflags_bad[hit] = (dbit <= 2) & (dband >= UGRIZ_SLICE.start)

    ra = rng.uniform(*RA_RANGE, b)
    sin_lo, sin_hi = np.sin(np.radians(DEC_RANGE))
    dec = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, b)))
    cat["NSAID"] = plan.labels.nsaid[sl]
    cat["RA"], cat["DEC"] = ra, dec
    cat["IAUNAME"] = _iau_names(ra, dec)
    spec = rng.random(b) < SPECTRUM_FRACTION
    cat["PLATE"] = np.where(spec, rng.integers(266, 2975, b), 0)
    cat["MJD"] = np.where(spec, rng.integers(51578, 54664, b), 0)
    cat["FIBERID"] = np.where(spec, rng.integers(1, 641, b), 0)
    cat["ISDSS"] = np.where(spec, rng.integers(0, 900_000, b), -1)
    run, camcol, fieldno = rng.integers(94, 8163, b), rng.integers(1, 7, b), rng.integers(11, 801, b)
    cat["RUN"], cat["CAMCOL"], cat["FIELD"] = run, camcol, fieldno
    cat["RERUN"] = b"301"
    cat["Z"] = z_cat
    with np.errstate(invalid="ignore"):
        cat["ZDIST"] = (z_cat + rng.normal(0.0, ZDIST_SIGMA, b)).astype(np.float32)
    cat["ZSRC"] = np.where(rng.random(b) < ZSRC_SDSS_FRACTION, b"sdss", b"ned")
    cat[name("SERSIC_OK")] = 1
    in_lss = rng.random(b) < IN_DR7_LSS_FRACTION
    if is_v1:
        cat["IN_DR7_LSS"] = in_lss
    return cat, {"run": run, "camcol": camcol, "field": fieldno, "dflags_bad": dflags_bad}


def _flag_words(plan: MockPlan, sl: slice, sigma: np.ndarray, golden: np.ndarray,
                rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """SDSS photo-flag words (§6.6) and PSF magnitude errors of a block.

    Returns ({"object": (B,) uint64, "bands": (B, 5) uint64, "edge": (B,) bool}, psf_err (B, 5)
    float32). Golden rows carry BINNED1 only.
    """
    lab = plan.labels
    b = sigma.shape[0]
    obj_word = np.full(b, sf.BINNED1, np.uint64)
    edge = rng.random(b) < BENIGN_RATES["EDGE"]
    for bit, on in (
        (sf.CHILD, rng.random(b) < BENIGN_RATES["CHILD"]),
        (sf.BLENDED, rng.random(b) < BENIGN_RATES["BLENDED"]),
        (sf.INTERP, rng.random(b) < BENIGN_RATES["INTERP"]),
        (sf.EDGE, edge),
        (STATIONARY, rng.random(b) < BENIGN_RATES["STATIONARY"]),
        (sf.MOVED, rng.random(b) < BENIGN_RATES["MOVED"]),
    ):
        obj_word[on & ~golden] |= np.uint64(bit)
    edge &= ~golden
    u = rng.random(b)
    obj_word[(u < CR_ALONE_RATE) & ~golden] |= np.uint64(sf.COSMIC_RAY)
    obj_word[(u >= CR_ALONE_RATE) & (u < CR_ALONE_RATE + IC_ALONE_RATE) & ~golden] |= np.uint64(sf.INTERP_CENTER)
    deblend = lab.deblend[sl]
    obj_word[deblend > 0] |= np.uint64(sf.DEBLEND_NOPEAK)
    band_words = np.repeat(obj_word[:, None], N_BANDS, axis=1)
    defect, dband = lab.defect[sl], lab.defect_band[sl]
    for code in range(1, len(FLAG_DEFECTS)):
        bits = np.uint64(_DEFECT_BITS[code])
        everywhere = (defect == code) & (dband < 0)
        one_band = np.flatnonzero((defect == code) & (dband >= 0))
        if code == _BINNED1_CLEARED:
            obj_word[everywhere] &= ~bits
            band_words[everywhere] &= ~bits
            band_words[one_band, dband[one_band]] &= ~bits
        else:
            obj_word[everywhere] |= bits
            band_words[everywhere] |= bits
            band_words[one_band, dband[one_band]] |= bits
    # PSF magnitude errors: ~ the band's σ_m; DEBLEND_NOPEAK rows get all five bands on one side
    # of 0.2, so the sdss_clean_* result does not depend on which band a reader checks.
    psf_err = np.clip(np.nan_to_num(sigma, nan=0.1) * rng.uniform(0.8, 2.0, (b, N_BANDS)), 0.005, 2.0)
    psf_err = np.where((deblend == 1)[:, None], rng.uniform(0.02, 0.19, (b, N_BANDS)), psf_err)
    psf_err = np.where((deblend == 2)[:, None], rng.uniform(0.21, 0.8, (b, N_BANDS)), psf_err).astype(np.float32)
    return {"object": obj_word, "bands": band_words, "edge": edge}, psf_err


def _truth(plan: MockPlan, sl: slice, gal: _Galaxies, z_true: np.ndarray, z_cat: np.ndarray, flux32: np.ndarray,
           ivar32: np.ndarray, *, theta_ok: np.ndarray, edge: np.ndarray, dflags_bad: np.ndarray
           ) -> dict[str, np.ndarray]:
    """The truth columns of a block (by construction from the labels; see :mod:`sedflow_dask.mock`)."""
    lab = plan.labels
    rows = np.arange(sl.start, sl.stop)
    path = lab.pathology[sl]
    truth: dict[str, np.ndarray] = {"nsaid": lab.nsaid[sl].astype(np.int64), "row": rows.astype(np.int64)}
    for j in range(N_BOX):
        truth[f"theta_{j}"] = gal.theta_box[:, j]
    phys = np.full((rows.size, len(PHYSICAL_NAMES)), np.nan)
    finite = np.all(np.isfinite(gal.theta_box), axis=1)
    phys[finite] = box_to_physical(gal.theta_box[finite])
    for j, pname in enumerate(PHYSICAL_NAMES):
        truth[pname] = phys[:, j]
    truth["z"] = z_true
    truth["z_catalog"] = z_cat.astype(np.float64)
    truth["r_target"] = np.where(finite, gal.r_target, np.nan)
    f64, w64 = flux32.astype(np.float64), ivar32.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mag, sig = flux_to_mag(f64), sigma_mag_from_ivar(f64, w64)
    for j, band in enumerate(BANDS):
        truth[f"flux_true_{band}"] = gal.flux_true[:, j]
    for j, band in enumerate(BANDS):
        truth[f"mag_{band}"] = mag[:, j]
    for j, band in enumerate(BANDS):
        truth[f"sigma_{band}"] = sig[:, j]

    data_bits = np.zeros(rows.size, np.int32)
    for pname, bit in PATHOLOGY_REASON.items():
        data_bits[path == _P[pname]] |= np.int32(int(bit))
    defect, dband, deblend = lab.defect[sl], lab.defect_band[sl], lab.deblend[sl]
    clean = {}
    clean_sedflow = {"object": ~((defect > 0) & (dband < 0)), "per_band": defect == 0}
    for mode in FLAG_MODES:
        clean[("sedflow2022", mode)] = clean_sedflow[mode]
        clean[("sdss_clean_extended", mode)] = clean_sedflow[mode] & (deblend != 2)
        clean[("sdss_clean_point", mode)] = clean[("sdss_clean_extended", mode)] & ~edge
    in_companion = ~lab.omitted[sl]
    reason = data_bits | np.where(~in_companion, np.int32(int(IngestReason.FLAGS_MISSING)),
                                  np.where(clean[("sedflow2022", "object")], 0,
                                           np.int32(int(IngestReason.FLAGS_UNCLEAN)))).astype(np.int32)
    truth["ingest_reason"] = reason
    truth["ingest_reason_data"] = data_bits
    truth["in_flags_companion"] = in_companion
    for (preset, mode), value in clean.items():
        truth[f"clean_{preset}_{mode}"] = value
    truth["dflags_bad"] = dflags_bad
    truth["injected_oos_noise"] = np.isin(path, [_P["noise_outlier"], _P["golden_1"], _P["golden_2"]])
    truth["injected_oos_color"] = path == _P["colour_outlier"]
    truth["theta_reproduces_flux"] = theta_ok
    truth["pathology"] = np.asarray(PATHOLOGIES, dtype=object)[path]
    truth["pathology_band"] = lab.pathology_band[sl]
    truth["flag_defect"] = np.asarray(FLAG_DEFECTS, dtype=object)[defect]
    truth["flag_defect_band"] = dband
    truth["deblend_nopeak"] = deblend > 0
    truth["edge"] = edge
    return truth


def expected_ingest_reason(truth, *, preset: str = "sedflow2022", flag_mode: str = "object",
                           flags: str = "companion", missing_flags: str = "exclude",
                           dflags_cut: bool = False) -> np.ndarray:
    """Expected ``ingest_reason`` (int32) of truth rows under other ingest options.

    ``truth`` is the truth table (a mapping of columns or a DataFrame). ``flags``: "companion"
    (a flag table beside the catalog: rows not in it get FLAGS_MISSING, or nothing with
    ``missing_flags="keep"``), "inside" (the columns written with ``flags_inside=True``: every
    row has words) or "none" (no flags: the flag cuts are off). ``flag_mode="per_band"`` assumes
    the default flag_bands = ugriz. BAD_SIGMA is never expected (see :mod:`sedflow_dask.mock`).
    """
    if preset not in FLAG_PRESETS or flag_mode not in FLAG_MODES:
        raise ValueError(f"preset must be one of {FLAG_PRESETS} and flag_mode one of {FLAG_MODES}")
    if flags not in ("companion", "inside", "none") or missing_flags not in ("exclude", "keep"):
        raise ValueError("flags must be 'companion', 'inside' or 'none'; missing_flags 'exclude' or 'keep'")
    reason = np.asarray(truth["ingest_reason_data"], dtype=np.int32).copy()
    if dflags_cut:
        reason |= np.where(np.asarray(truth["dflags_bad"], bool), np.int32(int(IngestReason.DFLAGS_BAD)), 0).astype(np.int32)
    if flags == "none":
        return reason
    clean = np.asarray(truth[f"clean_{preset}_{flag_mode}"], bool)
    unclean = np.where(clean, 0, np.int32(int(IngestReason.FLAGS_UNCLEAN))).astype(np.int32)
    if flags == "inside":
        return reason | unclean
    present = np.asarray(truth["in_flags_companion"], bool)
    missing = np.int32(int(IngestReason.FLAGS_MISSING)) if missing_flags == "exclude" else np.int32(0)
    return reason | np.where(present, unclean, missing).astype(np.int32)
