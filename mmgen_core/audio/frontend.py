"""Audio I/O and the AudioLDM log-mel front end — the one place its numbers live.

A VAE/vocoder checkpoint is only valid with the front end it was trained on, so every stage takes
its mel settings from :data:`AUDIOLDM_MEL` (16 kHz, n_fft=win=1024, hop 160, 64 mels, 0–8 kHz)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from mmgen_core.audio.io import SAMPLE_RATE, fit_length


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


def griffin_lim(logmel: np.ndarray | torch.Tensor, cfg: MelConfig = AUDIOLDM_MEL, n_iter: int = 32,
                momentum: float = 0.99, seed: int = 0) -> np.ndarray:
    """Invert a log-mel (frames, n_mels) to a waveform: NNLS mel→linear, then fast Griffin-Lim
    (Perraudin et al. 2013, librosa's algorithm: random phases, momentum ``momentum``) in torch,
    whose multithreaded FFTs run 2–4× faster than librosa's on 2 cores."""
    mag = torch.from_numpy(mel_to_magnitude(logmel, cfg))
    n_frames = mag.shape[1]
    win = torch.hann_window(cfg.win_length)
    spec = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=win, center=True)
    length = (n_frames - 1) * cfg.hop_length
    angles = torch.exp(2j * torch.pi * torch.rand(mag.shape, generator=torch.Generator().manual_seed(seed)))
    rebuilt = torch.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = torch.stft(torch.istft(mag * angles, length=length, **spec), return_complex=True, **spec)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / (angles.abs() + 1e-16)
    wav = torch.istft(mag * angles, length=length, **spec).numpy()
    # our frames are centred at t*hop + (n_fft/2 - pad); a centred STFT's at t*hop: shift to line them up
    shift = cfg.n_fft // 2 - (cfg.n_fft - cfg.hop_length) // 2
    wav = np.concatenate([np.zeros(shift, dtype=wav.dtype), wav])
    return fit_length(wav, n_frames * cfg.hop_length).astype(np.float32)


HOP = AUDIOLDM_MEL.hop_length


def clip_frames(seconds: float, mel: MelConfig = AUDIOLDM_MEL) -> int:
    """Mel frames of a clip, rounded down to a multiple of 32 (VAE 4×, then up to 8× in the UNet)."""
    return max(32, mel.frames(seconds) // 32 * 32)


def mels_of(wavs: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(N, samples) → (N, frames, 64) log-mels, frames = samples / hop."""
    frames = wavs.shape[-1] // HOP
    return torch.cat([log_mel(wavs[i:i + batch])[:, :frames] for i in range(0, len(wavs), batch)])
