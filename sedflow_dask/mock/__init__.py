"""Synthetic NSA-schema catalogs for tests, demos and benchmarks (``sedflow mock-nsa``).

:func:`write_mock_nsa` writes a deterministic (seeded) NSA-schema FITS catalog whose galaxies
come from the forward model and the noise model, its SDSS photo-flag companions (FITS, Parquet,
split-int32 FITS) and a truth table keyed by NSAID. Generation (:mod:`.generate`, pure numpy)
is separate from writing (:mod:`.write`, fitsio and pyarrow), and both go in row blocks.

Conventions the truth encodes (``docs/nsa-ingest.md`` §3, §5, §6):

- ``mag_*``/``sigma_*`` are float64 values of the float32 numbers as written: m = 22.5 −
  2.5 log10 f (NaN for f <= 0 or NaN), σ_m = 1.0857 / (|f| √ivar) (NaN for ivar <= 0).
- ``ingest_reason`` is set by construction from the injected defects for the default ingest
  options (preset sedflow2022, flag_mode object, the flag companion, missing_flags exclude,
  no DFLAGS cut); :func:`expected_ingest_reason` gives it for other options. Each injected
  bad value sets one bit: f <= 0 → NONPOSITIVE_FLUX, NaN f → NONFINITE_FLUX, ivar = 0 or < 0 →
  BAD_IVAR, NaN Z → Z_INVALID, Z < 0 or Z in (0.2, 0.3) → Z_OUT_OF_RANGE; a row missing from
  the companion has FLAGS_MISSING alone (no FLAGS_UNCLEAN). BAD_SIGMA is never expected: σ_m
  of a finite positive float32 flux and ivar is always finite, and the bit is read as "σ_m
  not finite although flux and ivar passed their own checks". An ingest that also sets
  BAD_SIGMA wherever σ_m is NaN/inf because of a bad flux or ivar should compare with
  ``reason & ~BAD_SIGMA``.
- ``injected_oos_noise``/``injected_oos_color`` label the injected outliers (and the golden
  rows as noise outliers). Ordinary σ_m stay below μ + 2.5 s of the noise model and ordinary
  noiseless colours above the training 0.1th percentiles, so the ingest's OOS flags should
  match the labels up to rare noise-induced crossings.
- Colour outliers' θ no longer reproduce their fluxes (``theta_reproduces_flux`` False):
  u was brightened and z dimmed after the forward model; ``flux_true_*`` are the modified
  noiseless fluxes the noise was added to.
"""

from .._lazy import lazy_exports

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "FLAG_DEFECTS": ".generate",
    "FLAG_MODES": ".generate",
    "FLAG_PRESETS": ".generate",
    "PATHOLOGIES": ".generate",
    "PATHOLOGY_RATES": ".generate",
    "MockBlock": ".generate",
    "MockLabels": ".generate",
    "MockPlan": ".generate",
    "expected_ingest_reason": ".generate",
    "generate_block": ".generate",
    "plan_mock_nsa": ".generate",
    "reference_colour_quantiles": ".generate",
    "NSA_VERSIONS": ".schema",
    "TFORMS_V1": ".schema",
    "catalog_dtype": ".schema",
    "flags_dtype": ".schema",
    "MockNSAFiles": ".write",
    "default_paths": ".write",
    "iter_blocks": ".write",
    "write_mock_nsa": ".write",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
