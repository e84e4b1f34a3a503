"""PANNs CNN14 (the paper's KL/IS backbone) from a local checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.evaluation.backbones.base import (
    Backbone,
    ClipFeatures,
    WeightError,
    load_state_dict_file,
    prepare_clips,
)


@dataclass(frozen=True)
class Cnn14Config:
    """CNN14's front end; 32 kHz is ``Cnn14_mAP=0.431.pth``, 16 kHz is ``Cnn14_16k_mAP=0.438.pth``."""
    sample_rate: int = 32000
    n_fft: int = 1024
    hop_length: int = 320
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 14000.0
    n_classes: int = 527


CNN14_32K = Cnn14Config()
CNN14_16K = Cnn14Config(sample_rate=16000, n_fft=512, hop_length=160, fmax=8000.0)


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, pool)


class Cnn14Net(nn.Module):
    """PANNs CNN14 (Kong et al. 2020) with the original parameter names, inference path only."""
    def __init__(self, cfg: Cnn14Config = CNN14_32K) -> None:
        super().__init__()
        import librosa

        self.cfg = cfg
        mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
        self.register_buffer("mel_fb", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.bn0 = nn.BatchNorm2d(cfg.n_mels)
        widths = (1, 64, 128, 256, 512, 1024, 2048)
        for i in range(6):
            self.add_module(f"conv_block{i + 1}", _ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, cfg.n_classes)

    def logmel(self, wav: torch.Tensor) -> torch.Tensor:
        """torchlibrosa's front end: centred reflect-padded power STFT, Slaney mel, 10·log10(max(x, 1e-10))."""
        spec = torch.stft(wav, self.cfg.n_fft, self.cfg.hop_length, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True).abs() ** 2
        return 10 * torch.log10(torch.clamp(self.mel_fb @ spec, min=1e-10)).transpose(1, 2)  # (B, T, mels)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) -> (2048-d embedding, logits)."""
        x = self.bn0(self.logmel(wav).transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2).unsqueeze(1)
        for i in range(6):
            x = getattr(self, f"conv_block{i + 1}")(x, 2 if i < 5 else 1)
        x = x.mean(dim=3)
        x = x.amax(dim=2) + x.mean(dim=2)
        emb = F.relu(self.fc1(x))
        return emb, self.fc_audioset(emb)


class PANNsCNN14(Backbone):
    """CNN14 clip embeddings (2048-d) and AudioSet logits — KL and IS's backbone in the paper."""
    name = "panns"

    def __init__(self, weights: str | Path, config: Cnn14Config = CNN14_32K) -> None:
        self.net = Cnn14Net(config)
        self.sample_rate = config.sample_rate
        state = load_state_dict_file(self.net, weights, ignore_prefixes=("spectrogram_extractor.", "logmel_extractor."))
        mel_w = state.get("logmel_extractor.melW")
        if mel_w is not None and tuple(mel_w.shape) != (config.n_fft // 2 + 1, config.n_mels):
            raise WeightError(f"{weights}: key 'logmel_extractor.melW' has shape {tuple(mel_w.shape)}, the "
                              f"{config.sample_rate} Hz front end expects {(config.n_fft // 2 + 1, config.n_mels)}; "
                              f"pick the Cnn14Config that matches the checkpoint")

    @torch.inference_mode()
    def features(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> ClipFeatures:
        clips = prepare_clips(wavs, sample_rate, self.sample_rate, min_samples=self.sample_rate)
        embs, logits = zip(*(self.net(torch.from_numpy(w)[None]) for w in clips))
        logits_np = torch.cat(logits).numpy()
        return ClipFeatures([e.numpy() for e in embs], logits_np, 1 / (1 + np.exp(-logits_np)))
