"""Sampling: schedulers on the training schedule, classifier-free guidance, the denoising loop."""
from __future__ import annotations

import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    UNet2DConditionModel,
)
from tqdm.auto import tqdm

from mmgen_core.diffusion.conditioning import LATENT_BINS
from mmgen_core.diffusion.config import (
    GUIDANCE_FORMS,
    SAMPLERS,
    DiffusionConfig,
    noise_schedule,
)
from mmgen_core.diffusion.unet import predict_noise, to_epsilon


def guided_noise(unet: UNet2DConditionModel, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor,
                 roll: torch.Tensor | None, guidance: float, form: str = "official",
                 null: torch.Tensor | None = None) -> torch.Tensor:
    """Classifier-free guidance against the null condition: ``null`` (one row, e.g. the authors' [u, u] with u the
    embedding of the empty caption) or zeros (what our UNets see when the condition is dropped); zeros for the roll.

    ``official``: ε_u + w(ε_c − ε_u) (the authors' code, AudioLDM). ``paper``: (w+1)ε_c − wε_u,
    which is the official form with w+1. A scale of 1 is the conditional prediction alone.
    """
    if form not in GUIDANCE_FORMS:
        raise ValueError(f"guidance form must be one of {GUIDANCE_FORMS}, not {form!r}")
    scale = guidance if form == "official" else guidance + 1.0
    if scale == 1.0:
        return predict_noise(unet, x, t, cond, roll)
    both_roll = None if roll is None else torch.cat([roll, torch.zeros_like(roll)])
    uncond = torch.zeros_like(cond) if null is None else null.to(cond).expand_as(cond)
    eps = predict_noise(unet, torch.cat([x, x]), t, torch.cat([cond, uncond]), both_roll)
    eps_c, eps_u = eps.chunk(2)
    return eps_u + scale * (eps_c - eps_u)


def make_scheduler(cfg: DiffusionConfig, sampler: str = "ddim"):
    """A sampler on the training schedule: DDIM (the paper's; η from the caller), DPM-Solver++ 2M
    (deterministic ODE solver) or SDE-DPM-Solver++ 2M (stochastic: it re-injects noise every step as
    DDIM with η = 1 does, which briefly trained UNets need). Both DPM variants end with a first-order
    Euler step (``euler_at_final``), which keeps the last, least reliable ε from being extrapolated."""
    if sampler == "ddim":
        return DDIMScheduler(**noise_schedule(cfg), clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if sampler in ("dpm", "dpm-sde"):
        return DPMSolverMultistepScheduler(**noise_schedule(cfg), solver_order=2, lower_order_final=True,
                                           euler_at_final=True,
                                           algorithm_type="dpmsolver++" if sampler == "dpm" else "sde-dpmsolver++")
    raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")


def clip_x0(eps: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor, limit: float) -> torch.Tensor:
    """ε whose implied clean latent x̂₀ = (x − √(1−ᾱ) ε)/√ᾱ is clipped to ±``limit``: any ε-sampler then
    steps towards latents in the data's range (docs/method.md §2.4). The VAE scales latents to unit std,
    so ``limit`` is in standard deviations (the tiny training latents stay within ±6)."""
    a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    x0 = ((x - s * eps) / a).clamp(-limit, limit)
    return (x - a * x0) / s


def window_starts(frames: int, window: int) -> list[int]:
    """Starts of windows of ``window`` frames that cover ``frames`` with half-window overlaps (last one flush)."""
    if window <= 0 or frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, max(1, window // 2)))
    return starts if starts[-1] == frames - window else starts + [frames - window]


def windowed(predict, x: torch.Tensor, roll: torch.Tensor | None, window: int) -> torch.Tensor:
    """``predict(x, roll)`` over overlapping windows of ``window`` latent frames, blended with Hann weights
    (MultiDiffusion, Bar-Tal et al. 2023): a UNet trained on clips of ``window`` frames denoises a longer
    latent as clips of the length it knows, and the overlaps keep neighbouring windows consistent."""
    frames = x.shape[2]
    starts = window_starts(frames, window)
    if len(starts) == 1:
        return predict(x, roll)
    weight = torch.hann_window(window + 2, periodic=False, device=x.device, dtype=x.dtype)[1:-1]
    out, total = torch.zeros_like(x), torch.zeros(frames, device=x.device, dtype=x.dtype)
    for s in starts:
        part = slice(s, s + window)
        w = weight.clone()
        if s == 0:  # the latent's own ends are covered by one window only: full weight there
            w[: window // 2] = 1.0
        if s + window == frames:
            w[window // 2:] = 1.0
        out[:, :, part] += predict(x[:, :, part], None if roll is None else roll[:, :, part]) * w[:, None]
        total[part] += w
    return out / total[:, None]


@torch.no_grad()
def sample_latents(unet: UNet2DConditionModel, cfg: DiffusionConfig, cond: torch.Tensor, roll: torch.Tensor | None,
                   latent_frames: int, *, sampler: str = "ddim", steps: int = 100, guidance: float = 3.0,
                   guidance_form: str = "official", eta: float = 1.0, clip: float = 0.0, window: int = 0,
                   generator: torch.Generator | None = None, progress: bool = True,
                   null_cond: torch.Tensor | None = None) -> torch.Tensor:
    """Denoise Gaussian noise into (B, C, latent_frames, 16) latents under ``cond`` (and ``roll``), guided against
    ``null_cond`` (:func:`guided_noise`; None = zeros);
    ``clip`` > 0 keeps every step's predicted clean latent within ±clip (:func:`clip_x0`); ``window`` > 0
    denoises latents longer than ``window`` frames (the training clips') window by window (:func:`windowed`)."""
    sched = make_scheduler(cfg, sampler)
    sched.set_timesteps(steps)
    dev = unet.device
    shape = (cond.shape[0], unet.config.out_channels, latent_frames, LATENT_BINS)
    x = torch.randn(shape, generator=generator).to(dev) * sched.init_noise_sigma
    cond, roll = cond.to(dev), None if roll is None else roll.to(dev)
    extra = {"eta": eta} if sampler == "ddim" else {}
    for t in tqdm(sched.timesteps, desc=f"{sampler} {steps}", disable=not progress, leave=False):
        x_in = sched.scale_model_input(x, t)
        out = windowed(lambda xs, rs: guided_noise(unet, xs, t, cond, rs, guidance, guidance_form, null_cond),
                       x_in, roll, window)
        eps = to_epsilon(out, x_in, sched.alphas_cumprod[int(t)].expand(len(x)), cfg.prediction)
        if clip:
            eps = clip_x0(eps, x, sched.alphas_cumprod[int(t)].to(x), clip)
        noise = torch.randn(x.shape, generator=generator).to(dev)
        x = sched.step(eps, t, x, variance_noise=noise, **extra).prev_sample
    return x
