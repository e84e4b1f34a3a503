"""The one Accelerate training loop (aligner, VAE, vocoder, UNet), nanoGPT-style, with exact resume.

A stage supplies ``loss_fn(model, generator, step) -> (loss, parts)`` and optionally
``validate(model) -> score`` (higher is better; the best step is kept in ``best/``). Every step's
batch and noise come from a generator seeded by (seed, step, process); dropout draws from the global
torch RNG, whose state (with python's, numpy's and CUDA's) is saved in ``last/``. So a run resumed
from ``last/`` follows the very same path as one never interrupted. Checkpoints are safetensors
(:func:`mmgen_core.checkpoints.save_state`)."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from mmgen_core.checkpoints import CheckpointError, load_state, load_weights, save_state
from mmgen_core.compute import FP32_EAGER, ComputeConfig

LossFn = Callable[[torch.nn.Module, torch.Generator, int], tuple[torch.Tensor, dict[str, float]]]
Validate = Callable[[torch.nn.Module], float]
OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
SCHEDULES = ("constant", "cosine")


@dataclass
class LoopConfig:
    """Optimisation settings of one trained part (steps count optimiser steps)."""
    steps: int
    lr: float
    optimizer: str = "adamw"  # adamw | adam
    beta2: float = 0.999  # Adam's second-moment decay: 0.99-0.95 adapts faster in short runs
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"  # after the linear warm-up: constant | cosine (to 0 at ``steps``)
    grad_clip: float = 1.0  # 0 = no clipping
    ema_decay: float = 0.0  # 0 = no EMA
    checkpoint_every: int = 200
    log_every: int = 10
    eval_every: int = 0  # steps between validations (and at the last step); 0 = never

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")


@dataclass
class TrainResult:
    """What a run leaves (saved in ``last/``): loss and validation curves, best score, timing, EMA."""
    history: list[dict[str, float]] = field(default_factory=list)
    valid: list[dict[str, float]] = field(default_factory=list)
    best: float = -math.inf
    step: int = 0
    train_seconds: float = 0.0  # optimiser steps only, summed over resumed runs
    samples: int = 0
    done: bool = False
    hardware: str = ""  # where and how the last (resumed) part ran: device, threads, precision
    resumed_from: int = 0
    ema: EMAModel | None = field(default=None, repr=False)

    @property
    def samples_per_s(self) -> float:
        """Measured training throughput (all processes together)."""
        return self.samples / self.train_seconds if self.train_seconds else float("nan")


LOGGED = ("history", "valid", "best", "step", "train_seconds", "samples")  # the TrainResult fields in last/


def step_generator(seed: int, step: int, process: int = 0) -> torch.Generator:
    """The generator for one training step: same (seed, step, process) → same batch and noise."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + process)


def lr_factor(step: int, warmup: int, total: int, schedule: str = "constant") -> float:
    """LR multiplier at ``step``: linear warm-up over ``warmup`` steps, then constant or cosine to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def hardware_label(device: torch.device, processes: int = 1, compute: ComputeConfig | None = None) -> str:
    """Where and how a run trained, for tables: GPU name × count or CPU threads, and the compute settings."""
    where = (f"{processes}× {torch.cuda.get_device_name(device)}" if device.type == "cuda"
             else f"CPU, {processes} process × {torch.get_num_threads()} threads")
    return where if compute is None else f"{where}, {compute.label(device)}"


def make_optimizer(params: list[torch.nn.Parameter], cfg: LoopConfig, compute: ComputeConfig) -> torch.optim.Optimizer:
    """The loop's optimiser: ``cfg.optimizer`` with its rate, β₂ and weight decay, fused when ``compute`` says so."""
    return OPTIMIZERS[cfg.optimizer](params, lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay,
                                     **({"fused": True} if compute.fused_optimizer else {}))


def make_ema(params: list[torch.nn.Parameter], decay: float) -> EMAModel:
    """The EMA of the weights used for sampling (with diffusers' warm-up: the decay grows with the step)."""
    return EMAModel(params, decay=decay, use_ema_warmup=True, power=0.75, foreach=True)


