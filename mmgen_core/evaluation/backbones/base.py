"""What every evaluation backbone provides, and loading local weight files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mmgen_core.audio.io import SAMPLE_RATE


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
