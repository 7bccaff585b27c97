"""Posterior sampling speed: the shipped model against a paper-size sbi MAF, in one run.

Prints ONE JSON object on stdout (progress on stderr)::

    python benchmarks/bench_sample.py [--model DIR] [--galaxies 64] [--samples 10000] [--threads 2]
                                      [--paper-galaxies 4] [--paper-samples 1000] [--repeats 3]

* ``ms_per_galaxy``: ``sample_posteriors`` on ``--galaxies`` held-out simulated galaxies (``sedflow
  validate``'s, observed in ``--regime``, default ``real``; their flow inputs built once) x
  ``--samples`` draws in one batched call with bounded rejection on, using ``--threads``
  threads: the median over ``--repeats`` timed calls (``ms_per_galaxy_runs`` lists each), after
  a warm-up; ``accept_frac`` is the mean accepted fraction, ``model_sha256`` the weights' hash.
* ``matched``: both sides on the same galaxies and draws, ``--repeats`` times each, alternating:
  the first ``--paper-galaxies`` of those galaxies x ``--paper-samples`` draws, through the
  shipped model (as above) and through an sbi MAF of the paper's size (15 transforms x 500
  hidden, nflows, untrained weights) built for the same inputs (``x_dim`` the shipped model's
  16: asinh magnitudes, log σ_f, band mask, z) and conditioned on the same standardised inputs,
  sampled through its density estimator directly, without rejection. Each side reports the galaxies and draws it timed, the median ms per galaxy and
  its range over the repeats.
* ``speedup`` = the paper MAF's median ms per galaxy / the shipped model's, both from
  ``matched`` (same galaxies, same draws); ``speedup_range`` the lowest and highest ratio of
  one repeat's times. Goal: >= 100.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
from sedflow_dask.noise.regimes import REGIMES  # noqa: E402
from sedflow_dask.photometry import N_BANDS  # noqa: E402
from sedflow_dask.posterior import build_flow, flow_inputs, load_posterior_model, sample_posteriors  # noqa: E402
from sedflow_dask.posterior.flows import architecture_of  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench_sample] {msg}", file=sys.stderr, flush=True)


def _median_and_range(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": [round(v, 2) for v in values]}


def run(model_dir: str | None = None, galaxies: int = 64, samples: int = 10_000, threads: int = 2,
        paper_galaxies: int = 4, paper_samples: int = 1000, repeats: int = 3, seed: int = 0,
        sgemm_size: int = 1024, regime: str = "real", proposal: str | None = None) -> dict:
    if min(galaxies, samples, threads, paper_galaxies, paper_samples, repeats) < 1:
        raise ValueError("galaxies, samples, threads, paper-galaxies, paper-samples and repeats must be >= 1")
    if paper_galaxies > galaxies:
        raise ValueError(f"--paper-galaxies ({paper_galaxies}) must not exceed --galaxies ({galaxies})")
    torch.set_num_threads(threads)
    gflops = matmul_gflops(sgemm_size, sgemm_size, sgemm_size)
    model = load_posterior_model(model_dir)
    _, _, obs = held_out_simulations(model, galaxies, seed, proposal_path=proposal, regime=regime)
    x = flow_inputs(obs[:, :N_BANDS], obs[:, N_BANDS:2 * N_BANDS], obs[:, 2 * N_BANDS])
    sample_posteriors(model, x[:2], 100, seed=seed, threads=threads)  # warm-up
    log(f"sampling {galaxies} galaxies x {samples} draws with {threads} threads, {repeats} times")
    ours_ms, post = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        post = sample_posteriors(model, x, samples, seed=seed, threads=threads)
        ours_ms.append(1000 * (time.perf_counter() - t0) / galaxies)

    paper_arch = architecture_of(TrainingConfig(flow="maf", num_transforms=15, hidden_features=(500, 500)))
    if paper_arch["x_dim"] != x.shape[1] or model.meta["architecture"]["x_dim"] != x.shape[1]:
        raise RuntimeError(f"the paper-size MAF ({paper_arch['x_dim']} inputs) and the shipped model "
                           f"({model.meta['architecture']['x_dim']}) must read the same {x.shape[1]} inputs")
    paper = build_flow(paper_arch)
    paper.eval()
    x_matched = x[:paper_galaxies]
    ctx = model.standardize_x(x_matched)
    log(f"matched: {paper_galaxies} galaxies x {paper_samples} draws, shipped model and paper-size MAF "
        f"(no rejection), {repeats} times each")
    matched_ours, matched_paper = [], []
    timed_ours, timed_paper = set(), set()  # (galaxies, draws per galaxy) each call returned
    with torch.no_grad():
        paper.sample((10,), condition=ctx[:1])  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            drawn = sample_posteriors(model, x_matched, paper_samples, seed=seed, threads=threads).samples
            matched_ours.append(1000 * (time.perf_counter() - t0) / paper_galaxies)
            timed_ours.add((drawn.shape[0], drawn.shape[1]))  # (G, S, 11)
            t0 = time.perf_counter()
            drawn = paper.sample((paper_samples,), condition=ctx)
            matched_paper.append(1000 * (time.perf_counter() - t0) / paper_galaxies)
            timed_paper.add((drawn.shape[1], drawn.shape[0]))  # (S, G, 11)
    if len(timed_ours) != 1 or len(timed_paper) != 1:
        raise RuntimeError(f"repeats drew different sizes: {timed_ours}, {timed_paper}")
    (g_ours, s_ours), (g_paper, s_paper) = timed_ours.pop(), timed_paper.pop()
    ratios = [p / o for p, o in zip(matched_paper, matched_ours)]
    ours = _median_and_range(ours_ms)
    return {
        "samples_per_galaxy": samples,
        "galaxies": galaxies,
        "repeats": repeats,
        "ms_per_galaxy": ours["median"],
        "ms_per_galaxy_range": [ours["min"], ours["max"]],
        "ms_per_galaxy_runs": ours["runs"],
        "accept_frac": round(float(post.accept_frac.mean()), 4),
        "accept_frac_min": round(float(post.accept_frac.min()), 4),
        "complete_galaxies": int((post.n_filled == samples).sum()),
        "model_sha256": model.sha256,
        "model_architecture": model.meta.get("architecture"),
        "paper_maf_architecture": paper_arch,
        "regime": regime,
        "matched": {
            "ours": {"galaxies": int(g_ours), "samples_per_galaxy": int(s_ours),
                     "ms_per_galaxy": _median_and_range(matched_ours)},
            "paper_maf": {"galaxies": int(g_paper), "samples_per_galaxy": int(s_paper),
                          "ms_per_galaxy": _median_and_range(matched_paper)},
        },
        "speedup": round(statistics.median(matched_paper) / statistics.median(matched_ours), 1),
        "speedup_range": [round(min(ratios), 1), round(max(ratios), 1)],
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
    p.add_argument("--paper-galaxies", type=int, default=4, help="galaxies of the matched comparison")
    p.add_argument("--paper-samples", type=int, default=1000, help="draws per galaxy of the matched comparison")
    p.add_argument("--repeats", type=int, default=3, help="timed calls of each measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sgemm-size", type=int, default=1024)
    p.add_argument("--regime", default="real", choices=REGIMES,
                   help="how the held-out galaxies are observed (sedflow_dask.noise.regimes; default real)")
    p.add_argument("--proposal", default=None, metavar="FILE",
                   help="the noise proposal the model was trained with (default: the shipped one)")
    args = p.parse_args(argv)
    result = run(args.model, args.galaxies, args.samples, args.threads, args.paper_galaxies, args.paper_samples,
                 args.repeats, args.seed, args.sgemm_size, args.regime, args.proposal)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
