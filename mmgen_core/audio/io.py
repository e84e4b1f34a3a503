"""Audio files: read (mono, resampled, checked), write (16-bit wav, atomically), pad or crop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """Audio that cannot be used (unreadable, empty, silent or not finite); names the file."""


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, *, min_seconds: float = 0.05,
               silence_db: float = -60.0) -> np.ndarray:
    """Read wav/flac/ogg as float32 mono at ``sample_rate``; raise :class:`AudioError` on bad input."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt files
        raise AudioError(f"{path}: unreadable audio ({exc}); convert it to wav/flac/ogg") from exc
    wav = data.mean(axis=1)
    if wav.size < min_seconds * sr:
        raise AudioError(f"{path}: empty or shorter than {min_seconds} s")
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if sr != sample_rate:
        import librosa

        wav = librosa.resample(wav, orig_sr=sr, target_sr=sample_rate).astype(np.float32)
    check_not_silent(wav, silence_db, name=str(path))
    return wav


def check_not_silent(wav: np.ndarray, silence_db: float = -60.0, name: str = "audio") -> None:
    """Raise :class:`AudioError` when the peak is below ``silence_db`` dBFS."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak <= 10 ** (silence_db / 20):
        raise AudioError(f"{name}: silent (peak {20 * np.log10(peak + 1e-12):.1f} dBFS < {silence_db} dBFS)")


def normalize_peak(wav: np.ndarray, peak: float = 0.5) -> np.ndarray:
    """AudioLDM's waveform normalisation: remove DC, scale the peak to ``peak``."""
    wav = wav - wav.mean()
    return (wav / (np.abs(wav).max() + 1e-8) * peak).astype(np.float32)


def save_audio(path: str | Path, wav: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono float waveform as 16-bit wav (atomically: temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    wav = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), wav, sample_rate, subtype="PCM_16", format="WAV")
    tmp.replace(path)
    return path


def fit_length(x: np.ndarray | torch.Tensor, length: int):
    """Pad with zeros or crop the last axis to ``length``."""
    n = x.shape[-1]
    if n >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
    if isinstance(x, torch.Tensor):
        return torch.nn.functional.pad(x, (0, length - n))
    return np.pad(x, pad)
