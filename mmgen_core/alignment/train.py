"""Training (Accelerate: CPU, one GPU or many), evaluation, embedding export and artifact reuse.

Randomness is a function of (seed, epoch) for batches and captions, and of the saved torch RNG state
for dropout, so a run resumed from ``last/`` retraces an uninterrupted one. The best checkpoint is
chosen by the mean validation mAP@10 over the trained directions (6 tri-modal, 2 two-modal)."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.embeddings import evaluate, mean_map10
from mmgen_core.alignment.features import (
    SplitData,
    caption_choice,
)
from mmgen_core.alignment.model import CLMP, clmp_loss
from mmgen_core.checkpoints import (
    load_state,
    load_weights,
    save_state,
)


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled item order of one epoch."""
    return np.random.default_rng([seed, epoch]).permutation(n)


@dataclass
class TrainLog:
    """Loss curve, validation curve and timing of a run (saved in every checkpoint)."""
    history: list[dict[str, float]] = field(default_factory=list)
    valid: list[dict[str, float]] = field(default_factory=list)
    best: float = -1.0
    step: int = 0
    train_seconds: float = 0.0
    samples: int = 0
    done: bool = False
    hardware: str = ""

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds else float("nan")


def hardware_label(device: torch.device, processes: int = 1) -> str:
    """Where a run trained, for tables: GPU name × count, or CPU thread count."""
    if device.type == "cuda":
        return f"{processes}× {torch.cuda.get_device_name(device)}"
    return f"CPU, {processes} process × {torch.get_num_threads()} threads"


def _batch(split: SplitData, idx: np.ndarray, picks: np.ndarray, model: CLMP, device) -> dict[str, Any]:
    if split.text is not None:
        text = torch.stack([split.text[i][picks[i]] for i in idx]).to(device)
    else:
        text = {k: v.to(device) for k, v in model.text.tokenize([split.captions[i][picks[i]] for i in idx]).items()}
    out = {"audio": split.audio[idx].to(device), "text": text}
    if model.melody is not None:
        out["melody"] = split.melody[idx].to(device)
    return out


def _save_last(path: Path, model: CLMP, opt, sched, log: TrainLog) -> None:
    state = {"model": model.trained_parts().state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
             "rng": torch.get_rng_state(), "log": asdict(log)}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    save_state(path, state)


def _resume(path: Path, model: CLMP, opt, sched) -> TrainLog:
    state = load_state(path)
    load_weights(model.trained_parts(), state["model"], str(path))
    opt.load_state_dict(state["optim"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return TrainLog(**state["log"])


def train_alignment(model: CLMP, train: SplitData, valid: SplitData, folder: str | Path, seed: int, *,
                    stop_after: int | None = None, progress: bool = True) -> TrainLog:
    """Train with Adam + warm-up/cosine; checkpoints in ``folder/last`` (resumed) and ``folder/best``.

    ``stop_after`` ends the run after that many steps, as an interruption would; calling again resumes.
    """
    cfg: AlignmentConfig = model.cfg
    folder = Path(folder)
    acc = Accelerator(mixed_precision=cfg.mixed_precision)
    world, rank = acc.num_processes, acc.process_index
    bs = min(cfg.batch_size, len(train))
    steps_per_epoch = len(train) // bs // world
    if bs < 2 or steps_per_epoch == 0:
        raise ValueError(f"{len(train)} training clips cannot fill one contrastive batch per process "
                         f"(batch {cfg.batch_size}, {world} processes); use more data or fewer processes")
    total = steps_per_epoch * cfg.epochs
    model.to(acc.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(warmup_cosine, warmup=cfg.warmup_steps, total=total))
    log = _resume(folder / "last", model, opt, sched) if (folder / "last" / "state.json").exists() else TrainLog()
    log.hardware = hardware_label(acc.device, world)
    wrapped, opt = acc.prepare(model, opt)
    end = total if stop_after is None else min(total, stop_after)
    wrapped.train()
    bar = tqdm(range(log.step, end), initial=log.step, total=total, desc=f"align {cfg.modalities}",
               disable=not (progress and acc.is_local_main_process))
    order, picks, epoch_seen = None, None, -1
    for step in bar:
        t0 = time.perf_counter()
        epoch, within = divmod(step, steps_per_epoch)
        if epoch != epoch_seen:
            order, picks, epoch_seen = epoch_order(seed, epoch, len(train)), caption_choice(train, seed, epoch), epoch
        start = (within * world + rank) * bs
        batch = _batch(train, order[start:start + bs], picks, model, acc.device)
        with acc.autocast():
            emb = wrapped(**batch)
            loss = clmp_loss(emb, emb["scale"])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"alignment loss is {loss.item()} at step {step}; lower alignment.lr")
        acc.backward(loss)
        if cfg.grad_clip:
            acc.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        log.step, log.samples = step + 1, log.samples + bs * world
        log.train_seconds += time.perf_counter() - t0
        log.done = log.step == total
        if step % cfg.log_every == 0 or step == end - 1:
            log.history.append({"step": step, "epoch": epoch, "loss": float(loss.item()),
                                "lr": float(sched.get_last_lr()[0]), "scale": float(emb["scale"].item())})
            bar.set_postfix(loss=f"{loss.item():.3f}")
        validate = within == steps_per_epoch - 1 and ((epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1)
        if validate:
            _validate(model, valid, log, epoch, step, folder, acc.is_main_process)
            wrapped.train()
        if acc.is_main_process and (validate or (step + 1) % cfg.checkpoint_every == 0 or step == end - 1):
            _save_last(folder / "last", model, opt, sched, log)
        acc.wait_for_everyone()
    bar.close()
    return log


def _validate(model: CLMP, valid: SplitData, log: TrainLog, epoch: int, step: int, folder: Path, main: bool) -> None:
    """Score the validation split; keep ``best/`` when mean mAP@10 improves (every epoch without valid data)."""
    score = mean_map10(evaluate(model, valid)) if len(valid) else float("nan")
    log.valid.append({"epoch": epoch, "step": step, "valid_mAP@10": score})
    if math.isnan(score) or score > log.best:
        log.best = -1.0 if math.isnan(score) else score
        if main:
            save_state(folder / "best", {"model": model.trained_parts().state_dict(), "epoch": epoch, "step": step,
                                         "valid_mAP@10": score})
