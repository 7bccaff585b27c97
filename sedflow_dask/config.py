"""Typed run configuration: one place for every option, with the defaults a run uses.

Each stage reads its own section (sps, cluster, noise, simulate, ingest, train, sample, fallback).
The choices where upstream PROVABGS is inconsistent (``docs/sps-model.md`` §12, D1–D9) are
options here, with the recommended behaviour as the default.
"""

from __future__ import annotations

import dataclasses
import re
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
        _check_choices("sps", self, {
            "burst_convention": ("consistent", "provabgs"),
            "ssp_age_rule": ("centre", "average"),
            "metallicity_scale": ("provabgs", "absolute"),
            "metallicity_extrapolation": ("clamp", "linear"),
            "derived_burst": ("bin", "exact"),
            "dtype": ("float32", "float64"),
            "ab_zeropoint": ("speclite", "exact"),
        })
        if self.wave_step_factor < 1 or self.chunk_size < 1 or not (0 < self.filter_dz <= 0.05):
            raise ValueError("SPSConfig: wave_step_factor and chunk_size must be >= 1, 0 < filter_dz <= 0.05")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SPSConfig:
        return _section_from_dict(cls, data, "sps")


def _check_choices(section: str, obj: Any, choices: dict[str, tuple]) -> None:
    for name, allowed in choices.items():
        value = getattr(obj, name)
        if value not in allowed:
            raise ValueError(f"{section}.{name} = {value!r}; expected one of {allowed}")


