"""The mel VAE (AudioLDM design): 8 latent channels, 4× down-sampling, trained with L1 + KL."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from mmgen_core.audio.frontend import AUDIOLDM_MEL
from mmgen_core.checkpoints import CheckpointError, seed_everything
from mmgen_core.compute import ComputeConfig
from mmgen_core.training import LoopConfig, train

VAE_DOWN = 4  # time and frequency down-sampling of the VAE


@dataclass
class VAEConfig:
    """VAE size and training (profile section ``vae``). ``pretrained``: a local diffusers folder
    holding ``vae/`` (e.g. AudioLDM's) to use instead of training."""

    block_out_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    layers_per_block: int = 1
    latent_channels: int = 8
    norm_num_groups: int = 8
    mid_attention: bool = False  # AudioLDM has it; on a CPU it quadruples the training cost
    steps: int = 300
    batch_size: int = 8
    crop_frames: int = 128  # train on random crops (the VAE is convolutional); 0 = whole clips
    lr: float = 1e-3
    kl_weight: float = 1e-5  # on the mean KL per latent element; reconstruction is the mean L1
    warmup_steps: int = 20  # linear LR warm-up, then constant
    checkpoint_every: int = 100
    scale_clips: int = 64  # training clips used to measure the latent std
    pretrained: str | None = None

    UNKEYED: ClassVar[tuple[str, ...]] = ("checkpoint_every",)  # changes no trained weight


@dataclass
class MelNorm:
    """Per-bin affine normalisation of the log-mel around the VAE (identity for AudioLDM's VAE,
    which reads raw log-mel); measured on training mels it makes minutes of CPU training enough."""

    shift: list[float] = field(default_factory=lambda: [0.0] * AUDIOLDM_MEL.n_mels)
    scale: list[float] = field(default_factory=lambda: [1.0] * AUDIOLDM_MEL.n_mels)

    FILE = "mel_norm.json"

    @classmethod
    def measure(cls, mels: torch.Tensor) -> "MelNorm":
        flat = mels.reshape(-1, mels.shape[-1])
        return cls(flat.mean(0).tolist(), flat.std(0).clamp_min(1e-3).tolist())

    def apply(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - torch.tensor(self.shift)) / torch.tensor(self.scale)

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor(self.scale) + torch.tensor(self.shift)

    def save(self, folder: Path) -> None:
        (folder / self.FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> "MelNorm":
        path = folder / cls.FILE
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


def build_vae(cfg: VAEConfig) -> AutoencoderKL:
    """A randomly initialised AutoencoderKL on 1-channel mels with 4× down-sampling."""
    n = len(cfg.block_out_channels)
    if 2 ** (n - 1) != VAE_DOWN:
        raise ValueError(f"vae.block_out_channels needs 3 entries for 4x down-sampling, got {cfg.block_out_channels}")
    return AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(cfg.block_out_channels),
                         layers_per_block=cfg.layers_per_block, latent_channels=cfg.latent_channels,
                         norm_num_groups=cfg.norm_num_groups, mid_block_add_attention=cfg.mid_attention,
                         scaling_factor=1.0)


def vae_loss_fn(mels: torch.Tensor, cfg: VAEConfig):
    """L1 reconstruction + KL on random crops of random training mels."""
    crop = cfg.crop_frames or mels.shape[1]

    def loss_fn(vae: AutoencoderKL, gen: torch.Generator, step: int):
        idx = torch.randint(len(mels), (cfg.batch_size,), generator=gen)
        starts = torch.randint(mels.shape[1] - crop + 1, (cfg.batch_size,), generator=gen)
        x = torch.stack([mels[i, s:s + crop] for i, s in zip(idx.tolist(), starts.tolist())]).unsqueeze(1)
        x = x.to(next(vae.parameters()).device)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(x.device)
        rec = F.l1_loss(vae.decode(z).sample, x)
        kl = post.kl().mean() / post.mean[0].numel()
        return rec + cfg.kl_weight * kl, {"rec": rec.item(), "kl": kl.item()}

    return loss_fn


@torch.no_grad()
def measure_scaling_factor(vae: AutoencoderKL, mels: torch.Tensor) -> float:
    """1 / std of the latents of training mels (Rombach et al.'s scale_by_std)."""
    z = torch.cat([vae.encode(m.unsqueeze(1)).latent_dist.mode() for m in mels.split(8)])
    return float(1.0 / z.flatten().std())


def vae_loop(cfg: VAEConfig) -> LoopConfig:
    """The VAE's optimisation: AdamW, linear warm-up, then a constant learning rate."""
    return LoopConfig(steps=cfg.steps, lr=cfg.lr, checkpoint_every=cfg.checkpoint_every, warmup_steps=cfg.warmup_steps)


def train_vae(mels: torch.Tensor, cfg: VAEConfig, ckpt_dir: Path, seed: int = 0,
              stop_at: int | None = None, compute: ComputeConfig | None = None
              ) -> tuple[AutoencoderKL, MelNorm, list[dict], float]:
    """Train (or resume) the VAE on normalised training mels; returns the model, the mel
    normalisation, the loss history and samples/s. The latent scaling factor is set on the model."""
    seed_everything(seed)
    vae, norm = build_vae(cfg), MelNorm.measure(mels)
    x = norm.apply(mels)
    res = train(vae, vae_loss_fn(x, cfg), vae_loop(cfg), ckpt_dir, seed=seed, batch_size=cfg.batch_size,
                stop_at=stop_at, desc="VAE",
                compute=compute.for_part("vae") if compute else None)
    vae.register_to_config(scaling_factor=measure_scaling_factor(vae, x[: cfg.scale_clips]))
    return vae, norm, res.history, res.samples_per_s


def load_vae(folder: str | Path) -> AutoencoderKL:
    """``folder/vae`` of a diffusers-layout folder (saved here, or a local AudioLDM copy)."""
    path = Path(folder) / "vae"
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: no config.json; point vae.pretrained at a diffusers-layout folder "
                              "(with vae/ and vocoder/) or train the VAE (notebook 05)")
    vae = AutoencoderKL.from_pretrained(path)
    if vae.config.in_channels != 1:
        raise CheckpointError(f"{path}: the VAE takes {vae.config.in_channels} input channels; a mel VAE takes 1")
    return vae.eval()
