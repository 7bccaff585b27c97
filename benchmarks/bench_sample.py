"""Posterior sampling speed: the shipped model against a paper-size sbi MAF, in one run.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_sample.py [--model DIR] [--galaxies 64] [--samples 10000] [--threads 2]

* ``ms_per_galaxy``: ``sample_posteriors`` on ``--galaxies`` held-out simulated galaxies in one
  batched call with bounded rejection on (``accept_frac`` is the mean accepted fraction), using
  ``--threads`` threads; the model's weights hash is printed as ``model_sha256``.
* ``paper_ms_per_galaxy``: an sbi MAF of the paper's size (15 transforms x 500 hidden, nflows,
  untrained weights) sampled through its density estimator directly, without rejection, for
  ``--paper-galaxies`` galaxies with torch on ``--threads`` threads.
* ``speedup`` = paper_ms_per_galaxy / ms_per_galaxy. Goal: >= 100 (<= 0.13 s per galaxy).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import sedflow_dask  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402

from _common import machine_info, matmul_gflops  # noqa: E402
from sedflow_dask.config import TrainingConfig  # noqa: E402
from sedflow_dask.diagnostics.validate import held_out_simulations  # noqa: E402
from sedflow_dask.posterior import build_flow, load_posterior_model, sample_posteriors  # noqa: E402
from sedflow_dask.posterior.flows import architecture_of  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench_sample] {msg}", file=sys.stderr, flush=True)


def run(model_dir: str | None = None, galaxies: int = 64, samples: int = 10_000, threads: int = 2,
        paper_galaxies: int = 1, paper_samples: int | None = None, seed: int = 0, sgemm_size: int = 1024) -> dict:
    torch.set_num_threads(threads)
    gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    model = load_posterior_model(model_dir)
    _, _, x = held_out_simulations(model, galaxies, seed)
    sample_posteriors(model, x[:2], 100, seed=seed, threads=threads)  # warm-up
    log(f"sampling {galaxies} galaxies x {samples} draws with {threads} threads")
    t0 = time.perf_counter()
    post = sample_posteriors(model, x, samples, seed=seed, threads=threads)
    dt = time.perf_counter() - t0

    paper_samples = paper_samples or samples
    paper = build_flow(architecture_of(TrainingConfig(flow="maf", num_transforms=15, hidden_features=(500, 500))))
    paper.eval()
    ctx = torch.as_tensor(x[:paper_galaxies], dtype=torch.float32)
    log(f"paper-size MAF: {paper_galaxies} galaxies x {paper_samples} draws, no rejection")
    with torch.no_grad():
        paper.sample((10,), condition=ctx[:1])
        t0 = time.perf_counter()
        paper.sample((paper_samples,), condition=ctx)
        dt_paper = time.perf_counter() - t0
    paper_ms = 1000 * dt_paper / paper_galaxies * (samples / paper_samples)
    ms = 1000 * dt / galaxies
    return {
        "samples_per_galaxy": samples,
        "galaxies": galaxies,
        "ms_per_galaxy": round(ms, 2),
        "accept_frac": round(float(post.accept_frac.mean()), 4),
        "accept_frac_min": round(float(post.accept_frac.min()), 4),
        "complete_galaxies": int((post.n_filled == samples).sum()),
        "model_sha256": model.sha256,
        "model_architecture": model.meta.get("architecture"),
        "paper_ms_per_galaxy": round(paper_ms, 1),
        "paper_galaxies": paper_galaxies,
        "paper_samples_timed": paper_samples,
        "speedup": round(paper_ms / ms, 1),
        "goal_speedup": 100,
        "threads": threads,
        "sgemm_gflops": round(gflops, 1),
        "torch_version": torch.__version__,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="artifact directory (default: the shipped model)")
    p.add_argument("--galaxies", type=int, default=64)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--paper-galaxies", type=int, default=1)
    p.add_argument("--paper-samples", type=int, default=None,
                   help="draws timed for the paper MAF (scaled to --samples; default: --samples)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sgemm-size", type=int, default=1024)
    args = p.parse_args(argv)
    result = run(args.model, args.galaxies, args.samples, args.threads, args.paper_galaxies, args.paper_samples,
                 args.seed, args.sgemm_size)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
