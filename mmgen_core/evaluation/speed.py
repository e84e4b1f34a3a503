"""Speed measurements shared by notebooks and benchmarks."""
from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from mmgen_core.alignment.config import resolve_variant
from mmgen_core.alignment.features import prepare_split
from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.towers import TextTower
from mmgen_core.alignment.train import alignment_loop, alignment_loss_fn
from mmgen_core.audio.frontend import clip_frames, mels_of
from mmgen_core.checkpoints import seed_everything
from mmgen_core.compute import PARTS, ComputeConfig
from mmgen_core.data.manifest import Manifest, item_notes, load_clips
from mmgen_core.decoder.vae import MelNorm, build_vae, vae_loop, vae_loss_fn
from mmgen_core.decoder.vocoder import build_hifigan, vocoder_loop, vocoder_loss_fn
from mmgen_core.diffusion.train import diffusion_loss_fn, unet_loop
from mmgen_core.diffusion.unet import build_unet
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.pipeline.experiments import LONG_CLIP_SECONDS, time_generation
from mmgen_core.pipeline.pipeline import MMGenPipeline
from mmgen_core.training import LoopConfig, LossFn, make_ema, make_optimizer, step_generator, train

if TYPE_CHECKING:
    from mmgen_core.stages import Stages


def text_tower_cost(enc: TextTower, texts: list[str], steps: int = 2) -> dict[str, float]:
    """Captions/s of a text tower: inference only (frozen, cached once) vs forward+backward (fine-tuned)."""
    batch = enc.tokenize(texts)
    was = [p.requires_grad for p in enc.parameters()]
    enc.requires_grad_(True)
    out = {}
    for mode in ("frozen (inference)", "fine-tuned (forward+backward)"):
        train = mode.startswith("fine")
        times = []
        for _ in range(steps + 1):  # the first call warms up
            t0 = time.perf_counter()
            with torch.set_grad_enabled(train):
                feats = enc(**batch)
                if train:
                    feats.square().mean().backward()
            times.append(time.perf_counter() - t0)
        out[mode] = len(texts) / float(np.mean(times[1:]))
    enc.zero_grad(set_to_none=True)
    for p, g in zip(enc.parameters(), was):
        p.requires_grad_(g)
    return out


TRAINED_PARTS = PARTS


Job = tuple[Callable[[], torch.nn.Module], LossFn, LoopConfig, int]  # model factory, loss, optimisation, batch size


def training_job(stages: "Stages", part: str, seed: int = 0) -> Job:
    """What one part's training run is made of, on the profile's own data: a model factory, the loss,
    the optimisation settings and the batch size (the same objects the stages train with)."""
    if part == "aligner":
        cfg = resolve_variant(stages.alignment_config, "trimodal")
        model = CLMP(cfg, stages.clip_seconds)
        data = prepare_split(model, stages.dataset, "train")
        bs = min(cfg.batch_size, len(data))
        steps_per_epoch = len(data) // bs
        loss = alignment_loss_fn(model, data, seed, bs, steps_per_epoch)
        return lambda: model, loss, alignment_loop(cfg, steps_per_epoch), bs
    if part in ("vae", "vocoder"):
        _, wavs = load_clips(stages.dataset, "train", clip_frames(stages.clip_seconds))
        mels = mels_of(wavs)
        if part == "vae":
            cfg = stages.vae_config
            loss = vae_loss_fn(MelNorm.measure(mels).apply(mels), cfg)
            return lambda: build_vae(cfg), loss, vae_loop(cfg), cfg.batch_size
        cfg = stages.vocoder_config
        loss = vocoder_loss_fn(wavs, mels, cfg)
        return lambda: build_hifigan(cfg, mels), loss, vocoder_loop(cfg), cfg.batch_size
    if part == "unet":
        cfg, mode = stages.diffusion_config, "mmgen+roll"
        data = stages.conditions
        loss = diffusion_loss_fn(data, cfg, mode)
        return lambda: build_unet(cfg, mode, data.latents.shape[1]), loss, unet_loop(cfg), cfg.batch_size
    raise ValueError(f"part must be one of {TRAINED_PARTS}, not {part!r}")


