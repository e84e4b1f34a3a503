"""Audio I/O and the AudioLDM log-mel front end — the one place its numbers live.

A VAE/vocoder checkpoint is only valid with the front end it was trained on, so every stage takes
its mel settings from :data:`AUDIOLDM_MEL` (16 kHz, n_fft=win=1024, hop 160, 64 mels, 0–8 kHz).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """Audio that cannot be used (unreadable, empty, silent or not finite); names the file."""


@dataclass(frozen=True)
class MelConfig:
    """AudioLDM's mel front end. 1024 frames = 10.24 s at these settings."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    clamp: float = 1e-5

    def frames(self, seconds: float) -> int:
        """Mel frames covering ``seconds`` of audio."""
        return int(round(seconds * self.sample_rate / self.hop_length))


AUDIOLDM_MEL = MelConfig()


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


@lru_cache(maxsize=8)
def mel_filters(cfg: MelConfig = AUDIOLDM_MEL) -> torch.Tensor:
    """librosa's Slaney-normalised mel filter bank, (n_mels, n_fft//2+1), as AudioLDM uses (cached: do not modify)."""
    import librosa

    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
    return torch.from_numpy(fb).float()


def log_mel(wav: np.ndarray | torch.Tensor, cfg: MelConfig = AUDIOLDM_MEL) -> torch.Tensor:
    """AudioLDM log-mel: reflect-pad (n_fft−hop)/2, |STFT| (center=False), mel, log(clamp).

    ``wav`` is (samples,) or (batch, samples); returns (…, frames, n_mels) like AudioLDM.
    """
    x = torch.as_tensor(wav, dtype=torch.float32)
    squeeze = x.ndim == 1
    x = x.reshape(-1, x.shape[-1])
    pad = (cfg.n_fft - cfg.hop_length) // 2
    x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                      window=torch.hann_window(cfg.win_length), center=False, return_complex=True)
    mel = mel_filters(cfg) @ spec.abs()
    out = torch.log(torch.clamp(mel, min=cfg.clamp)).transpose(-1, -2)
    return out[0] if squeeze else out


def mel_to_magnitude(logmel: np.ndarray | torch.Tensor, cfg: MelConfig = AUDIOLDM_MEL, n_iter: int = 50) -> np.ndarray:
    """Linear magnitude (n_fft//2+1, frames) whose mel projection matches ``exp(logmel)``: non-negative
    least squares by multiplicative updates (Lee & Seung) from the clipped pseudo-inverse. Its residual
    is below librosa's L-BFGS ``mel_to_stft`` at a fraction of the time."""
    fb = mel_filters(cfg)
    # generated log-mels can leave the data's range: cap them so exp stays finite, and solve at unit
    # scale (NNLS is scale-equivariant) so the updates cannot overflow float32
    m = torch.exp(torch.as_tensor(logmel, dtype=torch.float32).nan_to_num(0.0).clamp(max=30.0)).T
    scale = m.max().clamp_min(1e-12)
    m = m / scale
    x = (torch.linalg.pinv(fb) @ m).clamp_min(1e-8)
    target = fb.T @ m
    for _ in range(n_iter):  # the floor keeps x out of denormals (which slow the CPU ~100×)
        x = (x * target / (fb.T @ (fb @ x)).clamp_min(1e-12)).clamp_min(1e-10)
    return (x * scale).numpy()


def griffin_lim(logmel: np.ndarray | torch.Tensor, cfg: MelConfig = AUDIOLDM_MEL, n_iter: int = 32) -> np.ndarray:
    """Invert a log-mel (frames, n_mels) to a waveform: NNLS mel→linear, then Griffin-Lim."""
    import librosa

    mag = mel_to_magnitude(logmel, cfg)
    n_frames = mag.shape[1]
    wav = librosa.griffinlim(mag, n_iter=n_iter, hop_length=cfg.hop_length, win_length=cfg.win_length,
                             n_fft=cfg.n_fft, center=True, random_state=0)
    # our frames are centred at t*hop + (n_fft/2 - pad); librosa's at t*hop: shift to line them up
    shift = cfg.n_fft // 2 - (cfg.n_fft - cfg.hop_length) // 2
    wav = np.concatenate([np.zeros(shift, dtype=wav.dtype), wav])
    return fit_length(wav, n_frames * cfg.hop_length).astype(np.float32)
