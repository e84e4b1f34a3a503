"""Vocoders: a small HiFi-GAN trained here (or a local AudioLDM one) and Griffin-Lim, and their scores."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from mmgen_core.audio.frontend import (
    AUDIOLDM_MEL,
    HOP,
    griffin_lim,
    log_mel,
    mel_filters,
)
from mmgen_core.audio.io import fit_length
from mmgen_core.checkpoints import CheckpointError, seed_everything
from mmgen_core.compute import ComputeConfig
from mmgen_core.training import LoopConfig, train


@dataclass
class VocoderConfig:
    """Vocoder choice and the small HiFi-GAN's size/training (profile section ``vocoder``).

    ``kind``: ``auto`` (decide by score on validation clips), ``hifigan`` or ``griffinlim``.
    ``pretrained``: a local folder holding ``vocoder/`` (SpeechT5HifiGan, e.g. AudioLDM's).
    """

    kind: str = "auto"
    pretrained: str | None = None
    griffin_lim_iters: int = 32
    upsample_initial_channel: int = 64
    upsample_rates: list[int] = field(default_factory=lambda: [5, 4, 2, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [11, 8, 4, 4, 4])
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3], [1, 3]])
    steps: int = 300
    batch_size: int = 8
    segment_frames: int = 32
    lr: float = 1e-3
    warmup_steps: int = 20  # linear LR warm-up, then constant
    checkpoint_every: int = 100
    eval_clips: int = 16  # validation clips the choice is scored on (re-scored, never retrained, when changed)

    UNKEYED: ClassVar[tuple[str, ...]] = ("checkpoint_every", "eval_clips")


class Vocoder:
    """mel (B, frames, 64) → waveform (B, frames·hop). Either a HiFi-GAN or Griffin-Lim."""
    def __init__(self, kind: str, hifigan: SpeechT5HifiGan | None = None, griffin_lim_iters: int = 32):
        if kind not in ("hifigan", "griffinlim"):
            raise ValueError(f"vocoder kind must be 'hifigan' or 'griffinlim', not {kind!r}")
        if kind == "hifigan" and hifigan is None:
            raise ValueError("a 'hifigan' vocoder needs its SpeechT5HifiGan model")
        self.kind, self.hifigan, self.griffin_lim_iters = kind, hifigan, griffin_lim_iters

    @torch.no_grad()
    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        mel = torch.as_tensor(mel, dtype=torch.float32)
        n = mel.shape[-2] * HOP
        if self.kind == "griffinlim":
            return torch.from_numpy(np.stack([griffin_lim(m, n_iter=self.griffin_lim_iters) for m in mel.reshape(-1, *mel.shape[-2:])]))
        dev = next(self.hifigan.parameters()).device
        return fit_length(self.hifigan(mel.to(dev)).float().cpu(), n)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.kind == "hifigan":
            self.hifigan.save_pretrained(folder)
        (folder / "mmgen_vocoder.json").write_text(json.dumps({"kind": self.kind, "griffin_lim_iters": self.griffin_lim_iters}))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Vocoder":
        """Load a folder saved here, or a plain SpeechT5HifiGan folder (AudioLDM's ``vocoder/``)."""
        folder = Path(folder)
        meta = folder / "mmgen_vocoder.json"
        info = json.loads(meta.read_text()) if meta.exists() else {"kind": "hifigan", "griffin_lim_iters": 32}
        if info["kind"] == "griffinlim":
            return cls("griffinlim", griffin_lim_iters=info["griffin_lim_iters"])
        if not (folder / "config.json").exists():
            raise CheckpointError(f"{folder}: no vocoder here (config.json missing); train it (notebook 05) or fix the path")
        return cls("hifigan", SpeechT5HifiGan.from_pretrained(folder).eval(), info["griffin_lim_iters"])


def build_hifigan(cfg: VocoderConfig, mels: torch.Tensor | None = None) -> SpeechT5HifiGan:
    """A random SpeechT5HifiGan for 16 kHz / 64 mels; ``mels`` set its input normalisation."""
    if int(np.prod(cfg.upsample_rates)) != HOP:
        raise ValueError(f"vocoder.upsample_rates multiply to {np.prod(cfg.upsample_rates)}, must be the hop {HOP}")
    if cfg.upsample_initial_channel >> len(cfg.upsample_rates) < 1:
        raise ValueError(f"vocoder.upsample_initial_channel={cfg.upsample_initial_channel} halves to 0 channels "
                         f"over {len(cfg.upsample_rates)} up-samplings; use at least {2 ** len(cfg.upsample_rates)}")
    conf = SpeechT5HifiGanConfig(model_in_dim=AUDIOLDM_MEL.n_mels, sampling_rate=AUDIOLDM_MEL.sample_rate,
                                 upsample_initial_channel=cfg.upsample_initial_channel,
                                 upsample_rates=list(cfg.upsample_rates), upsample_kernel_sizes=list(cfg.upsample_kernel_sizes),
                                 resblock_kernel_sizes=list(cfg.resblock_kernel_sizes),
                                 resblock_dilation_sizes=[list(d) for d in cfg.resblock_dilation_sizes],
                                 normalize_before=mels is not None)
    model = SpeechT5HifiGan(conf)
    if mels is not None:
        flat = mels.reshape(-1, mels.shape[-1])
        model.mean.copy_(flat.mean(0))
        model.scale.copy_(flat.std(0).clamp_min(1e-3))
    return model


def stft_mag(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| with a smooth floor (a hard clamp would stop the gradient of a near-silent output)."""
    spec = torch.stft(wav.float(), n_fft, hop_length=hop, window=torch.hann_window(n_fft, device=wav.device),
                      return_complex=True)
    return (spec.real ** 2 + spec.imag ** 2 + 1e-10).sqrt()


MRSTFT_RES = ((512, 128), (1024, 256), (2048, 512))


def mrstft_loss(ref: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1, averaged."""
    total = 0.0
    for n_fft, hop in MRSTFT_RES:
        a, b = stft_mag(ref, n_fft, hop), stft_mag(wav, n_fft, hop)
        sc = torch.linalg.norm(a - b, dim=(-2, -1)) / torch.linalg.norm(a, dim=(-2, -1))
        total = total + sc.mean() + ((a + 1e-5).log() - (b + 1e-5).log()).abs().mean()
    return total / len(MRSTFT_RES)


def smooth_log_mel(wav: torch.Tensor) -> torch.Tensor:
    """The front end's log-mel with log(x + 1e-5) instead of a clamp: same scale, gradient everywhere."""
    mag = stft_mag(wav, AUDIOLDM_MEL.n_fft, HOP)
    return (mel_filters(AUDIOLDM_MEL).to(wav.device) @ mag + AUDIOLDM_MEL.clamp).log()


def vocoder_loss_fn(wavs: torch.Tensor, mels: torch.Tensor, cfg: VocoderConfig):
    """Multi-resolution STFT + log-mel L1 on random segments (no discriminator: CPU budget)."""
    seg = cfg.segment_frames

    def loss_fn(voc: SpeechT5HifiGan, gen: torch.Generator, step: int):
        idx = torch.randint(len(mels), (cfg.batch_size,), generator=gen).tolist()
        starts = torch.randint(mels.shape[1] - seg + 1, (cfg.batch_size,), generator=gen).tolist()
        m = torch.stack([mels[i, s:s + seg] for i, s in zip(idx, starts)])
        ref = torch.stack([wavs[i, s * HOP:(s + seg) * HOP] for i, s in zip(idx, starts)])
        dev = next(voc.parameters()).device
        out = fit_length(voc(m.to(dev)), seg * HOP)
        stft = mrstft_loss(ref.to(dev), out)
        mel = F.l1_loss(smooth_log_mel(out), smooth_log_mel(ref.to(dev)))
        return stft + mel, {"mrstft": stft.item(), "mel": mel.item()}

    return loss_fn


def vocoder_loop(cfg: VocoderConfig) -> LoopConfig:
    """The HiFi-GAN generator's optimisation: AdamW, linear warm-up, then a constant learning rate."""
    return LoopConfig(steps=cfg.steps, lr=cfg.lr, checkpoint_every=cfg.checkpoint_every, warmup_steps=cfg.warmup_steps)


def train_hifigan(wavs: torch.Tensor, mels: torch.Tensor, cfg: VocoderConfig, ckpt_dir: Path, seed: int = 0,
                  stop_at: int | None = None, compute: ComputeConfig | None = None
                  ) -> tuple[SpeechT5HifiGan, list[dict], float]:
    """Train (or resume) the small HiFi-GAN generator; returns model, history and samples/s."""
    seed_everything(seed)
    model = build_hifigan(cfg, mels)
    res = train(model, vocoder_loss_fn(wavs, mels, cfg), vocoder_loop(cfg), ckpt_dir, seed=seed,
                batch_size=cfg.batch_size, stop_at=stop_at, desc="HiFi-GAN",
                compute=compute.for_part("vocoder") if compute else None)
    return model.eval(), res.history, res.samples_per_s


@torch.no_grad()
def resynthesis_scores(ref: torch.Tensor, wav: torch.Tensor) -> dict[str, float]:
    """How close ``wav`` is to ``ref`` (batches): log-mel L1 (nats) and multi-resolution STFT."""
    n = min(ref.shape[-1], wav.shape[-1])
    ref, wav = ref[..., :n], wav[..., :n]
    return {"logmel_l1": float((log_mel(ref) - log_mel(wav)).abs().mean()),
            "mrstft": float(mrstft_loss(ref, wav))}


def choose_vocoder(vocoders: dict[str, Vocoder], wavs: torch.Tensor, mels: torch.Tensor) -> tuple[str, pd.DataFrame]:
    """Resynthesise real clips (true mel → vocoder) and pick the vocoder with the lower MR-STFT."""
    rows = []
    for name, voc in vocoders.items():
        rows.append({"vocoder": name, **resynthesis_scores(wavs, voc(mels))})
    table = pd.DataFrame(rows)
    return str(table.loc[table["mrstft"].idxmin(), "vocoder"]), table
