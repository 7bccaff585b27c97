"""Throughput and accuracy benchmark of the vectorised PROVABGS forward model.

Prints ONE JSON object on stdout (progress goes to stderr)::

    python benchmarks/bench_forward.py [--n 100000] [--repeats 5] [--n-reference 20] ...

What it measures, all in one process and one run:

* ``seds_per_s``: best of ``--repeats`` calls of ``PROVABGSModel().photometry(theta_box, z,
  space="box")`` (default config: float32, 10 Å, burst and both dust components) on fresh
  prior draws each repeat (θ box-uniform, z ~ U(1e-4, 0.2]); only the call is timed.
* ``reference_seds_per_s``, ``speedup``, ``max_abs_dmag``: the independent scalar float64
  reference (``tests/reference_model.py``) on a small subset, and the largest |Δmag| between
  it and the fast path on that subset; ``timed`` counts the SEDs each side ran (the speedup is a
  ratio of per-SED rates).
* ``sgemm_gflops`` / ``sgemm_gflops_model_shape``: torch float32 matmul throughput on this
  machine in the same run: a square product on torch's threads, and the model's own product
  shape run the way the engine runs its blocks (one single-threaded product per worker thread,
  concurrently); from the analytic ``flop_per_sed``, the fraction of the latter the model reaches.
* ``variants``: the 20 Å grid (``wave_step_factor=2``) and the time-averaged bin SSPs
  (``ssp_age_rule="average"``) on the same θ, z as the default model: speed and |Δmag|.
* ``float32_vs_float64_max_abs_dmag``: the default float32 synthesis against float64.

The reference model lives in the repository's ``tests/`` directory, which is not part of the
installed package: this benchmark needs a source checkout (it puts ``<repo>/tests`` on
``sys.path``, and ``<repo>`` too when ``sedflow_dask`` is not installed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
for _path in (REPO / "tests", REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import reference_model as ref  # noqa: E402  (tests/reference_model.py)
import torch  # noqa: E402
from _common import machine_info, matmul_gflops  # noqa: E402

from sedflow_dask.config import SPSConfig  # noqa: E402
from sedflow_dask.sps import BOX_LOWER, BOX_UPPER, PROVABGSModel, load_ssp_table  # noqa: E402

Z_LO, Z_HI = 1e-4, 0.2
#: Extra populations per galaxy under the default ("centre") rule: the partial last bin and
#: the burst, each 2 table ages x 2 metallicity nodes = 4 gathered table rows.
EXTRA_SLOTS = 8


def log(msg: str) -> None:
    print(f"[bench_forward] {msg}", file=sys.stderr, flush=True)


def prior_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(theta_box (n, 11), z (n,)): box-uniform θ and z ~ U(Z_LO, Z_HI]."""
    box = rng.uniform(BOX_LOWER, BOX_UPPER, (n, BOX_LOWER.size))
    z = Z_HI - (Z_HI - Z_LO) * rng.random(n)
    return box, z


def to_mag(maggies: np.ndarray) -> np.ndarray:
    return -2.5 * np.log10(maggies)


