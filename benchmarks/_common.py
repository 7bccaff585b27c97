"""Helpers every benchmark shares: machine description and a same-run matmul speed figure.

Benchmarks compare speeds as ratios against figures measured in the same process (these
machines are noisy), so each prints ``sgemm_gflops`` next to its own numbers.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch


@contextlib.contextmanager
def torch_threads(n: int):
    """Set torch's intra-op thread count for the duration."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def matmul_gflops(m: int, k: int, n: int, *, workers: int | None = None, repeats: int = 5,
                  min_seconds: float = 0.1) -> float:
    """Best-of-``repeats`` float32 GFLOP/s of (m, k) @ (k, n).

    ``workers=None``: one product at a time, split over torch's intra-op threads. ``workers=T``:
    T Python threads each run single-threaded products on their own operands concurrently, the
    way the model's engine runs its blocks (``SpectralSynthesis.map_blocks``).
    """
    n_ops = 1 if workers is None else workers
    ops = []
    for _ in range(n_ops):
        a = torch.randn(m, k, dtype=torch.float32)
        b = torch.randn(k, n, dtype=torch.float32)
        ops.append((a, b, torch.empty(m, n, dtype=torch.float32)))

    def work(op, inner: int) -> None:
        a, b, out = op
        for _ in range(inner):
            torch.matmul(a, b, out=out)

    def wall(inner: int, pool: ThreadPoolExecutor | None) -> float:
        t0 = time.perf_counter()
        if pool is None:
            work(ops[0], inner)
        else:
            for fut in [pool.submit(work, op, inner) for op in ops]:
                fut.result()
        return time.perf_counter() - t0

    def measure(pool: ThreadPoolExecutor | None) -> float:
        wall(1, pool)  # warm-up
        inner = max(1, math.ceil(min_seconds / max(wall(1, pool), 1e-7)))
        best = min(wall(inner, pool) for _ in range(repeats))
        return 2.0 * m * k * n * n_ops * inner / best / 1e9

    if workers is None:
        return measure(None)
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        return measure(pool)


def machine_info() -> dict[str, Any]:
    proc = platform.processor()
    if not proc and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    proc = line.split(":", 1)[1].strip()
                    break
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = None
    return {
        "processor": proc or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
