"""The training proposal of flux errors and missing bands: how simulations are observed.

A simulated galaxy with noiseless ugriz fluxes F (nanomaggies) is observed as real photometry is
measured, in flux:

    σ_X ~ p(σ_X)   independently per band and independently of θ,
    f_X = F_X + σ_X ε_X,   ε_X ~ N(0, 1),
    band X absent with probability ``dropout`` (at least ``min_bands`` bands stay).

Because σ does not depend on θ, the posterior of θ given (f, σ, bands present) is exactly
prior × Gaussian flux likelihood of the present bands (``sedflow_dask.likelihood``): the flow
learns the same target the importance weights and the MCMC fallback evaluate. Every band's σ
comes, with probability ``real_fraction``, from the real noise model's *marginal* σ_f (the σ_m
of ``noise_model`` at the magnitude of another galaxy of the same chunk, turned into a flux
error at that galaxy's flux: real SDSS errors, made independent of this galaxy), else from a
log-uniform law over ``[sigma_min, sigma_max]``, which spans the marginal and reaches
deeper and shallower surveys (``docs/noise.md`` gives the ranges and the measurement).
Support is then a range: a catalog's σ_X outside ``[sigma_min, sigma_max]`` is outside what
the flow was trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import check_format, read_json, write_json_atomic
from ..photometry import BANDS, N_BANDS, flux_to_mag, mag_to_flux, sigma_flux_from_mag
from .model import NoiseModel, load_noise_model

FORMAT = "sedflow_dask.noise_proposal"
FORMAT_VERSION = 1
#: How far the log-uniform component reaches beyond the real marginal's extremes (factors).
BELOW_REAL = 0.5
ABOVE_REAL = 4.0
#: The only reason a simulated row is dropped: a noiseless magnitude outside the noise model's
#: valid range (the observable range is part of the prior's definition).
DROP_RULES: tuple[str, ...] = ("mag_out_of_range",)
DEFAULT_PROPOSAL_PATH = Path(__file__).resolve().parent.parent / "data" / "noise" / "proposal.json"


def count_drops(outcome: np.ndarray) -> dict[str, int]:
    """Rows dropped per rule of :data:`DROP_RULES` from per-row outcome codes (k > 0: ``DROP_RULES[k - 1]``)."""
    counts = np.bincount(np.asarray(outcome, dtype=np.int64), minlength=len(DROP_RULES) + 1)
    return {rule: int(counts[k + 1]) for k, rule in enumerate(DROP_RULES)}


def real_sigma_flux_range(noise: NoiseModel, n_grid: int = 2001) -> np.ndarray:
    """(5, 2) the smallest and largest σ_f [nmgy] the real noise model gives in its magnitude range.

    Over a grid of magnitudes m in each band's valid range: min of 0.921 F(m) max(floor, μ)
    and max of 0.921 F(m) (μ + 3s), μ and s the model's σ_m median and scatter.
    """
    out = np.empty((N_BANDS, 2))
    for k, band in enumerate(noise.bands):
        m = np.linspace(*band.mag_range, n_grid)
        f = mag_to_flux(m)
        low = sigma_flux_from_mag(f, np.maximum(band.floor, band.median(m)))
        high = sigma_flux_from_mag(f, band.median(m) + 3 * band.scatter(m))
        out[k] = low.min(), high.max()
    return out


@dataclass(frozen=True)
class ObservedPhotometry:
    """Simulated observations of N galaxies (every row, kept or not).

    Attributes:
        flux: (N, 5) observed fluxes [nmgy], any sign; NaN in absent bands.
        sigma_flux: (N, 5) their 1σ errors [nmgy]; NaN in absent bands.
        bands_used: (N,) uint8 bitmask of present bands (``photometry.bands_used_mask``).
        outcome: (N,) int8: 0 kept, 1 dropped by ``mag_out_of_range``.
    """

    flux: np.ndarray
    sigma_flux: np.ndarray
    bands_used: np.ndarray
    outcome: np.ndarray

    @property
    def keep(self) -> np.ndarray:
        return self.outcome == 0


@dataclass(frozen=True)
class NoiseProposal:
    """p(σ) per band (a mixture of the real marginal and a log-uniform law) and band dropout.

    Attributes:
        noise_model: the real noise model: its σ_m(m) feeds the real component, its magnitude
            ranges define the observable range of the prior, its floors the real σ's lower end.
        real_fraction: probability that a band's σ comes from the real marginal.
        sigma_min, sigma_max: (5,) the log-uniform component's range [nmgy], also the support range.
        dropout: probability that a band is absent, independently per band.
        min_bands: fewest bands a simulated galaxy keeps (rows with fewer keep all of theirs).
        provenance: where it came from (recorded in training sets and models).
    """

    noise_model: NoiseModel
    real_fraction: float
    sigma_min: np.ndarray
    sigma_max: np.ndarray
    dropout: float
    min_bands: int = 3
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lo = np.asarray(self.sigma_min, dtype=np.float64)
        hi = np.asarray(self.sigma_max, dtype=np.float64)
        if lo.shape != (N_BANDS,) or hi.shape != (N_BANDS,) or not np.all((lo > 0) & (hi > lo) & np.isfinite(hi)):
            raise ValueError(f"noise proposal: sigma_min and sigma_max must be 5 finite values with 0 < min < max; "
                             f"got {lo.tolist()}, {hi.tolist()}")
        if not 0 <= self.real_fraction <= 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"noise proposal: real_fraction {self.real_fraction} must be in [0, 1] and dropout "
                             f"{self.dropout} in [0, 1)")
        if not 1 <= self.min_bands <= N_BANDS:
            raise ValueError(f"noise proposal: min_bands {self.min_bands} must be in 1..{N_BANDS}")
        object.__setattr__(self, "sigma_min", lo)
        object.__setattr__(self, "sigma_max", hi)

    @classmethod
    def from_noise_model(cls, noise: NoiseModel, *, real_fraction: float = 0.5, dropout: float = 0.1,
                         min_bands: int = 3, name: str | None = None) -> NoiseProposal:
        """The proposal built on a real noise model: log-uniform range [0.5 min, 4 max] of its σ_f."""
        real = real_sigma_flux_range(noise)
        return cls(noise_model=noise, real_fraction=real_fraction, sigma_min=BELOW_REAL * real[:, 0],
                   sigma_max=ABOVE_REAL * real[:, 1], dropout=dropout, min_bands=min_bands,
                   provenance={"noise_model": name, "noise_sha256": noise.sha256(),
                               "real_sigma_flux_range": real.tolist(), "below_real": BELOW_REAL,
                               "above_real": ABOVE_REAL})

    # -- drawing ----------------------------------------------------------------------------
    def in_range(self, flux_true) -> np.ndarray:
        """(N,) noiseless fluxes [nmgy] whose magnitudes lie in every band's observable range."""
        return self.noise_model.in_range(flux_to_mag(flux_true))

    def draw_sigma_flux(self, flux_true, rng: np.random.Generator) -> np.ndarray:
        """(N, 5) flux errors [nmgy] drawn independently of the rows' own fluxes.

        The real component takes each band's noiseless flux of another row inside the observable
        range (a random cyclic shift among those rows, never the row itself), draws σ_m from the noise model at that magnitude
        (|·|, at least the floor) and converts it at that flux. Every row consumes the same
        random numbers whatever the draw.
        """
        f = np.asarray(flux_true, dtype=np.float64)
        # References come from the rows inside the observable range, each row taking the one
        # ``shift`` places after it among them (a cyclic shift, so never itself).
        inside = np.flatnonzero(self.in_range(f))
        n_in = max(inside.size, 1)
        shift = int(rng.integers(1, n_in)) if n_in > 1 else 0
        rank = np.maximum(np.cumsum(self.in_range(f)) - 1, 0)
        f_ref = f[inside[(rank + shift) % n_in]] if inside.size else np.full_like(f, np.nan)
        m_ref = np.nan_to_num(flux_to_mag(f_ref), nan=99.0)
        sigma_m = np.maximum(np.abs(self.noise_model.draw_sigmas(m_ref, rng)), self.noise_model.floors)
        real = sigma_flux_from_mag(f_ref, sigma_m)
        log_lo, log_hi = np.log(self.sigma_min), np.log(self.sigma_max)
        broad = np.exp(log_lo + (log_hi - log_lo) * rng.random(f.shape))
        use_real = rng.random(f.shape) < self.real_fraction
        # A reference row outside the observable range has no real error: use the broad draw.
        usable = np.isfinite(real) & (real > 0) & (f_ref > 0)
        return np.where(use_real & usable, real, broad)

    def draw_present(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 5) bool: which bands are measured (absent with probability ``dropout`` each)."""
        present = rng.random((n, N_BANDS)) >= self.dropout
        present[present.sum(axis=1) < self.min_bands] = True
        return present

    def observe(self, flux_true, rng: np.random.Generator) -> ObservedPhotometry:
        """Observe noiseless fluxes (N, 5) [nmgy]: σ from the proposal, Gaussian flux noise, dropout."""
        from ..photometry import bands_used_mask

        f = np.asarray(flux_true, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != N_BANDS:
            raise ValueError(f"flux must have shape (N, {N_BANDS}); got {f.shape}")
        sigma = self.draw_sigma_flux(f, rng)
        flux = f + sigma * rng.standard_normal(f.shape)
        present = self.draw_present(f.shape[0], rng)
        outcome = np.where(self.in_range(f), 0, 1).astype(np.int8)
        return ObservedPhotometry(flux=np.where(present, flux, np.nan), sigma_flux=np.where(present, sigma, np.nan),
                                  bands_used=bands_used_mask(present), outcome=outcome)

    # -- support ----------------------------------------------------------------------------
    def sigma_out_of_range(self, sigma_flux) -> np.ndarray:
        """(N,) True where a present band's σ_f [nmgy] lies outside [sigma_min, sigma_max]."""
        s = np.asarray(sigma_flux, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            outside = (s < self.sigma_min) | (s > self.sigma_max)
        return np.any(outside & np.isfinite(s), axis=1)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "bands": list(BANDS),
                "real_fraction": self.real_fraction, "dropout": self.dropout, "min_bands": self.min_bands,
                "sigma_flux_min": self.sigma_min.tolist(), "sigma_flux_max": self.sigma_max.tolist(),
                "noise_model": self.noise_model.to_dict(), "provenance": self.provenance}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "noise proposal") -> NoiseProposal:
        check_format(data, FORMAT, FORMAT_VERSION, source, "noise proposal")
        try:
            return cls(noise_model=NoiseModel.from_dict(data["noise_model"], source=f"{source}: noise_model"),
                       real_fraction=float(data["real_fraction"]), sigma_min=data["sigma_flux_min"],
                       sigma_max=data["sigma_flux_max"], dropout=float(data["dropout"]),
                       min_bands=int(data["min_bands"]), provenance=dict(data.get("provenance", {})))
        except KeyError as exc:
            raise ValueError(f"{source}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    def sha256(self) -> str:
        """Content hash of the canonical JSON (``proposal_sha256`` in training sets and models)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(self.to_dict(), path)


def default_proposal() -> NoiseProposal:
    """The proposal the default model is trained with: on the default real noise model, as shipped."""
    return load_noise_proposal(DEFAULT_PROPOSAL_PATH)


def load_noise_proposal(path: str | Path | None = None) -> NoiseProposal:
    """Read a proposal artifact (None: the shipped default)."""
    path = DEFAULT_PROPOSAL_PATH if path is None else Path(path)
    return NoiseProposal.from_dict(read_json(path, "noise proposal"), source=str(path))


def resolve_proposal(proposal: str | Path | None = None, noise_model: str | Path | None = None) -> NoiseProposal:
    """The proposal of a configuration: a proposal file, else one built on a named or given noise
    model, else the shipped default."""
    if proposal is not None:
        return load_noise_proposal(proposal)
    if noise_model is not None:
        return NoiseProposal.from_noise_model(load_noise_model(noise_model), name=str(noise_model))
    return default_proposal()


def build_default_proposal() -> NoiseProposal:
    """The shipped proposal, rebuilt from the default noise model (``sedflow noise proposal``)."""
    return NoiseProposal.from_noise_model(load_noise_model(), name="sdss_real")