def _section_from_dict(cls, data: dict[str, Any], section: str):
    if not isinstance(data, dict):
        raise ValueError(f"config section [{section}] must be a table, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown keys in config section [{section}]: {sorted(unknown)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


@dataclass(frozen=True)
class ClusterConfig:
    """Where Dask work runs.

    Attributes:
        scheduler: address of a running scheduler (``tcp://host:8786``); None starts a
            ``distributed.LocalCluster`` of worker processes on this machine.
        n_workers: LocalCluster worker processes (None: one per core).
        threads_per_worker: threads per worker process; torch in a worker uses as many.
        memory_limit: per-worker memory limit of the LocalCluster ("auto" splits the RAM).
        dashboard_address: where the LocalCluster serves its dashboard (":0" picks a free port; a
            bare ":PORT" means 127.0.0.1:PORT, since the dashboard is plain HTTP).
        tls_dir: the certificate directory of a ``tls://`` scheduler (see
            :mod:`sedflow_dask.deploy.tls`); None: ``$SEDFLOW_TLS_DIR``, else ``~/.sedflow/tls``.
    """

    scheduler: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    memory_limit: str = "auto"
    dashboard_address: str = ":8787"
    tls_dir: str | None = None

    def __post_init__(self) -> None:
        if self.n_workers is not None and self.n_workers < 1 or self.threads_per_worker < 1:
            raise ValueError("cluster.n_workers and cluster.threads_per_worker must be >= 1")


@dataclass(frozen=True)
class NoiseConfig:
    """The photometric noise model (SEDflow §3.2) and the out-of-support noise test.

    Attributes:
        model: a shipped noise model's name (``sdss_real``, ``sdss_depths``) or the path of a
            noise-model JSON artifact; None uses the default ``sdss_real`` (fitted to real SDSS errors).
        proposal: path of a noise-proposal JSON artifact (``noise/proposal.py``: the flux errors and
            band dropout simulations are observed with); None uses the shipped one when ``model``
            is None, else builds one on ``model``.
        bin_width: magnitude bin width [mag] when fitting (``sedflow noise fit``).
        min_count: fewest galaxies in a fitted bin.
        outlier_sigma: a galaxy is a colour outlier (``oos_color``) when a colour lies more than
            outlier_sigma times its error below the training set's 0.1th-percentile colour.
    """

    model: str | None = None
    proposal: str | None = None
    bin_width: float = 0.2
    min_count: int = 10
    outlier_sigma: float = 3.0

    def __post_init__(self) -> None:
        if self.bin_width <= 0 or self.min_count < 1 or self.outlier_sigma <= 0:
            raise ValueError("noise.bin_width and noise.outlier_sigma must be > 0, noise.min_count >= 1")


@dataclass(frozen=True)
class SimulationConfig:
    """Training-set simulation (``sedflow simulate``).

    Attributes:
        n: rows to keep (after the noise model's drop rules); 1,131,561 is the paper's set.
        chunk_rows: galaxies drawn per chunk (one task, one Parquet file, one random stream).
        z_min, z_max: redshift prior U(z_min, z_max] (the paper's U(0, 0.2) floored at 1e-4).
        simplex: prior on the SFH coefficients (D1): "uniform_sticks" (paper) or "flat_dirichlet".
        colour_quantile: quantile of each training colour recorded for the out-of-support test
            (0.001: "bluer than 99.9 % of the training set").
    """

    n: int = 1_131_561
    chunk_rows: int = 131_072
    z_min: float = 1e-4
    z_max: float = 0.2
    simplex: Literal["uniform_sticks", "flat_dirichlet"] = "uniform_sticks"
    colour_quantile: float = 0.001

    def __post_init__(self) -> None:
        _check_choices("simulate", self, {"simplex": ("uniform_sticks", "flat_dirichlet")})
        if self.n < 1 or self.chunk_rows < 1:
            raise ValueError("simulate.n and simulate.chunk_rows must be >= 1")
        if not 0 < self.z_min < self.z_max <= 0.2:
            raise ValueError(f"simulate: need 0 < z_min < z_max <= 0.2; got {self.z_min}, {self.z_max}")
        if not 0 < self.colour_quantile < 0.5:
            raise ValueError("simulate.colour_quantile must lie in (0, 0.5)")


@dataclass(frozen=True)
class IngestConfig:
    """Catalog ingestion (``sedflow ingest``; ``docs/ingest.md``).

    Attributes:
        preset: the catalog reader: "auto" (detected from the columns), "nsa", "sdss" (a
            SkyServer/CasJobs export) or "table" (a generic table read through ``columns``).
        photometry: NSA fluxes: "sersic" (the paper's ``NMGY``/``SERSIC_NMGY``) or "elpetro" (v1 only).
        sdss_flux: SDSS export fluxes: "model", "petro" or "cmodel"; "" takes the only kind the
            table has and refuses a table with several.
        extinction, ab_offsets, error_floors: the SDSS export's corrections (Galactic extinction
            from its ``EXTINCTION`` column, SDSS -> AB offsets, kcorrect error floors).
        columns: column map, standard name -> stored column (``id``, ``ra``, ``dec``, ``z``,
            ``flux_u``/``ivar_u``/``fluxerr_u`` or ``mag_u``/``magerr_u`` per band; the
            ``[ingest.columns]`` table of a config file). The sdss preset takes id/ra/dec/z only.
        flux_unit: unit of the table preset's fluxes (and flux errors; ivars in its inverse
            square): "nanomaggies", "maggies", "jy" or "ujy".
        mag_system: magnitude system of the table preset's magnitudes: "ab".
        flag_preset: SDSS photo-flag cut: "sedflow2022" (the paper), "sdss_clean_extended",
            "sdss_clean_point".
        flag_mode: "object" (the 64-bit object flags) or "per_band" (every band in flag_bands).
        flag_bands: bands checked in per_band mode.
        psf_err_band: band whose PSF magnitude error the sdss_clean_* presets check.
        missing_flags: a galaxy absent from the flags table is "exclude"d (status cut) or "keep"t.
        dflags_cut: also cut NSA DFLAGS bits 0–2 in any ugriz band (off in the paper).
        partition_rows: FITS rows per read (one Dask partition; bounds memory).
        pixel_threshold: most rows in one HEALPix pixel of the output catalog.
        highest_order: deepest HEALPix order a pixel may be split to.
        strict: turn the ingest sanity warnings into errors.
    """

    preset: Literal["auto", "nsa", "sdss", "table"] = "auto"
    photometry: Literal["sersic", "elpetro"] = "sersic"
    sdss_flux: Literal["", "model", "petro", "cmodel"] = ""
    extinction: bool = True
    ab_offsets: bool = True
    error_floors: bool = True
    columns: tuple[tuple[str, str], ...] = ()
    flux_unit: Literal["nanomaggies", "maggies", "jy", "ujy"] = "nanomaggies"
    mag_system: Literal["ab"] = "ab"
    flag_preset: Literal["sedflow2022", "sdss_clean_extended", "sdss_clean_point"] = "sedflow2022"
    flag_mode: Literal["object", "per_band"] = "object"
    flag_bands: tuple[str, ...] = ("u", "g", "r", "i", "z")
    psf_err_band: str = "g"
    missing_flags: Literal["exclude", "keep"] = "exclude"
    dflags_cut: bool = False
    partition_rows: int = 100_000
    pixel_threshold: int = 50_000
    highest_order: int = 7
    strict: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.columns, dict):  # a config file's [ingest.columns] table
            object.__setattr__(self, "columns", tuple((str(k), str(v)) for k, v in self.columns.items()))
        if not all(isinstance(kv, (tuple, list)) and len(kv) == 2 for kv in self.columns):
            raise ValueError("ingest.columns must map standard names to column names (a table of strings)")
        object.__setattr__(self, "columns", tuple((str(k), str(v)) for k, v in self.columns))
        _check_choices("ingest", self, {
            "preset": ("auto", "nsa", "sdss", "table"),
            "photometry": ("sersic", "elpetro"),
            "sdss_flux": ("", "model", "petro", "cmodel"),
            "flux_unit": ("nanomaggies", "maggies", "jy", "ujy"),
            "mag_system": ("ab",),
            "flag_preset": ("sedflow2022", "sdss_clean_extended", "sdss_clean_point"),
            "flag_mode": ("object", "per_band"),
            "missing_flags": ("exclude", "keep"),
        })
        bad = [b for b in (*self.flag_bands, self.psf_err_band) if b not in ("u", "g", "r", "i", "z")]
        if bad or not self.flag_bands:
            raise ValueError(f"ingest.flag_bands / psf_err_band must be ugriz bands; got {bad or 'none'}")
        if self.partition_rows < 1 or self.pixel_threshold < 1 or not 0 <= self.highest_order <= 19:
            raise ValueError("ingest: partition_rows, pixel_threshold >= 1 and 0 <= highest_order <= 19")


