"""Training one mode's UNet: ε- or v-prediction MSE (optionally min-SNR weighted) with joint condition dropout."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from diffusers import (
    DDPMScheduler,
    UNet2DConditionModel,
)

from mmgen_core.checkpoints import seed_everything
from mmgen_core.compute import ComputeConfig
from mmgen_core.diffusion.conditioning import ConditionData, condition
from mmgen_core.diffusion.config import DiffusionConfig, check_mode, noise_schedule
from mmgen_core.diffusion.unet import init_unet, predict_noise
from mmgen_core.training import LoopConfig, apply_ema, train


def loss_weights(alpha_bar: torch.Tensor, cfg: DiffusionConfig) -> torch.Tensor:
    """Per-sample loss weights at noise levels ᾱ: 1, or min-SNR-γ (Hang et al. 2023), which stops the
    nearly clean, easy timesteps (high SNR) from dominating the gradient: min(SNR, γ)/SNR on the ε
    loss, min(SNR, γ)/(SNR + 1) on the v loss (the same weight on the implied x₀ error)."""
    if cfg.loss_weighting == "none":
        return torch.ones_like(alpha_bar)
    snr = alpha_bar / (1 - alpha_bar)
    return snr.clamp(max=cfg.min_snr_gamma) / (snr + (1.0 if cfg.prediction == "v_prediction" else 0.0))


def timestep_sampler(sched: DDPMScheduler, cfg: DiffusionConfig) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Draws training timesteps: uniformly (DDPM), or ``log_normal``: EDM's noise-level distribution
    (Karras et al. 2022), ln σ ~ N(log_sigma_mean, log_sigma_std²) with σ² = (1 − ᾱ)/ᾱ, each draw taken to the
    timestep of the nearest σ — it spends the steps on the middle noise levels where the loss can still fall."""
    n = sched.config.num_train_timesteps
    if cfg.noise_levels == "uniform":
        return lambda b, gen: torch.randint(n, (b,), generator=gen)
    log_sigma = 0.5 * torch.log((1 - sched.alphas_cumprod) / sched.alphas_cumprod).float()  # increasing in t

    def draw(b: int, gen: torch.Generator) -> torch.Tensor:
        want = cfg.log_sigma_mean + cfg.log_sigma_std * torch.randn(b, generator=gen)
        hi = torch.searchsorted(log_sigma, want).clamp(1, n - 1)
        return torch.where((want - log_sigma[hi - 1]).abs() <= (log_sigma[hi] - want).abs(), hi - 1, hi)

    return draw


def row_sampler(data: ConditionData, cfg: DiffusionConfig) -> Callable[[torch.Generator], torch.Tensor]:
    """Draws a batch's condition rows: uniformly, or under ``train_query: mix`` from one query kind per batch,
    text with probability ``text_query_prob`` (the authors' per-batch coin). Only ``mix`` draws the coin,
    so text and audio runs keep their draws, and their trained UNets stay valid."""
    b = cfg.batch_size
    if cfg.train_query != "mix":
        return lambda gen: torch.randint(len(data.item), (b,), generator=gen)
    if data.audio_query is None or data.audio_query.all() or not data.audio_query.any():
        raise ValueError("diffusion.train_query='mix' needs both text- and audio-query rows (conditions built "
                         "with train_query='mix')")
    text_rows, audio_rows = (~data.audio_query).nonzero()[:, 0], data.audio_query.nonzero()[:, 0]

    def draw(gen: torch.Generator) -> torch.Tensor:
        pool = text_rows if torch.rand(1, generator=gen).item() < cfg.text_query_prob else audio_rows
        return pool[torch.randint(len(pool), (b,), generator=gen)]

    return draw


def diffusion_loss_fn(data: ConditionData, cfg: DiffusionConfig, mode: str):
    """ε- or v-prediction MSE on random (query, melody) rows (:func:`row_sampler`), random latent crops, joint
    condition dropout, weighted per sample by :func:`loss_weights`."""
    sched = DDPMScheduler(**noise_schedule(cfg))
    use_roll = check_mode(mode) == "mmgen+roll"
    n_frames = data.latents.shape[2]
    crop = min(cfg.crop_frames or n_frames, n_frames)
    sample_rows = row_sampler(data, cfg)
    sample_t = timestep_sampler(sched, cfg)

    def loss_fn(unet: UNet2DConditionModel, gen: torch.Generator, step: int):
        b = cfg.batch_size
        rows = sample_rows(gen)
        items = data.item[rows].tolist()
        starts = torch.randint(n_frames - crop + 1, (b,), generator=gen).tolist()
        x0 = torch.stack([data.latents[i, :, s:s + crop] for i, s in zip(items, starts)])
        keep = (torch.rand(b, generator=gen) >= cfg.cond_drop).float()
        cond = condition(mode, data.query[rows], data.melody[rows]) * keep[:, None]
        roll = None
        if use_roll:
            roll = torch.stack([data.rolls[i, :, s:s + crop] for i, s in zip(items, starts)]) * keep[:, None, None, None]
        noise = torch.randn(x0.shape, generator=gen)
        t = sample_t(b, gen)
        dev = unet.device
        xt = sched.add_noise(x0, noise, t)
        out = predict_noise(unet, xt.to(dev), t.to(dev), cond.to(dev), roll).float()
        ab = sched.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        target = noise if cfg.prediction == "epsilon" else ab.sqrt() * noise - (1 - ab).sqrt() * x0
        per_sample = (out - target.to(dev)).pow(2).mean(dim=(1, 2, 3))
        return (per_sample * loss_weights(ab.flatten(), cfg).to(dev)).mean(), {}

    return loss_fn


def unet_loop(cfg: DiffusionConfig) -> LoopConfig:
    """The UNet's optimisation: AdamW (or Adam) with weight decay, linear warm-up, constant or cosine rate, EMA of
    the weights."""
    return LoopConfig(steps=cfg.steps, lr=cfg.lr, optimizer=cfg.optimizer, beta2=cfg.beta2,
                      weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
                      schedule=cfg.lr_schedule, ema_decay=cfg.ema_decay, checkpoint_every=cfg.checkpoint_every)


def train_unet(data: ConditionData, cfg: DiffusionConfig, mode: str, ckpt_dir: Path, seed: int = 0,
               stop_at: int | None = None, compute: ComputeConfig | None = None, progress: bool = True
               ) -> tuple[UNet2DConditionModel, list[dict], float]:
    """Train (or resume) one mode's UNet; returns it with EMA weights, the loss history and samples/s."""
    seed_everything(seed)
    unet = init_unet(cfg, mode, data.latents.shape[1])
    res = train(unet, diffusion_loss_fn(data, cfg, mode), unet_loop(cfg), ckpt_dir, seed=seed,
                batch_size=cfg.batch_size, stop_at=stop_at, desc=f"UNet {mode}", progress=progress,
                compute=compute.for_part("unet") if compute else None)
    return apply_ema(unet, res.ema).eval(), res.history, res.samples_per_s
