"""Melody-guided latent diffusion in three conditioning modes (notebook 06)."""
from .conditioning import (
    FPS,
    LATENT_BINS,
    ConditionData,
    build_condition_data,
    cond_dim,
    condition,
    harmonic_template,
    melody_features,
    roll_channels,
)
from .config import GUIDANCE_FORMS, MODES, ROLL_KINDS, SAMPLERS, DiffusionConfig, check_mode, noise_schedule
from .sampling import clip_x0, guided_noise, make_scheduler, sample_latents, window_starts, windowed
from .stage import CONDITION_FIELDS, FORMAT, conditions_dir, load_or_build_conditions, load_or_train_unet, unet_dir
from .train import diffusion_loss_fn, train_unet, unet_loop
from .unet import build_unet, in_channels, init_unet, load_unet, predict_noise, widen_unet

__all__ = [
    "CONDITION_FIELDS",
    "ConditionData",
    "DiffusionConfig",
    "FORMAT",
    "FPS",
    "GUIDANCE_FORMS",
    "LATENT_BINS",
    "MODES",
    "ROLL_KINDS",
    "SAMPLERS",
    "build_condition_data",
    "build_unet",
    "check_mode",
    "clip_x0",
    "cond_dim",
    "condition",
    "conditions_dir",
    "diffusion_loss_fn",
    "guided_noise",
    "harmonic_template",
    "in_channels",
    "init_unet",
    "load_or_build_conditions",
    "load_or_train_unet",
    "load_unet",
    "make_scheduler",
    "melody_features",
    "noise_schedule",
    "predict_noise",
    "roll_channels",
    "sample_latents",
    "train_unet",
    "unet_loop",
    "unet_dir",
    "widen_unet",
    "window_starts",
    "windowed",
]
