"""The UNet: diffusers' UNet2DConditionModel with AudioLDM's FiLM conditioning on the class label."""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    UNet2DConditionModel,
)

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.diffusion.conditioning import (
    LATENT_BINS,
    cond_dim,
    roll_channels,
)
from mmgen_core.diffusion.config import DiffusionConfig, check_mode


def in_channels(cfg: DiffusionConfig, mode: str, latent_channels: int) -> int:
    return latent_channels + (roll_channels(cfg.roll) if check_mode(mode) == "mmgen+roll" else 0)


def build_unet(cfg: DiffusionConfig, mode: str, latent_channels: int = 8) -> UNet2DConditionModel:
    """A random UNet2DConditionModel with AudioLDM's FiLM conditioning, sized by ``cfg``."""
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention))
    ch = tuple(cfg.block_out_channels)
    return UNet2DConditionModel(
        sample_size=(64, LATENT_BINS), in_channels=in_channels(cfg, mode, latent_channels),
        out_channels=latent_channels, down_block_types=down, up_block_types=up, block_out_channels=ch,
        layers_per_block=cfg.layers_per_block, norm_num_groups=cfg.norm_num_groups,
        cross_attention_dim=ch,  # no text sequence: the attention blocks attend to themselves (as AudioLDM)
        attention_head_dim=tuple(max(1, c // cfg.head_channels) for c in ch),  # diffusers: number of heads
        class_embed_type="simple_projection", projection_class_embeddings_input_dim=cond_dim(cfg, mode),
        class_embeddings_concat=True)


def widen_unet(unet: UNet2DConditionModel, n_in: int, n_cond: int, source: str = "unet") -> UNet2DConditionModel:
    """Grow the input conv and the class projection of a pretrained UNet with zero weights.

    A zero-initialised extra input (roll channels, the r half of [q, r]) leaves the pretrained
    model's predictions unchanged at the start of fine-tuning.
    """
    if unet.config.class_embed_type != "simple_projection" or not unet.config.class_embeddings_concat:
        raise CheckpointError(f"{source}: needs class_embed_type='simple_projection' with class_embeddings_concat "
                              "(an AudioLDM UNet); this one has "
                              f"{unet.config.class_embed_type!r}/{unet.config.class_embeddings_concat}")
    old_in, old_cond = unet.conv_in.in_channels, unet.class_embedding.in_features
    if n_in < old_in or n_cond < old_cond:
        raise CheckpointError(f"{source}: takes {old_in} input channels and a {old_cond}-d condition; "
                              f"this mode needs {n_in} and {n_cond}: it cannot shrink")
    with torch.no_grad():
        if n_in > old_in:
            conv = torch.nn.Conv2d(n_in, unet.conv_in.out_channels, unet.conv_in.kernel_size, padding=unet.conv_in.padding)
            conv.weight.zero_()
            conv.weight[:, :old_in] = unet.conv_in.weight
            conv.bias.copy_(unet.conv_in.bias)
            unet.conv_in = conv
        if n_cond > old_cond:
            lin = torch.nn.Linear(n_cond, unet.class_embedding.out_features)
            lin.weight.zero_()
            lin.weight[:, :old_cond] = unet.class_embedding.weight
            lin.bias.copy_(unet.class_embedding.bias)
            unet.class_embedding = lin
    unet.register_to_config(in_channels=n_in, projection_class_embeddings_input_dim=n_cond)
    return unet


def load_unet(folder: str | Path) -> UNet2DConditionModel:
    """``folder/unet`` (diffusers layout) or a clear error."""
    path = Path(folder) / "unet"
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: no config.json; train the UNet (notebook 06) or point at a diffusers folder with unet/")
    return UNet2DConditionModel.from_pretrained(path).eval()


def init_unet(cfg: DiffusionConfig, mode: str, latent_channels: int) -> UNet2DConditionModel:
    """Random, or ``cfg.pretrained`` widened to this mode's inputs."""
    if not cfg.pretrained:
        return build_unet(cfg, mode, latent_channels)
    unet = load_unet(cfg.pretrained)
    if unet.config.out_channels != latent_channels:
        raise CheckpointError(f"{cfg.pretrained}/unet: predicts {unet.config.out_channels} latent channels; "
                              f"the VAE has {latent_channels}")
    return widen_unet(unet, in_channels(cfg, mode, latent_channels), cond_dim(cfg, mode), f"{cfg.pretrained}/unet")


def predict_noise(unet: UNet2DConditionModel, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor,
                  roll: torch.Tensor | None = None) -> torch.Tensor:
    """ε(x_t, t, c): the roll (if any) joins the latent as extra channels, c is the class label."""
    if roll is not None:
        x = torch.cat([x, roll.to(x)], dim=1)
    return unet(x, t, encoder_hidden_states=None, class_labels=cond.to(x)).sample


def to_epsilon(output: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor, prediction: str) -> torch.Tensor:
    """ε from the UNet's output at x_t: the output itself (ε-prediction) or √ᾱ v + √(1−ᾱ) x_t
    (v-prediction). Linear in the output, so it commutes with classifier-free guidance."""
    if prediction == "epsilon":
        return output
    if prediction != "v_prediction":
        raise ValueError(f"prediction must be 'epsilon' or 'v_prediction', not {prediction!r}")
    ab = alpha_bar.to(x).reshape(-1, *[1] * (x.ndim - 1))
    return ab.sqrt() * output + (1 - ab).sqrt() * x