def time_photometry(model: PROVABGSModel, box: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    out = model.photometry(box, z, space="box")
    return time.perf_counter() - t0, out


def best_rate(model: PROVABGSModel, draws: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, list[float]]:
    """Best SEDs/s over the given draws, and every call's seconds."""
    times = []
    for box, z in draws:
        dt, _ = time_photometry(model, box, z)
        times.append(dt)
    return max(box.shape[0] / t for (box, _), t in zip(draws, times)), times


def flop_estimate(model: PROVABGSModel) -> dict[str, int]:
    """Analytic FLOPs (and exponentials) of one SED from the engine's table shapes.

    flop_per_sed = 2·(C_young + C_old)·W     dense product over the shared bins not in the
                                              engine's ScaledBinGroup: weights (n, C) @ bin-SSP
                                              tables (C, W), C = bins x used Z nodes
                 + 2·S·W                      gathered rows: S = 8 rows (last bin + burst, 2x2
                                              each) + 4 rows (the group's young and old tables)
                 + 2·D·W + 6·W                dust: −τ_ISM × Chebyshev basis (n, D=11) @ (D, W),
                                              −τ_BC·shape, ×e^{−τ_BC}·Y, +O, ×e^{−τ_ISM} (~6
                                              elementwise ops per pixel, counted as FLOPs)
                 + 2·W·B2                     photometry: (n, W) @ (W, B2 = 2·5 bands: both
                                              redshift nodes of the band-weight table)
    exp_per_sed  = 2·W                        e^{−τ_BC(λ)} and e^{−τ_ISM(λ)}

    An upper bound: photometry blocks skip the rest wavelengths no band sees at their redshift
    (7–22 % of W depending on z).
    """
    eng = model.engine
    w = eng.wave.size
    ju = eng._n_used_nodes
    first = eng.group.size if eng.group is not None else 0
    k = eng.bin_edges.size - 1
    c_young = max(eng.young_bins.size - first, 0) * ju
    c_old = (k - max(int(eng.old_bins[0]), first)) * ju
    sparse_rows = EXTRA_SLOTS + (4 if first else 0)
    d = eng._dust_cheb.shape[0] if eng._dust_cheb is not None else 11
    b2 = eng._band_pairs.shape[2]
    flop = 2 * (c_young + c_old) * w + 2 * sparse_rows * w + (2 * d * w + 6 * w) + 2 * w * b2
    return {
        "flop_per_sed": int(flop),
        "exp_per_sed": int(2 * w),
        "n_wave": int(w),
        "young_columns": int(c_young),
        "old_columns": int(c_old),
        "sparse_rows": int(sparse_rows),
        "grouped_bins": int(first),
    }


def run(
    n: int = 100_000,
    repeats: int = 5,
    n_reference: int = 20,
    n_variants: int = 20_000,
    n_dtype: int = 2000,
    sgemm_size: int = 2048,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the benchmark and return the result dict (see the module docstring)."""
    if min(n, repeats, n_reference, n_variants, n_dtype, sgemm_size) < 1:
        raise ValueError("all sizes must be >= 1")
    rng = np.random.default_rng(seed)
    table = load_ssp_table()
    t0 = time.perf_counter()
    model = PROVABGSModel(table=table)
    log(f"model built in {time.perf_counter() - t0:.2f} s; engine threads {model.engine.threads}")

    # ---- throughput of the default model (fresh draws each repeat, drawn before the timer)
    model.photometry(*prior_draws(rng, min(n, 2048)), space="box")  # warm-up
    times = []
    first = None
    seds_per_call = set()  # rows each timed call returned
    for r in range(repeats):
        box, z = prior_draws(rng, n)
        dt, out = time_photometry(model, box, z)
        times.append(dt)
        seds_per_call.add(int(out.shape[0]))
        if first is None:
            first = (box, z, out)
        log(f"repeat {r + 1}/{repeats}: {n} SEDs in {dt:.3f} s ({n / dt:,.0f} SEDs/s)")
    seds_per_s = n / min(times)

    # ---- scalar reference on a subset of the first repeat's draws
    box, z, maggies = first
    n_ref = min(n_reference, n)
    phys = np.array([ref.box_to_physical(b) for b in box[:n_ref]])
    ref.reference_sed(phys[0], z[0], table)  # warm-up: imports, filters, NMF files
    ref_maggies = np.empty((n_ref, maggies.shape[1]))
    t0 = time.perf_counter()
    for i in range(n_ref):
        ref_maggies[i] = ref.reference_sed(phys[i], z[i], table)["maggies"]
    ref_time = time.perf_counter() - t0
    ref_timed = int(np.all(np.isfinite(ref_maggies), axis=1).sum())  # SEDs the reference returned
    reference_seds_per_s = n_ref / ref_time
    dmag_ref = np.abs(to_mag(maggies[:n_ref]) - to_mag(ref_maggies))
    log(f"reference: {n_ref} SEDs in {ref_time:.2f} s; max |dmag| {dmag_ref.max():.2e}")

    # ---- same-run matmul throughput
    flops = flop_estimate(model)
    workers = int(model.engine.threads)
    k_model = flops["young_columns"] + flops["old_columns"]
    model_shape = (model.config.chunk_size, k_model, flops["n_wave"])
    sgemm = {
        # the usual figure: one square product on torch's intra-op threads
        "square": matmul_gflops(sgemm_size, sgemm_size, sgemm_size),
        # the model's product, run as the engine runs it: `workers` single-threaded blocks
        "model_shape": matmul_gflops(*model_shape, workers=workers),
        # the same product split over torch's intra-op threads
        "model_shape_intraop": matmul_gflops(*model_shape),
        "square_workers": matmul_gflops(sgemm_size, sgemm_size, sgemm_size, workers=workers),
    }
    gflops_achieved = flops["flop_per_sed"] * seds_per_s / 1e9
    log(f"sgemm {sgemm['square']:.1f} GFLOP/s ({sgemm_size}^3); model shape {model_shape}: "
        f"{sgemm['model_shape']:.1f} GFLOP/s on {workers} single-threaded workers, "
        f"{sgemm['model_shape_intraop']:.1f} intra-op; the model reaches {gflops_achieved:.1f} GFLOP/s")

    # ---- variants on the same θ, z as the default model
    nv = n_variants
    vbox, vz = prior_draws(rng, nv)
    n_var_repeats = min(repeats, 3)
    vdraws = [(vbox, vz)] * n_var_repeats
    default_rate, _ = best_rate(model, vdraws)
    default_mag = to_mag(model.photometry(vbox, vz, space="box"))
    variants: dict[str, Any] = {"n": nv, "default": {"seds_per_s": default_rate}}
    for name, cfg in (
        ("wave_step_20A", SPSConfig(wave_step_factor=2)),
        ("ssp_age_average", SPSConfig(ssp_age_rule="average")),
    ):
        vmodel = PROVABGSModel(table=table, config=cfg)
        vmodel.photometry(vbox[:256], vz[:256], space="box")  # warm-up
        rate, _ = best_rate(vmodel, vdraws)
        dmag = np.abs(to_mag(vmodel.photometry(vbox, vz, space="box")) - default_mag)
        variants[name] = {
            "config": {k: v for k, v in cfg.to_dict().items() if v != getattr(SPSConfig(), k)},
            "seds_per_s": rate,
            "speedup_vs_default": rate / default_rate,
            "max_abs_dmag_vs_default": float(dmag.max()),
            "median_abs_dmag_vs_default": float(np.median(dmag)),
            "p99_abs_dmag_vs_default": float(np.percentile(dmag.max(1), 99)),
            "fraction_over_1_mmag": float((dmag.max(1) > 1e-3).mean()),
            "max_abs_dmag_vs_default_per_band": [float(x) for x in dmag.max(0)],
        }
        log(f"variant {name}: {rate:,.0f} SEDs/s, max |dmag| vs default {dmag.max():.2e}, "
            f"median {np.median(dmag):.2e}")
    variants["wave_step_20A"]["within_1_mmag"] = bool(variants["wave_step_20A"]["max_abs_dmag_vs_default"] <= 1e-3)

    # ---- float32 vs float64 synthesis
    dbox, dz = prior_draws(rng, n_dtype)
    model64 = PROVABGSModel(table=table, config=SPSConfig(dtype="float64"))
    d64 = np.abs(to_mag(model.photometry(dbox, dz, space="box")) - to_mag(model64.photometry(dbox, dz, space="box")))
    log(f"float32 vs float64: max |dmag| {d64.max():.2e} on {n_dtype} draws")

    return {
        "n": int(n),
        "repeats": int(repeats),
        "seds_per_s": seds_per_s,
        "seconds_per_repeat": times,
        "n_reference": int(n_ref),
        "reference_seds_per_s": reference_seds_per_s,
        "speedup": seds_per_s / reference_seds_per_s,
        "timed": {
            # per SED rates: the fast path on whole calls of fresh draws, the scalar reference one
            # SED at a time on the first n_reference draws of the first call (the draws
            # max_abs_dmag compares)
            "fast": {"seds_per_call": sorted(seds_per_call), "calls": len(times)},
            "reference": {"seds": ref_timed, "draws": "first n_reference of the first fast call"},
            "accuracy_seds": int(dmag_ref.shape[0]),
        },
        "max_abs_dmag": float(dmag_ref.max()),
        "max_abs_dmag_per_band": [float(x) for x in dmag_ref.max(0)],
        "sgemm_gflops": sgemm["square"],
        "sgemm_gflops_model_shape": sgemm["model_shape"],
        "sgemm": {
            **{f"{k}_gflops": v for k, v in sgemm.items()},
            "square_shape": [sgemm_size] * 3,
            "model_shape": list(model_shape),
            "workers": workers,
            "note": "model_shape/square_workers: `workers` threads each running single-threaded products "
                    "concurrently, as the engine runs its blocks; square/model_shape_intraop: one product "
                    "on torch's intra-op threads",
        },
        "flop_per_sed": flops["flop_per_sed"],
        "exp_per_sed": flops["exp_per_sed"],
        "table_shapes": {k: flops[k] for k in ("n_wave", "young_columns", "old_columns", "sparse_rows", "grouped_bins")},
        "gflops_achieved": gflops_achieved,
        "fraction_of_sgemm": gflops_achieved / sgemm["model_shape"],
        "variants": variants,
        "float32_vs_float64_max_abs_dmag": float(d64.max()),
        "n_dtype": int(n_dtype),
        "threads": torch.get_num_threads(),
        "engine_threads": int(model.engine.threads),
        "machine": machine_info(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "ssp_sha256": table.sha256,
        "seed": int(seed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="SEDs per timed call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (fresh draws each); best is reported")
    parser.add_argument("--n-reference", type=int, default=20, help="galaxies run through the scalar reference")
    parser.add_argument("--n-variants", type=int, default=20_000, help="SEDs per variant call")
    parser.add_argument("--n-dtype", type=int, default=2000, help="draws for the float32-vs-float64 comparison")
    parser.add_argument("--sgemm-size", type=int, default=2048, help="side of the square sgemm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(n=args.n, repeats=args.repeats, n_reference=args.n_reference, n_variants=args.n_variants,
                 n_dtype=args.n_dtype, sgemm_size=args.sgemm_size, seed=args.seed)
    print(json.dumps(result, indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
