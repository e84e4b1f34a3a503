"""Training the aligner with the one loop (:func:`mmgen_core.training.train`), evaluation hooks, artifact reuse.

Randomness is a function of (seed, epoch) for batches and captions, and of the saved torch RNG state
for dropout, so a run resumed from ``last/`` retraces an uninterrupted one. The best checkpoint is
chosen by the mean validation mAP@10 over the trained directions (6 tri-modal, 2 two-modal), or over A2T and T2A
alone (``alignment.select_by: audio_text``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState

from mmgen_core import (
    training,  # module import: ``train`` names the training split below
)
from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.embeddings import evaluate, mean_map10
from mmgen_core.alignment.features import (
    SplitData,
    caption_choice,
)
from mmgen_core.alignment.model import CLMP, clmp_loss
from mmgen_core.compute import ComputeConfig
from mmgen_core.training import LoopConfig, TrainResult, hardware_label, lr_factor

__all__ = ["TrainLog", "alignment_loop", "epoch_order", "hardware_label", "train_alignment", "warmup_cosine"]


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    return lr_factor(step, warmup, total, "cosine")


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled item order of one epoch."""
    return np.random.default_rng([seed, epoch]).permutation(n)


@dataclass
class TrainLog:
    """Loss curve, validation curve and timing of a run (kept in ``done.json``)."""
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
        """Measured training throughput (all processes together)."""
        return self.samples / self.train_seconds if self.train_seconds else float("nan")


def _batch(split: SplitData, idx: np.ndarray, picks: np.ndarray, model: CLMP, device) -> dict[str, Any]:
    if split.text is not None:
        text = torch.stack([split.text[i][picks[i]] for i in idx]).to(device)
    else:
        text = {k: v.to(device) for k, v in model.text.tokenize([split.captions[i][picks[i]] for i in idx]).items()}
    out = {"audio": split.audio[idx].to(device), "text": text}
    if model.melody is not None:
        out["melody"] = split.melody[idx].to(device)
    return out


def alignment_loss_fn(model: CLMP, train: SplitData, seed: int, bs: int,
                      steps_per_epoch: int) -> training.LossFn:
    """clmp_loss on step → (epoch, batch within it): the epoch's shuffled order and caption choice."""
    state, cache = PartialState(), {}

    def loss_fn(wrapped: torch.nn.Module, gen: torch.Generator, step: int):
        epoch, within = divmod(step, steps_per_epoch)
        if cache.get("epoch") != epoch:
            cache.update(epoch=epoch, order=epoch_order(seed, epoch, len(train)),
                         picks=caption_choice(train, seed, epoch))
        start = (within * state.num_processes + state.process_index) * bs
        batch = _batch(train, cache["order"][start:start + bs], cache["picks"], model, next(model.parameters()).device)
        emb = wrapped(**batch)
        return clmp_loss(emb, emb["scale"]), {"epoch": epoch, "scale": float(emb["scale"].item())}

    return loss_fn


def alignment_loop(cfg: AlignmentConfig, steps_per_epoch: int) -> LoopConfig:
    """The aligner's optimisation: Adam, warm-up then cosine over ``epochs``, validation every ``eval_every`` epochs."""
    return LoopConfig(steps=steps_per_epoch * cfg.epochs, lr=cfg.lr, optimizer="adam", schedule="cosine",
                      weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, grad_clip=cfg.grad_clip,
                      checkpoint_every=cfg.checkpoint_every, log_every=cfg.log_every,
                      eval_every=steps_per_epoch * cfg.eval_every)


def train_alignment(model: CLMP, train: SplitData, valid: SplitData, folder: str | Path, seed: int, *,
                    stop_after: int | None = None, progress: bool = True,
                    compute: ComputeConfig | None = None) -> TrainLog:
    """Train with Adam + warm-up/cosine; checkpoints in ``folder/last`` (resumed) and ``folder/best``.

    ``stop_after`` ends the run after that many steps, as an interruption would; calling again resumes.
    """
    cfg: AlignmentConfig = model.cfg
    world = PartialState().num_processes
    bs = min(cfg.batch_size, len(train))
    steps_per_epoch = len(train) // bs // world
    if bs < 2 or steps_per_epoch == 0:
        raise ValueError(f"{len(train)} training clips cannot fill one contrastive batch per process "
                         f"(batch {cfg.batch_size}, {world} processes); use more data or fewer processes")
    loop = alignment_loop(cfg, steps_per_epoch)

    directions = ("A2T", "T2A") if cfg.select_by == "audio_text" else None

    def validate(m: CLMP) -> float:
        return mean_map10(evaluate(m, valid), directions) if len(valid) else float("nan")

    res = training.train(model, alignment_loss_fn(model, train, seed, bs, steps_per_epoch), loop, folder, seed=seed,
                         batch_size=bs, stop_at=stop_after, validate=validate, parts=model.trained_parts(),
                         desc=f"align {cfg.modalities}", progress=progress,
                         compute=compute.for_part("aligner") if compute else None)
    return _log(res, steps_per_epoch)


def _log(res: TrainResult, steps_per_epoch: int) -> TrainLog:
    """The loop's result in the aligner's terms: epochs, ``valid_mAP@10``, best −1 when never scored."""
    log = TrainLog(**{f.name: getattr(res, f.name) for f in fields(TrainLog)})
    log.valid = [{"epoch": v["step"] // steps_per_epoch, "step": v["step"], "valid_mAP@10": v["score"]}
                 for v in res.valid]
    log.best = res.best if math.isfinite(res.best) else -1.0
    return log
