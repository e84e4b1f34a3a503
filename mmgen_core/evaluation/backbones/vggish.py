"""VGGish (the paper's FAD backbone) from a local torchvggish state dict."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.evaluation.backbones.base import (
    Backbone,
    ClipFeatures,
    load_state_dict_file,
    prepare_clips,
)


def _hz_to_mel_htk(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


@lru_cache(maxsize=1)
def vggish_mel_matrix(n_mels: int = 64, n_bins: int = 257, sr: int = 16000,
                      fmin: float = 125.0, fmax: float = 7500.0) -> np.ndarray:
    """VGGish's own (n_bins, n_mels) HTK-mel matrix: triangles on the mel scale, DC bin zeroed."""
    bins_mel = _hz_to_mel_htk(np.linspace(0.0, sr / 2, n_bins))
    edges = np.linspace(_hz_to_mel_htk(np.array(fmin)), _hz_to_mel_htk(np.array(fmax)), n_mels + 2)
    lower = (bins_mel[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    upper = (edges[None, 2:] - bins_mel[:, None]) / (edges[2:] - edges[1:-1])
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights[0, :] = 0.0
    return weights


def vggish_examples(wav: np.ndarray) -> np.ndarray:
    """VGGish front end on 16 kHz audio: 25 ms/10 ms |STFT| (512-pt), 64 mels, log(mel+0.01),
    cut into non-overlapping 0.96 s examples -> (n_examples, 96, 64)."""
    win, hop = 400, 160
    wav = np.pad(wav, (0, max(0, win + 95 * hop - wav.size)))  # at least one example
    frames = np.lib.stride_tricks.sliding_window_view(wav, win)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi / win * np.arange(win))  # periodic Hann
    mag = np.abs(np.fft.rfft(frames * window, 512))
    logmel = np.log(mag @ vggish_mel_matrix() + 0.01)
    n = logmel.shape[0] // 96
    return logmel[:n * 96].reshape(n, 96, 64).astype(np.float32)


class VGGishNet(nn.Module):
    """VGGish (Hershey et al. 2017) with torchvggish's parameter names; output before the last ReLU."""
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, 128))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 96, 64) log-mel examples -> (B, 128) embeddings."""
        x = self.features(x.unsqueeze(1))
        return self.embeddings(x.permute(0, 2, 3, 1).flatten(1))  # NHWC flatten, as the TF original


class VGGish(Backbone):
    """VGGish embeddings per 0.96 s example — FAD's backbone in the paper (AudioLDM evaluation)."""
    name = "vggish"
    sample_rate = 16000

    def __init__(self, weights: str | Path, batch_size: int = 64) -> None:
        self.net = VGGishNet()
        load_state_dict_file(self.net, weights, ignore_prefixes=("pproc.",))
        self.batch_size = batch_size

    @torch.inference_mode()
    def features(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> ClipFeatures:
        examples = [vggish_examples(w) for w in prepare_clips(wavs, sample_rate, self.sample_rate)]
        flat = torch.from_numpy(np.concatenate(examples))
        emb = torch.cat([self.net(b) for b in flat.split(self.batch_size)]).numpy()
        bounds = np.cumsum([0] + [len(e) for e in examples])
        return ClipFeatures([emb[a:b] for a, b in zip(bounds[:-1], bounds[1:])], None, None)