def train(model: torch.nn.Module, loss_fn: LossFn, cfg: LoopConfig, ckpt_dir: str | Path, *, seed: int = 0,
          batch_size: int = 1, stop_at: int | None = None, validate: Validate | None = None,
          parts: torch.nn.Module | None = None, desc: str = "train", progress: bool = True,
          compute: ComputeConfig | None = None) -> TrainResult:
    """Train ``model`` on ``loss_fn``; resume from ``ckpt_dir/last``, keep the best validated step in ``best/``.

    ``parts``: the module whose weights checkpoints hold (default ``model``; e.g. without a frozen encoder).
    ``stop_at`` ends the run early (a time-boxed or interrupted run); calling again resumes it.
    ``compute``: precision, attention kernel, layout, compilation, fused optimiser (default: fp32 eager).
    """
    folder, parts = Path(ckpt_dir), parts if parts is not None else model
    compute = compute or FP32_EAGER
    precision = compute.mixed_precision(_device())
    # Accelerate autocasts on GPUs (and scales fp16 losses); on a CPU it does not, so bf16 autocast is ours there
    acc = _accelerator(precision if _device().type == "cuda" else "no")
    autocast = acc.autocast if acc.device.type == "cuda" else lambda: compute.autocast(acc.device)
    compute.prepare(model, acc.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg, compute)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(lr_factor, warmup=cfg.warmup_steps, total=cfg.steps,
                                                           schedule=cfg.schedule))
    ema = make_ema(params, cfg.ema_decay) if cfg.ema_decay else None
    res = TrainResult(ema=ema)
    if (folder / "last" / "state.json").exists():
        _resume(folder / "last", parts, opt, sched, ema, res)
    res.hardware = hardware_label(acc.device, acc.num_processes, compute)
    wrapped, opt = acc.prepare(model, opt)
    if ema is not None:
        ema.to(acc.device)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    wrapped.train()
    bar = tqdm(range(res.step, end), desc=desc, initial=res.step, total=cfg.steps,
               disable=not (progress and acc.is_local_main_process))
    for step in bar:
        t0 = time.perf_counter()
        with autocast():
            loss, info = loss_fn(wrapped, step_generator(seed, step, acc.process_index), step)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at step {step}; lower the learning rate")
        acc.backward(loss)
        if cfg.grad_clip:
            acc.clip_grad_norm_(params, cfg.grad_clip)
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        res.train_seconds += time.perf_counter() - t0
        res.step, res.samples = step + 1, res.samples + batch_size * acc.num_processes
        if step % cfg.log_every == 0 or step == end - 1:
            res.history.append({"step": step, "loss": float(loss.item()), "lr": float(lr), **info})
            bar.set_postfix(loss=f"{loss.item():.4f}")
        last = step + 1 == cfg.steps
        validating = validate is not None and cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or last)
        if validating:
            _validate(validate, acc.unwrap_model(wrapped), parts, folder / "best", step, res, acc.is_main_process)
            wrapped.train()
        if validating or (step + 1) % cfg.checkpoint_every == 0 or step == end - 1:
            acc.wait_for_everyone()
            if acc.is_main_process:
                _save(folder / "last", parts, opt, sched, ema, res)
            acc.wait_for_everyone()
    bar.close()
    res.done = res.step >= cfg.steps
    acc.wait_for_everyone()
    acc.unwrap_model(wrapped, keep_fp32_wrapper=False).eval()  # drops the autocast wrapper from forward
    return res


def _device() -> torch.device:
    """The device Accelerate will train on (before one is made): the local GPU if any, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _accelerator(mixed_precision: str) -> Accelerator:
    """An Accelerator with this run's precision (an earlier run in this process may have used another)."""
    state = AcceleratorState._shared_state
    if state.get("_mixed_precision") not in (None, mixed_precision):
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision)


def _validate(validate: Validate, model: torch.nn.Module, parts: torch.nn.Module, path: Path, step: int,
              res: TrainResult, main: bool) -> None:
    """Score the model; save ``best/`` when the score improves (always when it is NaN: nothing to score on)."""
    with torch.no_grad():
        score = float(validate(model))
    res.valid.append({"step": step, "score": score})
    if math.isnan(score) or score > res.best:
        res.best = res.best if math.isnan(score) else score
        if main:
            save_state(path, {"model": parts.state_dict(), "step": step + 1, "score": score})


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(legacy=False), "torch": torch.get_rng_state()}
    state["numpy"]["state"]["key"] = state["numpy"]["state"]["key"].tolist()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np.random.set_state({**npy, "state": {**npy["state"], "key": np.asarray(npy["state"]["key"], dtype=np.uint32)}})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(path: Path, parts: torch.nn.Module, opt, sched, ema: EMAModel | None, res: TrainResult) -> None:
    state = {"model": parts.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
             "rng": _rng_state(), "log": {k: getattr(res, k) for k in LOGGED}}
    if ema is not None:
        state["ema"] = ema.state_dict()
    save_state(path, state)


def _resume(path: Path, parts: torch.nn.Module, opt, sched, ema: EMAModel | None, res: TrainResult) -> None:
    state = load_state(path)
    if "log" not in state or "rng" not in state:
        raise CheckpointError(f"{path}: saved by an older training loop; delete it to restart this run")
    if (ema is None) != ("ema" not in state):
        raise CheckpointError(f"{path}: EMA {'missing' if ema else 'present'} in the checkpoint but "
                              f"ema_decay is {'set' if ema else '0'}; delete it to restart")
    load_weights(parts, state["model"], str(path))
    opt.load_state_dict(state["optim"])
    sched.load_state_dict(state["sched"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    _set_rng_state(state["rng"])
    for k in LOGGED:
        setattr(res, k, state["log"][k])
    res.resumed_from = res.step


def apply_ema(model: torch.nn.Module, ema: EMAModel | None) -> torch.nn.Module:
    """Copy the EMA weights into ``model`` (the weights used for sampling); no-op without EMA."""
    if ema is not None:
        ema.copy_to([p for p in model.parameters() if p.requires_grad])
    return model
