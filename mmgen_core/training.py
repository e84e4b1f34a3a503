"""One Accelerate training loop for the VAE, the vocoder and the UNet, with exact resume.

Every step draws its randomness (batch, noise, timesteps, dropout) from a generator seeded by
(seed, step, process), so a run resumed from ``last/`` follows the very same path as one that was
never interrupted. Checkpoints are safetensors (:func:`mmgen_core.checkpoints.save_state`)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from mmgen_core.checkpoints import CheckpointError, load_state, load_weights, save_state

LossFn = Callable[[torch.nn.Module, torch.Generator], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class LoopConfig:
    """Optimisation settings shared by every trained part."""
    steps: int
    lr: float
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 = no EMA
    checkpoint_every: int = 200
    log_every: int = 10


@dataclass
class TrainResult:
    """What a training run leaves: its loss history, EMA (if any) and throughput."""
    history: list[dict[str, float]] = field(default_factory=list)
    ema: EMAModel | None = None
    samples_per_s: float = float("nan")
    resumed_from: int = 0


def step_generator(seed: int, step: int, process: int = 0) -> torch.Generator:
    """The generator for one training step: same (seed, step, process) → same batch and noise."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + process)


def train(model: torch.nn.Module, loss_fn: LossFn, cfg: LoopConfig, ckpt_dir: str | Path, *, seed: int = 0,
          batch_size: int = 1, stop_at: int | None = None, desc: str = "train") -> TrainResult:
    """Train ``model`` with AdamW on ``loss_fn(model, generator)``; resume from ``ckpt_dir/last``.

    ``stop_at`` ends the run early (a time-boxed or interrupted run); calling again resumes it.
    """
    ckpt = Path(ckpt_dir) / "last"
    acc = Accelerator()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMAModel(params, decay=cfg.ema_decay, use_ema_warmup=True, power=0.75) if cfg.ema_decay else None
    result = TrainResult(ema=ema)
    start = 0
    if (ckpt / "state.json").exists():
        state = load_state(ckpt)
        load_weights(model, state["model"], str(ckpt))
        opt.load_state_dict(state["optim"])
        if ema is not None:
            if "ema" not in state:
                raise CheckpointError(f"{ckpt}: saved without EMA but ema_decay={cfg.ema_decay}; delete it to restart")
            ema.load_state_dict(state["ema"])
        start = result.resumed_from = int(state["step"])
        result.history = list(state["history"])
    model, opt = acc.prepare(model, opt)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    model.train()
    t0, n_timed = time.perf_counter(), 0
    bar = tqdm(range(start, end), desc=desc, initial=start, total=cfg.steps, disable=not acc.is_local_main_process)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        gen = step_generator(seed, step, acc.process_index)
        loss, parts = loss_fn(model, gen)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}; lower the learning rate")
        acc.backward(loss)
        if cfg.grad_clip:
            acc.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        n_timed += 1
        if step % cfg.log_every == 0 or step == end - 1:
            result.history.append({"step": step, "loss": float(loss.item()), **parts})
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step == end - 1:
            _save(ckpt, acc, model, opt, ema, step + 1, result.history)
    elapsed = time.perf_counter() - t0
    if n_timed:
        result.samples_per_s = n_timed * batch_size / elapsed
    model.eval()
    return result


def _save(path: Path, acc: Accelerator, model, opt, ema: EMAModel | None, step: int, history: list) -> None:
    if not acc.is_main_process:
        return
    state = {"model": acc.unwrap_model(model).state_dict(), "optim": opt.state_dict(), "step": step,
             "history": history}
    if ema is not None:
        state["ema"] = ema.state_dict()
    save_state(path, state)


def apply_ema(model: torch.nn.Module, ema: EMAModel | None) -> torch.nn.Module:
    """Copy the EMA weights into ``model`` (the weights used for sampling); no-op without EMA."""
    if ema is not None:
        ema.copy_to([p for p in model.parameters() if p.requires_grad])
    return model