@dataclass(frozen=True)
class TrainingConfig:
    """Training the posterior estimator (``sedflow train``).

    Attributes:
        flow: "zuko_maf" (affine autoregressive/coupling, zuko via sbi), "zuko_nsf" (spline),
            "maf" (sbi's nflows MAF, the paper's), "nsf" (nflows spline).
        num_transforms: flow transforms (the paper: 15).
        hidden_features: hidden layer widths of each transform's network (the paper: 500, 500).
        num_bins: spline bins (nsf flows).
        passes: zuko flows: 2 = coupling (fast sampling), 0 = fully autoregressive.
        batch_size: training batch size.
        learning_rate: Adam learning rate (the paper: 5e-4).
        lr_schedule: "constant" (the paper) or "cosine" (decays to 1 % over the time budget).
        theta_transform: "probit": the flow models Φ⁻¹((θ − lo) / (hi − lo)) of each box
            coordinate, so no draw leaves the prior box and the uniform prior is exactly the
            flow's Gaussian base; "logit": logit((θ − lo) / (hi − lo)), the same guarantee but
            2–4 % over-coverage at 68 % on prior-like parameters; "none": box coordinates (the paper),
            with rejection. See ``sedflow_dask.posterior.transforms`` for the measurement.
        validation_fraction: held out for early stopping (the paper: 0.1).
        stop_after_epochs: early stopping patience (the paper: 20).
        max_epochs: hard cap on epochs.
        max_minutes: wall-clock budget of the training loop [min] (resumed runs add up).
        threads: torch threads (None: torch's default). 1 by default: on these shared 2-core
            machines torch's OpenMP pool slows small-batch training 3-30x whenever another
            process competes for the cores (measured), while one thread is steady.
        renoise: observe the training rows' noiseless fluxes afresh through the set's noise
            proposal at every epoch after the first (errors, noise and dropped bands; seeded by
            the run seed and the epoch), so the flow never sees one noise draw twice. The set's
            rows were kept on their noiseless magnitudes alone, so fresh draws keep the training
            distribution exactly (``docs/noise-proposal.md``). Validation rows keep their stored
            noise, so validation losses stay comparable between epochs and runs. On by default
            (the shipped model was trained so); false trains on the stored noise draws alone.
            The proposal is the configured one (``noise.proposal``/``noise.model``), and a set
            simulated with another is refused with both hashes named.
        device: where the network trains: "cpu", or a torch CUDA device ("cuda", "cuda:1"),
            which holds the whole standardised training set (1.1 M rows: ~120 MB); the
            artifact is written from CPU copies of the weights either way, and a checkpoint
            resumes on any device.
    """

    flow: Literal["zuko_maf", "zuko_nsf", "maf", "nsf"] = "zuko_maf"
    num_transforms: int = 6
    hidden_features: tuple[int, ...] = (128, 128)
    num_bins: int = 8
    passes: int = 2
    batch_size: int = 512
    learning_rate: float = 5e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"
    theta_transform: Literal["none", "logit", "probit"] = "probit"
    validation_fraction: float = 0.1
    stop_after_epochs: int = 20
    max_epochs: int = 100_000
    max_minutes: float = 60.0
    threads: int | None = 1
    renoise: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"train.device must be 'cpu', 'cuda' or 'cuda:N'; got {self.device!r}")
        _check_choices("train", self, {"flow": ("zuko_maf", "zuko_nsf", "maf", "nsf"),
                                       "lr_schedule": ("constant", "cosine"),
                                       "theta_transform": ("none", "logit", "probit")})
        if self.num_transforms < 1 or not self.hidden_features or min(self.hidden_features) < 1:
            raise ValueError("train.num_transforms and train.hidden_features must be >= 1")
        if self.batch_size < 1 or self.learning_rate <= 0 or self.max_minutes <= 0 or self.max_epochs < 1:
            raise ValueError("train: batch_size, max_epochs >= 1 and learning_rate, max_minutes > 0")
        if not 0 < self.validation_fraction < 1 or self.stop_after_epochs < 1:
            raise ValueError("train: 0 < validation_fraction < 1 and stop_after_epochs >= 1")


