"""Typed run configuration: one place for every option, with the defaults a run uses.

Each stage reads its own section; later issues add sections (simulation, training, inference).
The choices where upstream PROVABGS is inconsistent (``docs/sps-model.md`` §12, D1–D9) are
options here, with the recommended behaviour as the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

BurstConvention = Literal["consistent", "provabgs"]
SSPAgeRule = Literal["centre", "average"]
MetallicityScale = Literal["provabgs", "absolute"]
MetallicityExtrapolation = Literal["clamp", "linear"]
DerivedBurst = Literal["bin", "exact"]


@dataclass(frozen=True)
class SPSConfig:
    """Options of the PROVABGS forward model.

    Attributes:
        burst_convention: D3. "consistent": a burst older than the galaxy (t_b >= t_age)
            contributes nothing and the NMF part carries all the mass; "provabgs": upstream's
            SED code, which still scales the NMF light by (1 - f_burst).
        ssp_age_rule: "centre": one SSP per lookback bin at its arithmetic centre (PROVABGS);
            "average": the SSP time-averaged over the bin.
        metallicity_scale: D5. "provabgs": ζ = log10(Z / 0.019) looked up against the table's
            own solar value (what PROVABGS passes to FSPS); "absolute": the table at Z itself.
        metallicity_extrapolation: D6. "clamp" at the table's end metallicities, or "linear"
            extrapolation as FSPS does.
        young_age_yr: D8. Table age nodes at or below this age [yr] are birth-cloud attenuated.
        derived_burst: D9. "bin": Z_MW and t_MW put the burst at its bin's centre and ZH value
            (upstream); "exact": at t_b and Z_b.
        lsun_erg_s: L_sun [erg/s] converting table units to erg/s; None = the table's own
            (3.826e33 for BC03, 3.846e33 for FSPS).
        cosmology: name of an astropy built-in cosmology.
        wave_step_factor: merge this many adjacent table wavelength bins (1 = the table's 10 Å);
            2 gives 20 Å bins, faster, with an error measured by ``benchmarks/bench_forward.py``.
        filter_dz: redshift step of the precomputed band-weight table (linear in z between nodes);
            0.0005 keeps the interpolation error below 1.1e-5 in flux (0.002: 8e-5).
        ab_zeropoint: AB normalisation of the bands: "speclite" (its ``ab_zeropoint``, as every
            speclite-based code including SEDflow) or "exact" (closed form; u differs by 4.2e-4,
            see ``sedflow_dask.sps.filters``).
        dtype: "float32" (fast) or "float64" for the spectral synthesis.
        chunk_size: galaxies per synthesis block and thread (bounds temporary memory, ~20 kB per
            galaxy; 2048 measured fastest on 2 cores, 4096 falls out of the L3 cache).
    """

    burst_convention: BurstConvention = "consistent"
    ssp_age_rule: SSPAgeRule = "centre"
    metallicity_scale: MetallicityScale = "provabgs"
    metallicity_extrapolation: MetallicityExtrapolation = "clamp"
    young_age_yr: float = 1e7
    derived_burst: DerivedBurst = "bin"
    lsun_erg_s: float | None = None
    cosmology: str = "Planck13"
    wave_step_factor: int = 1
    filter_dz: float = 0.0005
    ab_zeropoint: Literal["speclite", "exact"] = "speclite"
    dtype: Literal["float32", "float64"] = "float32"
    chunk_size: int = 2048

    def __post_init__(self) -> None:
        for field, allowed in (
            ("burst_convention", ("consistent", "provabgs")),
            ("ssp_age_rule", ("centre", "average")),
            ("metallicity_scale", ("provabgs", "absolute")),
            ("metallicity_extrapolation", ("clamp", "linear")),
            ("derived_burst", ("bin", "exact")),
            ("dtype", ("float32", "float64")),
            ("ab_zeropoint", ("speclite", "exact")),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"SPSConfig.{field} = {value!r}; expected one of {allowed}")
        if self.wave_step_factor < 1 or self.chunk_size < 1 or not (0 < self.filter_dz <= 0.05):
            raise ValueError("SPSConfig: wave_step_factor and chunk_size must be >= 1, 0 < filter_dz <= 0.05")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SPSConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown SPSConfig keys: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class Config:
    """The whole run configuration (sections grow with the pipeline stages).

    Attributes:
        seed: the run seed every stage derives its random streams from.
        sps: forward-model options.
    """

    seed: int = 0
    sps: SPSConfig = dataclasses.field(default_factory=SPSConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        data = dict(data)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        sps = SPSConfig.from_dict(data.pop("sps", {}))
        return cls(sps=sps, **data)


def load_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a TOML (or JSON) config file, then apply ``section.key=value`` overrides.

    Values in overrides are parsed as TOML scalars (``sps.wave_step_factor=2``,
    ``sps.burst_convention="provabgs"``; bare words are taken as strings).
    """
    import json
    import tomllib
    from pathlib import Path

    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read config file {p}: {exc}") from None
        try:
            data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"config file {p} is not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part} is not a section")
        node[leaf] = value
    try:
        return Config.from_dict(data)
    except TypeError as exc:
        raise ValueError(f"invalid config: {exc}") from None
