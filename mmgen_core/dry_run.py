"""Dry runs: every model of a profile at its size with random weights, and a training loss on random inputs.

They check code paths, speed and memory, not quality: the GPU check (``benchmarks/gpu_check.py``) trains each
model a few steps on CUDA, and ``tests/test_paper_dry_run.py`` trains the ``paper`` models one step on the CPU.
Nothing is downloaded: where the profile's text model (a local folder) is absent, the aligner's text tower is
RoBERTa-base's shape with random weights (``alignment.text_model: roberta-base-random``)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch

from mmgen_core.alignment.config import AlignmentConfig, resolve_variant
from mmgen_core.alignment.features import SplitData
from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.towers import RANDOM_ROBERTA
from mmgen_core.alignment.train import alignment_loop, alignment_loss_fn
from mmgen_core.audio import HOP, SAMPLE_RATE, clip_frames, mels_of
from mmgen_core.config import Profile, project_root
from mmgen_core.decoder import VAEConfig, VocoderConfig, build_hifigan, build_vae, vae_loss_fn, vocoder_loss_fn
from mmgen_core.decoder.vae import vae_loop
from mmgen_core.decoder.vocoder import vocoder_loop
from mmgen_core.diffusion import LATENT_BINS, ConditionData, DiffusionConfig, build_unet, diffusion_loss_fn, unet_loop
from mmgen_core.diffusion.conditioning import roll_channels
from mmgen_core.melody.tokens import MAX_LEN, VOCAB_SIZE
from mmgen_core.training import LoopConfig, LossFn

CAPTION = "a fast folk tune"
CLIPS = 8  # random clips when the batch is the profile's (the losses draw their batches from them)
UNET_MODE = "mmgen+roll"  # the generation default, and the widest UNet: [q, r] and the roll channels


@dataclass
class DryRunJob:
    """One model with random weights, its loss on random inputs of the profile's shapes, its loop and batch."""
    name: str
    model: torch.nn.Module
    loss_fn: LossFn
    loop: LoopConfig
    batch_size: int
    note: str = ""


def dry_run_text_model(cfg: AlignmentConfig) -> tuple[AlignmentConfig, str]:
    """``cfg``, with RoBERTa-base's shape and random weights in place of an absent local text model (and a note)."""
    if cfg.text_model in ("minilm", RANDOM_ROBERTA) or (project_root() / cfg.text_model).exists():
        return cfg, ""
    return (replace(cfg, text_model=RANDOM_ROBERTA),
            f"text tower RoBERTa-base with random weights ({cfg.text_model} absent)")


def _randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """Float32 Gaussian noise from ``rng`` (reproducible without touching torch's generator)."""
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def _aligner(profile: Profile, rng: np.random.Generator, n: int) -> DryRunJob:
    """The tri-modal aligner on ``n`` random clips, random melody ids and one caption (one contrastive batch)."""
    cfg, note = dry_run_text_model(resolve_variant(profile.section("alignment", AlignmentConfig), "trimodal"))
    clip_s = profile.section("data")["clip_seconds"]
    model = CLMP(cfg, clip_s)
    wavs = list(_randn(rng, n, int(clip_s * SAMPLE_RATE), scale=0.1).numpy())
    ids = torch.from_numpy(rng.integers(0, VOCAB_SIZE, (n, MAX_LEN)))
    data = SplitData([str(i) for i in range(n)], model.audio.features(wavs), [[CAPTION]] * n, ids, None)
    return DryRunJob("aligner", model, alignment_loss_fn(model, data, 0, n, 1), alignment_loop(cfg, 1), n, note)


def dry_run_jobs(profile: Profile, rng: np.random.Generator, *, batch_size: int | None = None,
                 frames: int | None = None) -> Iterator[DryRunJob]:
    """The aligner, VAE, vocoder and ``mmgen+roll`` UNet (the widest) of ``profile``, each built when reached.

    ``batch_size``: every model's batch (None: each section's own). ``frames``: mel frames of the random clips, a
    multiple of 32 (None: the profile's clip length); the aligner's audio tower pads its clips to that length anyway.
    The UNet's rows mix text and audio queries, so the official ``train_query: mix`` draws work.
    """
    vae_cfg, voc_cfg = profile.section("vae", VAEConfig), profile.section("vocoder", VocoderConfig)
    diff = profile.section("diffusion", DiffusionConfig)
    if batch_size:
        vae_cfg, voc_cfg, diff = (replace(c, batch_size=batch_size) for c in (vae_cfg, voc_cfg, diff))
    n = batch_size or CLIPS
    frames = frames or clip_frames(profile.section("data")["clip_seconds"])
    yield _aligner(profile, rng, batch_size or profile.section("alignment", AlignmentConfig).batch_size)
    wavs = _randn(rng, n, frames * HOP, scale=0.1)
    mels = mels_of(wavs)
    yield DryRunJob("VAE", build_vae(vae_cfg), vae_loss_fn(mels, vae_cfg), vae_loop(vae_cfg), vae_cfg.batch_size)
    yield DryRunJob("vocoder", build_hifigan(voc_cfg, mels), vocoder_loss_fn(wavs, mels, voc_cfg),
                    vocoder_loop(voc_cfg), voc_cfg.batch_size)
    t, rows = frames // 4, 2 * n
    data = ConditionData(latents=_randn(rng, n, vae_cfg.latent_channels, t, LATENT_BINS),
                         rolls=torch.from_numpy(rng.random((n, roll_channels(diff.roll), t, LATENT_BINS), np.float32)),
                         query=_randn(rng, rows, diff.embed_dim), melody=_randn(rng, rows, diff.embed_dim),
                         item=torch.arange(rows) % n, audio_query=torch.arange(rows) % 2 == 1)
    yield DryRunJob(f"UNet ({UNET_MODE})", build_unet(diff, UNET_MODE, vae_cfg.latent_channels),
                    diffusion_loss_fn(data, diff, UNET_MODE), unet_loop(diff), diff.batch_size)