@dataclass(frozen=True)
class SamplingConfig:
    """Posterior sampling.

    Attributes:
        n_samples: posterior draws per galaxy.
        max_rounds: rejection cap: at most ``max_rounds`` × n_samples proposals per galaxy;
            where it is hit, the missing draws are NaN and the accepted fraction says why.
        batch_galaxies: galaxies pushed through the flow together (bounds memory:
            batch_galaxies × n_samples × 11 floats per round, and in ``sedflow infer``
            batch_galaxies × n_samples × 17 derived values).
        n_stored: draws per galaxy stored in the output catalog's ``samples`` column (the rest
            are re-drawn on demand by ``sedflow resample`` from the galaxy's seed).
        task_rows: ``sedflow infer`` splits a HEALPix pixel into flow tasks of this many rows
            (bounds a task's time and memory and balances the load whatever the pixel sizes;
            the pixel is still written as one partition).
    """

    n_samples: int = 10_000
    max_rounds: int = 10
    batch_galaxies: int = 64
    n_stored: int = 100
    task_rows: int = 2048

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.max_rounds < 1 or self.batch_galaxies < 1:
            raise ValueError("sample: n_samples, max_rounds and batch_galaxies must be >= 1")
        if self.task_rows < 1:
            raise ValueError(f"sample.task_rows must be >= 1; got {self.task_rows}")
        if not 0 <= self.n_stored <= self.n_samples:
            raise ValueError(f"sample.n_stored must be in [0, n_samples = {self.n_samples}]; got {self.n_stored}")


