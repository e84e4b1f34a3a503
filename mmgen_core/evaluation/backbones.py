"""Evaluation networks behind FAD, KL and IS, with one interface (:class:`Backbone`).

The paper's numbers (DESIGN §2.6) come from the AudioLDM evaluation package: FAD on VGGish embeddings
(128-d, before the last ReLU, no PCA) and KL/IS on PANNs CNN14 AudioSet logits (527 classes).
Neither network ships in a package, so both load from a local state-dict file the user gives;
the offline default, musicnn, lives in :mod:`mmgen_core.evaluation.musicnn`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgen_core.audio import SAMPLE_RATE


class WeightError(ValueError):
    """A weight file that does not fit the network (missing/unexpected keys, wrong shapes)."""


@dataclass
class ClipFeatures:
    """What a backbone says about a set of clips: per-frame embeddings and per-clip class outputs."""

    frames: list[np.ndarray]  # one (n_frames_i, D) array per clip
    logits: np.ndarray | None  # (N, C), None for embedding-only networks
    probs: np.ndarray | None  # (N, C) multi-label (sigmoid) probabilities

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D): each clip's frame embeddings averaged."""
        return np.stack([f.mean(axis=0) for f in self.frames])


class Backbone:
    """Common interface: ``features`` does one pass; ``embed``/``logits``/``probs`` pick from it."""

    name = "backbone"
    sample_rate = SAMPLE_RATE

    def features(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> ClipFeatures:
        """Frame embeddings and class outputs of each clip (mono waveforms at ``sample_rate``)."""
        raise NotImplementedError

    def embed(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(N, D) clip embeddings (frame embeddings averaged per clip)."""
        return self.features(wavs, sample_rate).embeddings

    def logits(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(N, C) class logits per clip."""
        return self._classified(wavs, sample_rate).logits

    def probs(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(N, C) multi-label class probabilities per clip."""
        return self._classified(wavs, sample_rate).probs

    def _classified(self, wavs: Sequence[np.ndarray], sample_rate: int) -> ClipFeatures:
        out = self.features(wavs, sample_rate)
        if out.logits is None:
            raise NotImplementedError(f"{self.name} has no classifier; use 'panns' or 'musicnn' for KL and IS")
        return out


def prepare_clips(wavs: Sequence[np.ndarray], sample_rate: int, target_rate: int,
                  min_samples: int = 0) -> list[np.ndarray]:
    """Check a set of mono clips, resample to ``target_rate`` and zero-pad each to ``min_samples``."""
    if isinstance(wavs, (np.ndarray, torch.Tensor)) and wavs.ndim == 1:
        raise ValueError("give a list of clips (or a 2-D array), not a single 1-D waveform")
    clips = [np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w, dtype=np.float32)
             for w in wavs]
    if not clips:
        raise ValueError("empty set of clips")
    out = []
    for i, w in enumerate(clips):
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"clip {i}: expected a non-empty mono waveform, got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"clip {i}: contains NaN or infinite samples")
        if sample_rate != target_rate:
            import librosa

            w = librosa.resample(w, orig_sr=sample_rate, target_sr=target_rate).astype(np.float32)
        if w.size < min_samples:
            w = np.pad(w, (0, min_samples - w.size))
        out.append(w)
    return out


def load_state_dict_file(module: nn.Module, path: str | Path, ignore_prefixes: tuple[str, ...] = ()) -> dict:
    """Load a local state dict into ``module``, naming any missing/unexpected key or wrong shape.

    Accepts a plain state dict or a checkpoint holding one under ``"model"`` (PANNs' layout);
    a ``module.`` prefix (DataParallel) is stripped. Returns the raw state dict.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: weight file not found; download it yourself and set the path "
                                f"in the profile's evaluation section")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items()
             if not k.startswith(ignore_prefixes) and not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(set(own) - set(given)), sorted(set(given) - set(own))
    if missing or unexpected:
        raise WeightError(f"{path}: does not fit {type(module).__name__}: missing keys {missing[:5]}, "
                          f"unexpected keys {unexpected[:5]}")
    for k, v in own.items():
        if tuple(given[k].shape) != tuple(v.shape):
            raise WeightError(f"{path}: key {k!r} has shape {tuple(given[k].shape)}, "
                              f"{type(module).__name__} expects {tuple(v.shape)}")
    module.load_state_dict(given, strict=False)
    module.eval()
    return state


# ---------------------------------------------------------------- VGGish (FAD)

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


# ---------------------------------------------------------------- PANNs CNN14 (KL, IS)

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