def bench_training(stages: "Stages", part: str, compute: ComputeConfig, steps: int, seed: int = 0) -> dict[str, float]:
    """Train ``part`` from its seeded initialisation for ``steps`` steps under ``compute``, in a scratch folder.

    Returns samples/s (optimiser steps only), the mean loss over the last quarter of the steps (the
    batches and noise are a function of (seed, step), so two calls see the same data), and this
    process's peak resident memory."""
    seed_everything(seed)  # before the job: the aligner's model is built with its data
    factory, loss_fn, loop, bs = training_job(stages, part, seed)
    seed_everything(seed)
    model = factory()
    loop = replace(loop, steps=steps, warmup_steps=min(loop.warmup_steps, steps // 4), log_every=1, eval_every=0,
                   checkpoint_every=steps + 1)
    with tempfile.TemporaryDirectory() as tmp:
        res = train(model, loss_fn, loop, tmp, seed=seed, batch_size=bs, compute=compute.for_part(part),
                    progress=False)
    losses = [h["loss"] for h in res.history]
    return {"samples/s": res.samples_per_s, "loss": float(np.mean(losses[-max(1, steps // 4):])),
            "peak MB": peak_rss_mb()}


def unet_step_split(stages: "Stages", compute: ComputeConfig, steps: int = 20, warmup: int = 3,
                    seed: int = 0) -> dict[str, float]:
    """Milliseconds per UNet training step, phase by phase (forward with the loss, backward with gradient clipping,
    optimiser, EMA), under ``compute``: the loop of :func:`~mmgen_core.training.train` without Accelerate's thin CPU
    wrapper, timed after ``warmup`` steps. Says where a step's time goes before anyone tunes it."""
    seed_everything(seed)
    factory, loss_fn, loop, _ = training_job(stages, "unet", seed)
    compute = compute.for_part("unet")
    model = compute.prepare(factory().train(), "cpu")
    params = [p for p in model.parameters() if p.requires_grad]
    opt, ema = make_optimizer(params, loop, compute), make_ema(params, loop.ema_decay or 0.999)
    phases = {"forward + loss": [], "backward": [], "optimiser": [], "EMA": []}
    for step in range(warmup + steps):
        t = [time.perf_counter()]
        with compute.autocast("cpu"):
            loss, _ = loss_fn(model, step_generator(seed, step), step)
        t.append(time.perf_counter())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, loop.grad_clip or float("inf"))
        t.append(time.perf_counter())
        opt.step()
        opt.zero_grad(set_to_none=True)
        t.append(time.perf_counter())
        ema.step(params)
        t.append(time.perf_counter())
        if step >= warmup:
            for (name, times), a, b in zip(phases.items(), t, t[1:]):
                times.append(1000 * (b - a))
    out = {name: float(np.mean(times)) for name, times in phases.items()}
    return {**out, "total": sum(out.values())}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_sampling(pipe: MMGenPipeline, manifest: Manifest, *, sampler: str, steps: int, clip_x0: float = 0.0,
                   clips: int = 8, seconds: float = LONG_CLIP_SECONDS, seed: int = 0) -> dict[str, object]:
    """One sampler setting under the pipeline's compute settings: seconds and real-time factor of one
    ``seconds`` clip, and the chroma similarity of ``clips`` *validation* clips generated from their
    captions with their own melodies (per clip, for paired comparisons), with the loudest log-mel value."""
    items = manifest.items("valid")[:clips]
    notes = [item_notes(manifest, it) for it in items]
    knobs = dict(sampler=sampler, steps=steps, clip_x0=clip_x0)
    dt = time_generation(pipe, items[0].caption, notes[0], seconds=seconds, seed=seed, **knobs)
    out = pipe([it.caption for it in items], melody=notes, seed=seed, candidates=1, progress=False, **knobs)
    chroma = [chroma_similarity(w, n) for w, n in zip(out.waveforms, notes)]
    return {"seconds": dt, "RTF": dt / seconds, "chroma": chroma,
            "mel peak": float(out.mels.amax()), "peak MB": peak_rss_mb()}