@dataclass(frozen=True)
class FallbackConfig:
    """Which galaxies the flow's weighted draws cannot serve, and the MCMC fallback they get.

    Attributes:
        min_efficiency: a galaxy whose flow draws have an importance-sampling efficiency
            n_eff / S below this goes to the fallback (``docs/inference.md`` has the measurement).
        max_khat: ... or whose weights' Pareto k̂ exceeds this (0.7: Vehtari et al. 2024).
        ok_efficiency: a kept galaxy is "ok" at or above this efficiency (the flow needed
            almost no correction), "reweighted" below it; both keep the reweighted draws.
        n_walkers: ensemble walkers per galaxy (>= 2 × 11 + 2; even).
        max_seconds_per_galaxy: wall-clock bound per galaxy [s], a safety cap; a batch of G
            galaxies gets G × this, and a galaxy still short of its target then ends
            "unconverged" (its draws kept).
        max_steps: cap on ensemble steps per galaxy ("unconverged" when hit first); a safety bound
            the default time cap reaches first on the machines measured (long chains are stored
            thinned, ``docs/fallback.md``).
        convergence: when a chain is done: "tau" (``target_ess`` and ``min_tau_multiple`` below)
            or "rhat_ess" (ArviZ's rank-normalised split R̂ below ``max_rhat`` and bulk ESS at
            least ``min_bulk_ess`` for every parameter, each walker a chain: over 32 walkers
            R̂ < 1.01 takes several times longer, ``docs/fallback.md``). Both are recorded.
        max_rhat, min_bulk_ess: the "rhat_ess" thresholds (Vehtari et al. 2021: 1.01, 400).
        target_ess: effective samples (from the integrated autocorrelation time) for "tau".
        min_tau_multiple: ... and a "tau" chain must be at least this many autocorrelation times long.
        n_keep: thinned posterior samples returned per galaxy.
        max_chi2: a converged chain is "mcmc" only if the χ² of its posterior-median model
            photometry is within this of the best χ² its walkers found (20.5: the 99.9th
            percentile of χ² with 5 degrees of freedom); else it sits off the best fit and is
            "unconverged".
        enabled: run the fallback at all in ``sedflow infer`` (False: routed galaxies keep the
            flow's posterior with status "skipped").
        max_galaxies: at most this many galaxies per run get the fallback (< 0: no cap); the
            cap is shared among HEALPix pixels in proportion to their rows, so which galaxies
            get it does not depend on timing. The rest keep the flow's posterior, status "skipped".
        batch_galaxies: galaxies whose walkers share model calls in one fallback task.
        mixture_rescue: before the MCMC, give a galaxy whose flow weights fail a second
            proposal: the defensive mixture of the flow and a Student-t fitted to its weighted
            draws (``sedflow_dask.posterior.mixture``); it is routed only if that fails too.
        mixture_df: the t's degrees of freedom.
        mixture_inflation: its covariance over the weighted draws' covariance (flow coordinates).
        mixture_flow_fraction: the mixture's share of flow draws (the rest are t draws).
        mixture_rounds: at most this many mixtures, each t fitted to the previous round's
            weighted draws (adaptive importance sampling); the first whose weights pass is kept.
        independence_fraction: share of the MCMC's half-steps that propose every moving walker
            afresh from a Student-t fitted to the galaxy's own chain at its last convergence
            check (an independence Metropolis move; the rest are differential-evolution moves).
            0 turns the move off.
        independence_df: that t's degrees of freedom.
        independence_inflation: its shape over the chain's covariance (sampling coordinates).
    """

    min_efficiency: float = 0.02
    max_khat: float = 0.7
    ok_efficiency: float = 0.2
    convergence: Literal["rhat_ess", "tau"] = "tau"
    max_rhat: float = 1.01
    min_bulk_ess: int = 400
    n_walkers: int = 32
    max_seconds_per_galaxy: float = 120.0
    max_steps: int = 400_000
    target_ess: int = 1000
    min_tau_multiple: float = 50.0
    n_keep: int = 1000
    max_chi2: float = 20.5
    enabled: bool = True
    max_galaxies: int = -1
    batch_galaxies: int = 16
    mixture_rescue: bool = True
    mixture_df: float = 5.0
    mixture_inflation: float = 1.5
    mixture_flow_fraction: float = 0.5
    mixture_rounds: int = 2
    independence_fraction: float = 0.5
    independence_df: float = 5.0
    independence_inflation: float = 1.0

    def __post_init__(self) -> None:
        if self.batch_galaxies < 1:
            raise ValueError("fallback.batch_galaxies must be >= 1")
        if self.n_walkers < 24 or self.n_walkers % 2:
            raise ValueError("fallback.n_walkers must be even and >= 24 (2 x 11 parameters + 2)")
        if self.max_seconds_per_galaxy <= 0 or self.max_steps < 1 or self.target_ess < 1 or self.n_keep < 1:
            raise ValueError("fallback: max_seconds_per_galaxy > 0 and max_steps, target_ess, n_keep >= 1")
        if self.min_tau_multiple <= 0 or self.max_chi2 <= 0:
            raise ValueError("fallback: min_tau_multiple and max_chi2 must be > 0")
        if not 0 <= self.min_efficiency <= self.ok_efficiency <= 1 or not self.max_khat > 0:
            raise ValueError("fallback: 0 <= min_efficiency <= ok_efficiency <= 1 and max_khat > 0")
        _check_choices("fallback", self, {"convergence": ("rhat_ess", "tau")})
        if not self.max_rhat > 1 or self.min_bulk_ess < 1:
            raise ValueError("fallback: max_rhat > 1 and min_bulk_ess >= 1")
        if not self.mixture_df > 0 or not self.mixture_inflation > 0 or not 0 < self.mixture_flow_fraction < 1 \
                or self.mixture_rounds < 1:
            raise ValueError("fallback: mixture_df > 0, mixture_inflation > 0, 0 < mixture_flow_fraction < 1 and "
                             "mixture_rounds >= 1")
        if not 0 <= self.independence_fraction < 1 or not self.independence_df > 0 \
                or not self.independence_inflation > 0:
            raise ValueError("fallback: 0 <= independence_fraction < 1, independence_df > 0 and "
                             "independence_inflation > 0")


