"""The training loop (pure torch): Adam on −log q(θ | x), early stopping, a wall-clock budget,
and a checkpoint after every epoch so an interrupted run resumes where it stopped.

Shuffling uses a generator seeded by (seed, epoch), so a resumed run draws the same batches as
an uninterrupted one would have.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..config import TrainingConfig
from ..console import STDERR, MessageStream, resolve_stream

if TYPE_CHECKING:
    from sbi.neural_nets.estimators import ConditionalDensityEstimator


@dataclass
class TrainingState:
    """Where a training run stands (saved in every checkpoint)."""

    epoch: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = -1
    epochs_since_improvement: int = 0
    elapsed_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str | None = None


def _lr_factor(config: TrainingConfig, elapsed_s: float) -> float:
    if config.lr_schedule == "constant":
        return 1.0
    frac = min(elapsed_s / (60.0 * config.max_minutes), 1.0)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac))


def mean_loss(estimator: ConditionalDensityEstimator, theta: torch.Tensor, x: torch.Tensor, batch: int = 16384
              ) -> float:
    """Mean −log q over a data set, without gradients."""
    total = 0.0
    with torch.no_grad():
        for s in range(0, theta.shape[0], batch):
            total += float(estimator.loss(theta[s:s + batch], x[s:s + batch]).sum())
    return total / theta.shape[0]


def save_checkpoint(path: Path, estimator, optimizer, state: TrainingState, best_state: dict, fingerprint: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    torch.save({"model": estimator.state_dict(), "optimizer": optimizer.state_dict(), "state": asdict(state),
                "best_model": best_state, "fingerprint": fingerprint}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, estimator, optimizer, fingerprint: dict) -> tuple[TrainingState, dict]:
    """Restore a checkpoint written under the same fingerprint (data hash, architecture, options)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from None
    if ckpt.get("fingerprint") != fingerprint:
        diff = sorted(k for k in set(fingerprint) | set(ckpt.get("fingerprint", {}))
                      if fingerprint.get(k) != ckpt.get("fingerprint", {}).get(k))
        raise ValueError(f"checkpoint {path} belongs to another run (differs in {diff}); "
                         f"start afresh without --resume or use another --out")
    estimator.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return TrainingState(**ckpt["state"]), ckpt["best_model"]


def _cpu_copy(estimator) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in estimator.state_dict().items()}


def train_flow(estimator: ConditionalDensityEstimator, theta: torch.Tensor, x: torch.Tensor, train_idx: torch.Tensor,
               val_idx: torch.Tensor, config: TrainingConfig, *, seed: int, checkpoint: Path,
               fingerprint: dict[str, Any], resume: bool = False,
               fresh_inputs: Callable[[int], torch.Tensor] | None = None,
               stream: MessageStream = STDERR) -> tuple[dict, TrainingState]:
    """Train ``estimator`` on standardised (θ, x); returns the best weights and the final state.

    The estimator, θ, x and the index tensors sit on one device (the CPU or a GPU); the best
    weights come back as CPU tensors. The batch order is drawn on the CPU, so it does not depend
    on the device. ``fresh_inputs(epoch)``, where given, returns standardised inputs for the
    training rows (len(train_idx), 16) that replace theirs in ``x`` (in place) before every epoch
    after the first; it must depend on the epoch alone, so that a resumed run sees the same ones.
    """
    from tqdm.auto import tqdm

    stream = resolve_stream(stream)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=config.learning_rate)
    state, best_state = TrainingState(), _cpu_copy(estimator)
    if resume:
        if not checkpoint.exists():
            raise ValueError(f"--resume: no checkpoint at {checkpoint}")
        state, best_state = load_checkpoint(checkpoint, estimator, optimizer, fingerprint)
        if state.stop_reason in ("time_budget", "max_epochs"):
            state.stop_reason = None  # the budget or cap may have been raised; the checks below re-apply
        if stream is not None:
            print(f"train: resuming after epoch {state.epoch} ({state.elapsed_s / 60:.1f} min done, "
                  f"best validation loss {state.best_val_loss:.4f} at epoch {state.best_epoch})", file=stream)
    budget_s = 60.0 * config.max_minutes
    theta_val, x_val = theta[val_idx], x[val_idx]
    n_train = train_idx.shape[0]
    n_batches = math.ceil(n_train / config.batch_size)
    while state.stop_reason is None:
        if state.epoch >= config.max_epochs:
            state.stop_reason = "max_epochs"
            break
        if state.elapsed_s >= budget_s:
            state.stop_reason = "time_budget"
            break
        if fresh_inputs is not None and state.epoch > 0:
            x[train_idx] = fresh_inputs(state.epoch).to(x.device)
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + state.epoch)
        order = train_idx[torch.randperm(n_train, generator=gen).to(train_idx.device)]
        estimator.train()
        t_epoch = time.perf_counter()
        elapsed0 = state.elapsed_s
        # summed on the device: reading the loss back every batch would stall a GPU on each one
        train_sum, seen = torch.zeros((), dtype=torch.float64, device=theta.device), 0
        bar = tqdm(total=n_batches, desc=f"epoch {state.epoch + 1}", unit="batch", file=stream,
                   disable=stream is None or not stream.isatty(), leave=False, dynamic_ncols=True, mininterval=1.0)
        for b in range(n_batches):
            rows = order[b * config.batch_size:(b + 1) * config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * _lr_factor(config, state.elapsed_s)
            loss = estimator.loss(theta[rows], x[rows]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            train_sum += loss.detach().double() * rows.shape[0]
            seen += rows.shape[0]
            state.elapsed_s = elapsed0 + time.perf_counter() - t_epoch
            if b % 50 == 0:
                bar.set_postfix(loss=f"{float(train_sum) / seen:.3f}")
            bar.update(1)
            if state.elapsed_s >= budget_s:
                break
        bar.close()
        estimator.eval()
        train_loss = float(train_sum) / max(seen, 1)
        val = mean_loss(estimator, theta_val, x_val)
        state.elapsed_s = elapsed0 + time.perf_counter() - t_epoch
        state.epoch += 1
        improved = val < state.best_val_loss
        if improved:
            state.best_val_loss, state.best_epoch, state.epochs_since_improvement = val, state.epoch, 0
            best_state = _cpu_copy(estimator)
        else:
            state.epochs_since_improvement += 1
        state.history.append({"epoch": state.epoch, "train_loss": train_loss, "val_loss": val,
                              "elapsed_s": round(state.elapsed_s, 2), "rows": seen})
        if state.epochs_since_improvement >= config.stop_after_epochs:
            state.stop_reason = "early_stopping"
        save_checkpoint(checkpoint, estimator, optimizer, state, best_state, fingerprint)
        if stream is not None:
            print(f"train: epoch {state.epoch}: train {train_loss:.4f}, validation {val:.4f}"
                  f"{' (best)' if improved else ''}; {state.elapsed_s / 60:.1f} of {config.max_minutes:g} min",
                  file=stream, flush=True)
    save_checkpoint(checkpoint, estimator, optimizer, state, best_state, fingerprint)
    return best_state, state
