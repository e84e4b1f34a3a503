"""VAE + vocoder as one object: mel → latents → mel → waveform, saved in diffusers layout."""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL

from mmgen_core.audio.frontend import mels_of
from mmgen_core.decoder.vae import MelNorm, load_vae
from mmgen_core.decoder.vocoder import Vocoder


class Decoder:
    """VAE + vocoder: ``encode`` mel → scaled latents, ``decode`` latents → mel, ``vocode`` mel → wav."""
    def __init__(self, vae: AutoencoderKL, vocoder: Vocoder, norm: MelNorm | None = None):
        self.vae, self.vocoder, self.norm = vae.eval(), vocoder, norm or MelNorm()

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @torch.no_grad()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, 64) log-mel → (B, C, frames/4, 16) latents (posterior mean × scaling factor)."""
        x = self.norm.apply(torch.as_tensor(mel, dtype=torch.float32)).to(self.vae.device).unsqueeze(1)
        return self.vae.encode(x).latent_dist.mode() * self.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents → (B, frames, 64) log-mel."""
        z = latents.to(self.vae.device, self.vae.dtype) / self.scaling_factor
        return self.norm.invert(self.vae.decode(z).sample[:, 0].float().cpu())

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, 64) log-mel → waveforms, peak-limited to ±1 (a WAV file's range): a generated mel
        beyond the data's range would otherwise give clipped files and overflow in the metrics."""
        wav = self.vocoder(mel)
        return wav / wav.abs().amax(-1, keepdim=True).clamp_min(1.0)

    @torch.no_grad()
    def resynthesize(self, wavs: torch.Tensor, return_mel: bool = False):
        """Real clips through the whole decoder: (B, samples) waveform → log-mel → VAE (encode, decode)
        → vocoder → (B, samples) waveform. This is the decoder ceiling (docs/method.md): generated audio
        cannot sound better than its own decoder. ``return_mel``: also return the VAE's reconstructed
        (B, frames, 64) log-mel, as ``(waveforms, mels)``."""
        rec = self.decode(self.encode(mels_of(torch.as_tensor(wavs, dtype=torch.float32))))
        wav = self.vocode(rec)
        return (wav, rec) if return_mel else wav

    def to(self, device: torch.device | str) -> "Decoder":
        """Move the VAE and the vocoder's network (Griffin-Lim runs on the CPU) to ``device``."""
        self.vae.to(device)
        if self.vocoder.hifigan is not None:
            self.vocoder.hifigan.to(device)
        return self

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``vae/`` (plus its mel normalisation) and ``vocoder/`` in diffusers layout."""
        folder = Path(folder)
        self.vae.save_pretrained(folder / "vae")
        self.norm.save(folder / "vae")
        self.vocoder.save_pretrained(folder / "vocoder")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Decoder":
        """Load ``vae/`` and ``vocoder/`` (a folder saved here or a local AudioLDM copy)."""
        folder = Path(folder)
        return cls(load_vae(folder), Vocoder.from_pretrained(folder / "vocoder"), MelNorm.load(folder / "vae"))
