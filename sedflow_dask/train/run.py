"""``sedflow train``: fit the posterior estimator to a training set and write the artifact."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..config import Config
from ..console import STDERR, MessageStream, resolve_stream
from ..noise.proposal import resolve_proposal
from ..posterior.artifact import PosteriorModel
from ..posterior.flows import architecture_of, build_flow
from ..posterior.inputs import input_statistics, standardize_inputs
from ..posterior.transforms import to_flow_space
from ..sps.parameters import BOX_LOWER, BOX_UPPER
from .data import epoch_rng, load_training_data, reobserved_inputs, split_indices, standardization, training_proposal
from .loop import train_flow

CHECKPOINT = "checkpoint.pt"


def train_posterior(config: Config, training_set: str | Path, out: str | Path, *, resume: bool = False,
                    command: str | None = None, stream: MessageStream = STDERR) -> PosteriorModel:
    """Train q(θ_box | x) on ``training_set`` and save the artifact in ``out`` (checkpoints there too)."""
    stream = resolve_stream(stream)
    tc = config.train
    device = training_device(tc.device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(config.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_training_data(training_set, noiseless=tc.renoise)
    train_idx, val_idx = split_indices(len(data.theta), tc.validation_fraction, config.seed)
    theta_flow = to_flow_space(data.theta, tc.theta_transform, BOX_LOWER, BOX_UPPER)
    theta_mean, theta_std = standardization(theta_flow[train_idx])
    x_mean, x_std = input_statistics(data.x[train_idx])
    theta_t = torch.as_tensor((theta_flow - theta_mean) / theta_std, dtype=torch.float32).to(device)
    del theta_flow
    x_t = torch.from_numpy(standardize_inputs(data.x, x_mean, x_std)).to(device)
    arch = architecture_of(tc)
    estimator = build_flow(arch).to(device)
    fingerprint = {"training_set_sha256": data.sha256, "architecture": arch, "seed": config.seed,
                   "theta_transform": tc.theta_transform,
                   "batch_size": tc.batch_size, "learning_rate": tc.learning_rate, "lr_schedule": tc.lr_schedule,
                   "validation_fraction": tc.validation_fraction, "renoise": tc.renoise}
    fresh_inputs = None
    if tc.renoise:
        proposal = training_proposal(data.summary, resolve_proposal(config.noise.proposal, config.noise.model))
        assert data.flux_true is not None and data.z is not None
        flux_true, z_train = data.flux_true[train_idx], data.z[train_idx]

        def fresh_inputs(epoch: int) -> torch.Tensor:
            x_new = reobserved_inputs(proposal, flux_true, z_train, epoch_rng(config.seed, epoch))
            return torch.from_numpy(standardize_inputs(x_new, x_mean, x_std))
    if stream is not None:
        n_par = sum(p.numel() for p in estimator.parameters())
        print(f"train: {len(train_idx):,} training / {len(val_idx):,} validation rows from {data.path}; "
              f"{tc.flow} with {tc.num_transforms} transforms x {list(tc.hidden_features)} ({n_par:,} weights); "
              f"on {device}, torch threads {torch.get_num_threads()}; budget {tc.max_minutes:g} min", file=stream,
              flush=True)
    t0 = time.perf_counter()
    best, state = train_flow(estimator, theta_t, x_t, torch.as_tensor(train_idx, device=device),
                             torch.as_tensor(val_idx, device=device), tc, seed=config.seed,
                             checkpoint=out / CHECKPOINT, fingerprint=fingerprint, resume=resume,
                             fresh_inputs=fresh_inputs, stream=stream)
    del theta_t, x_t
    estimator = estimator.to("cpu")
    estimator.load_state_dict(best)
    estimator.eval()
    summary = data.summary
    meta: dict[str, Any] = {
        "architecture": arch,
        "prior": summary["prior"],
        "training_set": {"path": data.path, "sha256": data.sha256, "n_kept": summary["n_kept"],
                         "n_drawn": summary["n_drawn"], "seed": summary["seed"]},
        "ssp_sha256": summary["ssp_sha256"],
        "noise_sha256": summary["noise_sha256"],
        "proposal_sha256": summary["proposal_sha256"],
        "proposal": summary["proposal"],
        "sps": summary["sps"],
        "colour_quantile": summary["colour_quantile"],
        "colour_quantiles": summary["colour_quantiles"],
        "versions": _versions(),
        "training": {
            "command": command, "seed": config.seed, "config": dataclasses.asdict(tc),
            "n_train": int(len(train_idx)), "n_validation": int(len(val_idx)),
            "epochs": state.epoch, "best_epoch": state.best_epoch, "best_val_loss": state.best_val_loss,
            "stop_reason": state.stop_reason, "train_minutes": round(state.elapsed_s / 60, 2),
            "wall_s_this_run": round(time.perf_counter() - t0, 1), "torch_threads": torch.get_num_threads(),
            "device": _device_name(device),
            "history": state.history,
        },
        "validation": None,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    model = PosteriorModel(estimator=estimator, theta_mean=theta_mean, theta_std=theta_std, x_mean=x_mean,
                           x_std=x_std, meta=meta, theta_transform=tc.theta_transform)
    model.save(out)
    if stream is not None:
        print(f"train: stopped ({state.stop_reason}) after {state.epoch} epochs, {state.elapsed_s / 60:.1f} min; "
              f"best validation loss {state.best_val_loss:.4f} (epoch {state.best_epoch}); "
              f"artifact {out} (weights sha256 {model.sha256[:12]})", file=stream)
    return model


def training_device(name: str) -> torch.device:
    """The torch device ``train.device`` names; a clear error where it is not there."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device is {name!r} but this torch ({torch.__version__}) sees no CUDA device; "
                             f"use train.device=cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"train.device is {name!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _versions() -> dict[str, str]:
    import sbi

    versions = {"sedflow_dask": __version__, "sbi": sbi.__version__, "torch": torch.__version__,
                "numpy": np.__version__}
    try:
        import zuko

        versions["zuko"] = zuko.__version__
    except ImportError:
        pass
    return versions
