"""The empirical noise model p(σ_X | m_X) of SEDflow §3.2 and how simulations use it.

Per band, σ_m is Gaussian with median μ_X(m) and scatter s_X(m), piecewise-linear in magnitude
through bin centres and held constant beyond the outermost ones (``docs/nsa-ingest.md`` §4).
The artifact (``docs/data-contracts.md`` §3) also carries each band's valid magnitude range,
outside which a simulated galaxy is dropped, and NSA's kcorrect error floors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import check_format, read_json, write_json_atomic
from ..photometry import BANDS

FORMAT = "sedflow_dask.noise_model"
FORMAT_VERSION = 1
@dataclass(frozen=True)
class BandNoise:
    """Noise of one band: σ_m median and scatter [mag] at magnitude bin centres [AB mag]."""

    band: str
    mag_centres: np.ndarray
    sigma_median: np.ndarray
    sigma_scatter: np.ndarray
    mag_range: tuple[float, float]
    floor: float

    def __post_init__(self) -> None:
        c, mu, s = (np.asarray(a, dtype=np.float64) for a in (self.mag_centres, self.sigma_median, self.sigma_scatter))
        if c.ndim != 1 or c.size < 1 or mu.shape != c.shape or s.shape != c.shape:
            raise ValueError(f"noise model band {self.band}: centres, median and scatter must be equal-length 1-D arrays")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(mu)) and np.all(np.isfinite(s))):
            raise ValueError(f"noise model band {self.band}: non-finite values")
        if np.any(np.diff(c) <= 0):
            raise ValueError(f"noise model band {self.band}: magnitude bin centres must increase")
        if np.any(mu <= 0) or np.any(s < 0):
            raise ValueError(f"noise model band {self.band}: median σ must be > 0 and scatter >= 0")
        lo, hi = (float(v) for v in self.mag_range)
        if not lo < hi:
            raise ValueError(f"noise model band {self.band}: mag_range {self.mag_range} is empty")
        object.__setattr__(self, "mag_centres", c)
        object.__setattr__(self, "sigma_median", mu)
        object.__setattr__(self, "sigma_scatter", s)
        object.__setattr__(self, "mag_range", (lo, hi))
        object.__setattr__(self, "floor", float(self.floor))

    def median(self, mag) -> np.ndarray:
        """μ_X(m) [mag]."""
        return np.interp(mag, self.mag_centres, self.sigma_median)

    def scatter(self, mag) -> np.ndarray:
        """s_X(m) [mag]."""
        return np.interp(mag, self.mag_centres, self.sigma_scatter)


@dataclass(frozen=True)
class NoiseModel:
    """p(σ | m) for ugriz, with valid magnitude ranges, error floors and provenance."""

    bands: tuple[BandNoise, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(b.band for b in self.bands)
        if names != BANDS:
            raise ValueError(f"noise model bands must be {BANDS}, got {names}")

    # -- evaluation -------------------------------------------------------------------------
    @property
    def mag_min(self) -> np.ndarray:
        return np.array([b.mag_range[0] for b in self.bands])

    @property
    def mag_max(self) -> np.ndarray:
        return np.array([b.mag_range[1] for b in self.bands])

    @property
    def floors(self) -> np.ndarray:
        return np.array([b.floor for b in self.bands])

    def sigma_median(self, mags) -> np.ndarray:
        """(N, 5) μ_X(m_X) [mag] for (N, 5) magnitudes."""
        m = np.asarray(mags, dtype=np.float64)
        return np.stack([b.median(m[:, i]) for i, b in enumerate(self.bands)], axis=1)

    def sigma_scatter(self, mags) -> np.ndarray:
        """(N, 5) s_X(m_X) [mag] for (N, 5) magnitudes."""
        m = np.asarray(mags, dtype=np.float64)
        return np.stack([b.scatter(m[:, i]) for i, b in enumerate(self.bands)], axis=1)

    def in_range(self, mags) -> np.ndarray:
        """(N,) True where every band lies in its valid magnitude range (NaN is out)."""
        m = np.asarray(mags, dtype=np.float64)
        return np.all((m >= self.mag_min) & (m <= self.mag_max), axis=1)

    def noise_outlier(self, mags, sigmas, n_sigma: float = 3.0) -> np.ndarray:
        """(N,) True where any band has σ_X > μ_X(m_X) + n_sigma · s_X(m_X) (paper App. A)."""
        m = np.asarray(mags, dtype=np.float64)
        limit = self.sigma_median(m) + n_sigma * self.sigma_scatter(m)
        return np.any(np.asarray(sigmas, dtype=np.float64) > limit, axis=1)

    def draw_sigmas(self, mags, rng: np.random.Generator) -> np.ndarray:
        """σ'_X ~ N(μ_X(m), s_X(m)) per band, independently [mag]; may be negative."""
        m = np.asarray(mags, dtype=np.float64)
        return self.sigma_median(m) + self.sigma_scatter(m) * rng.standard_normal(m.shape)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bands": {
                b.band: {
                    "mag_centres": b.mag_centres.tolist(),
                    "sigma_median": b.sigma_median.tolist(),
                    "sigma_scatter": b.sigma_scatter.tolist(),
                    "mag_range": list(b.mag_range),
                    "floor": b.floor,
                }
                for b in self.bands
            },
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "noise model") -> NoiseModel:
        check_format(data, FORMAT, FORMAT_VERSION, source, "noise model")
        bands_data = data.get("bands")
        if not isinstance(bands_data, dict) or set(bands_data) != set(BANDS):
            raise ValueError(f"{source}: field 'bands' must have the keys {list(BANDS)}")
        bands = []
        for name in BANDS:
            entry = bands_data[name]
            try:
                bands.append(BandNoise(
                    band=name,
                    mag_centres=entry["mag_centres"],
                    sigma_median=entry["sigma_median"],
                    sigma_scatter=entry["sigma_scatter"],
                    mag_range=tuple(entry["mag_range"]),
                    floor=entry["floor"],
                ))
            except KeyError as exc:
                raise ValueError(f"{source}: band {name} lacks field {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: band {name}: {exc}") from None
        return cls(bands=tuple(bands), provenance=dict(data.get("provenance", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def sha256(self) -> str:
        """Content hash (of the canonical JSON), the ``noise_sha256`` later artifacts record."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the artifact as JSON (atomically)."""
        return write_json_atomic(self.to_dict(), path)


#: Noise models shipped with the package, by name: ``sdss_real`` (the default, fitted to real SDSS
#: errors, ``noise/real.py``) and ``sdss_depths`` (derived from published depths, ``noise/sdss.py``).
NAMED_NOISE_MODELS: dict[str, str] = {"sdss_real": "sdss_real.json", "sdss_depths": "sdss_depths.json"}
DEFAULT_NOISE_MODEL = "sdss_real"


def noise_model_path(name_or_path: str | Path | None = None) -> Path:
    """The file of a shipped noise model's name (None: the default), or ``name_or_path`` as a path."""
    if name_or_path is None:
        name_or_path = DEFAULT_NOISE_MODEL
    if isinstance(name_or_path, str) and name_or_path in NAMED_NOISE_MODELS:
        return Path(__file__).resolve().parent.parent / "data" / "noise" / NAMED_NOISE_MODELS[name_or_path]
    return Path(name_or_path)


def load_noise_model(path: str | Path | None = None) -> NoiseModel:
    """Read a noise-model artifact: a path, a shipped model's name, or ``None`` for the default."""
    path = noise_model_path(path)
    return NoiseModel.from_dict(read_json(path, "noise model"), source=str(path))