_SECTIONS: dict[str, type] = {
    "cluster": ClusterConfig,
    "noise": NoiseConfig,
    "simulate": SimulationConfig,
    "ingest": IngestConfig,
    "train": TrainingConfig,
    "sample": SamplingConfig,
    "fallback": FallbackConfig,
    "sps": SPSConfig,
}


@dataclass(frozen=True)
class Config:
    """The whole run configuration: one section per stage, every field with a default.

    Attributes:
        seed: the run seed every stage derives its random streams from.
        sps: forward-model options.
        cluster: where Dask work runs.
        noise: the noise model.
        simulate: training-set simulation.
        ingest: NSA ingestion.
        train: training the posterior estimator.
        sample: posterior sampling.
        fallback: the MCMC fallback for out-of-support galaxies.
    """

    seed: int = 0
    sps: SPSConfig = dataclasses.field(default_factory=SPSConfig)
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    noise: NoiseConfig = dataclasses.field(default_factory=NoiseConfig)
    simulate: SimulationConfig = dataclasses.field(default_factory=SimulationConfig)
    ingest: IngestConfig = dataclasses.field(default_factory=IngestConfig)
    train: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    sample: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)
    fallback: FallbackConfig = dataclasses.field(default_factory=FallbackConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        data = dict(data)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        sections = {name: _section_from_dict(kind, data.pop(name, {}), name) for name, kind in _SECTIONS.items()}
        return cls(**sections, **data)


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
