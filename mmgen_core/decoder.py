"""The decoder stage: log-mel ↔ latents (VAE) and log-mel → waveform (vocoder).

AudioLDM design (DESIGN §2.5): a KL-VAE on the 64-bin log-mel with 8 latent channels and 4×
down-sampling in time and frequency (1024×64 mel → 8×256×16), latents scaled by 1/std measured on
training data, then a HiFi-GAN vocoder (16 kHz, upsample rates [5,4,2,2,2]). Everything is a
diffusers/transformers model, so a local AudioLDM folder in diffusers layout (``vae/``,
``vocoder/``) loads in place of the models trained here.

On a CPU a small HiFi-GAN trained for minutes and Griffin-Lim are both kept; the decoder uses
whichever resynthesises held-out clips better by a measured score (:func:`choose_vocoder`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from .audio import AUDIOLDM_MEL, MelConfig, fit_length, griffin_lim, load_audio, log_mel, normalize_peak
from .checkpoints import CheckpointError, seed_everything
from .config import Profile
from .dataset import Manifest
from .trainloop import LoopConfig, train

HOP = AUDIOLDM_MEL.hop_length
FORMAT = 2  # bump when saved decoder artifacts change meaning (it is part of the artifact key)
VAE_DOWN = 4  # time and frequency down-sampling of the VAE


# ---------------------------------------------------------------- configs


@dataclass
class VAEConfig:
    """VAE size and training (profile section ``vae``). ``pretrained``: a local diffusers folder
    holding ``vae/`` (e.g. AudioLDM's) to use instead of training."""

    block_out_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    layers_per_block: int = 1
    latent_channels: int = 8
    norm_num_groups: int = 8
    mid_attention: bool = False  # AudioLDM has it; on a CPU it quadruples the training cost
    steps: int = 300
    batch_size: int = 8
    crop_frames: int = 128  # train on random crops (the VAE is convolutional); 0 = whole clips
    lr: float = 1e-3
    kl_weight: float = 1e-5  # on the mean KL per latent element; reconstruction is the mean L1
    checkpoint_every: int = 100
    scale_clips: int = 64  # training clips used to measure the latent std
    pretrained: str | None = None


@dataclass
class VocoderConfig:
    """Vocoder choice and the small HiFi-GAN's size/training (profile section ``vocoder``).

    ``kind``: ``auto`` (decide by score on test clips), ``hifigan`` or ``griffinlim``.
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
    checkpoint_every: int = 100
    eval_clips: int = 16


def vae_config(profile: Profile) -> VAEConfig:
    return profile.section("vae", VAEConfig)


def vocoder_config(profile: Profile) -> VocoderConfig:
    return profile.section("vocoder", VocoderConfig)


# ---------------------------------------------------------------- data


def clip_frames(seconds: float, mel: MelConfig = AUDIOLDM_MEL) -> int:
    """Mel frames of a clip, rounded down to a multiple of 32 (VAE 4×, then up to 8× in the UNet)."""
    return max(32, mel.frames(seconds) // 32 * 32)


def load_clips(manifest: Manifest, split: str, frames: int, limit: int | None = None) -> tuple[list[str], torch.Tensor]:
    """Waveforms of a split, peak-normalised as AudioLDM does, cut/padded to ``frames`` hops."""
    items = manifest.items(split)[:limit]
    if not items:
        raise ValueError(f"{manifest.root}: split {split!r} is empty")
    wavs = [fit_length(normalize_peak(load_audio(manifest.audio_path(it))), frames * HOP) for it in items]
    return [it.id for it in items], torch.from_numpy(np.stack(wavs))


def mels_of(wavs: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(N, samples) → (N, frames, 64) log-mels, frames = samples / hop."""
    frames = wavs.shape[-1] // HOP
    return torch.cat([log_mel(wavs[i:i + batch])[:, :frames] for i in range(0, len(wavs), batch)])


# ---------------------------------------------------------------- VAE


@dataclass
class MelNorm:
    """Per-bin affine normalisation of the log-mel around the VAE (identity for AudioLDM's VAE,
    which reads raw log-mel); measured on training mels it makes minutes of CPU training enough."""

    shift: list[float] = field(default_factory=lambda: [0.0] * AUDIOLDM_MEL.n_mels)
    scale: list[float] = field(default_factory=lambda: [1.0] * AUDIOLDM_MEL.n_mels)

    FILE = "mel_norm.json"

    @classmethod
    def measure(cls, mels: torch.Tensor) -> "MelNorm":
        flat = mels.reshape(-1, mels.shape[-1])
        return cls(flat.mean(0).tolist(), flat.std(0).clamp_min(1e-3).tolist())

    def apply(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - torch.tensor(self.shift)) / torch.tensor(self.scale)

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor(self.scale) + torch.tensor(self.shift)

    def save(self, folder: Path) -> None:
        (folder / self.FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> "MelNorm":
        path = folder / cls.FILE
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


def build_vae(cfg: VAEConfig) -> AutoencoderKL:
    """A randomly initialised AutoencoderKL on 1-channel mels with 4× down-sampling."""
    n = len(cfg.block_out_channels)
    if 2 ** (n - 1) != VAE_DOWN:
        raise ValueError(f"vae.block_out_channels needs 3 entries for 4x down-sampling, got {cfg.block_out_channels}")
    return AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(cfg.block_out_channels),
                         layers_per_block=cfg.layers_per_block, latent_channels=cfg.latent_channels,
                         norm_num_groups=cfg.norm_num_groups, mid_block_add_attention=cfg.mid_attention,
                         scaling_factor=1.0)


def vae_loss_fn(mels: torch.Tensor, cfg: VAEConfig):
    """L1 reconstruction + KL on random crops of random training mels."""
    crop = cfg.crop_frames or mels.shape[1]

    def loss_fn(vae: AutoencoderKL, gen: torch.Generator):
        idx = torch.randint(len(mels), (cfg.batch_size,), generator=gen)
        starts = torch.randint(mels.shape[1] - crop + 1, (cfg.batch_size,), generator=gen)
        x = torch.stack([mels[i, s:s + crop] for i, s in zip(idx.tolist(), starts.tolist())]).unsqueeze(1)
        x = x.to(next(vae.parameters()).device)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(x.device)
        rec = F.l1_loss(vae.decode(z).sample, x)
        kl = post.kl().mean() / post.mean[0].numel()
        return rec + cfg.kl_weight * kl, {"rec": rec.item(), "kl": kl.item()}

    return loss_fn


@torch.no_grad()
def measure_scaling_factor(vae: AutoencoderKL, mels: torch.Tensor) -> float:
    """1 / std of the latents of training mels (Rombach et al.'s scale_by_std)."""
    z = torch.cat([vae.encode(m.unsqueeze(1)).latent_dist.mode() for m in mels.split(8)])
    return float(1.0 / z.flatten().std())


def train_vae(mels: torch.Tensor, cfg: VAEConfig, ckpt_dir: Path, seed: int = 0,
              stop_at: int | None = None) -> tuple[AutoencoderKL, MelNorm, list[dict], float]:
    """Train (or resume) the VAE on normalised training mels; returns the model, the mel
    normalisation, the loss history and samples/s. The latent scaling factor is set on the model."""
    seed_everything(seed)
    vae, norm = build_vae(cfg), MelNorm.measure(mels)
    x = norm.apply(mels)
    loop = LoopConfig(steps=cfg.steps, lr=cfg.lr, checkpoint_every=cfg.checkpoint_every, warmup_steps=20)
    res = train(vae, vae_loss_fn(x, cfg), loop, ckpt_dir, seed=seed, batch_size=cfg.batch_size,
                stop_at=stop_at, desc="VAE")
    vae.register_to_config(scaling_factor=measure_scaling_factor(vae, x[: cfg.scale_clips]))
    return vae, norm, res.history, res.samples_per_s


def load_vae(folder: str | Path) -> AutoencoderKL:
    """``folder/vae`` of a diffusers-layout folder (saved here, or a local AudioLDM copy)."""
    path = Path(folder) / "vae"
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: no config.json; point vae.pretrained at a diffusers-layout folder "
                              "(with vae/ and vocoder/) or train the VAE (notebook 05)")
    vae = AutoencoderKL.from_pretrained(path)
    if vae.config.in_channels != 1:
        raise CheckpointError(f"{path}: the VAE takes {vae.config.in_channels} input channels; a mel VAE takes 1")
    return vae.eval()


# ---------------------------------------------------------------- vocoders


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
    spec = torch.stft(wav, n_fft, hop_length=hop, window=torch.hann_window(n_fft, device=wav.device),
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
    from .audio import mel_filters

    mag = stft_mag(wav, AUDIOLDM_MEL.n_fft, HOP)
    return (mel_filters(AUDIOLDM_MEL).to(wav.device) @ mag + AUDIOLDM_MEL.clamp).log()


def vocoder_loss_fn(wavs: torch.Tensor, mels: torch.Tensor, cfg: VocoderConfig):
    """Multi-resolution STFT + log-mel L1 on random segments (no discriminator: CPU budget)."""
    seg = cfg.segment_frames

    def loss_fn(voc: SpeechT5HifiGan, gen: torch.Generator):
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


def train_hifigan(wavs: torch.Tensor, mels: torch.Tensor, cfg: VocoderConfig, ckpt_dir: Path, seed: int = 0,
                  stop_at: int | None = None) -> tuple[SpeechT5HifiGan, list[dict], float]:
    """Train (or resume) the small HiFi-GAN generator; returns model, history and samples/s."""
    seed_everything(seed)
    model = build_hifigan(cfg, mels)
    loop = LoopConfig(steps=cfg.steps, lr=cfg.lr, checkpoint_every=cfg.checkpoint_every, warmup_steps=20)
    res = train(model, vocoder_loss_fn(wavs, mels, cfg), loop, ckpt_dir, seed=seed, batch_size=cfg.batch_size,
                stop_at=stop_at, desc="HiFi-GAN")
    return model.eval(), res.history, res.samples_per_s


# ---------------------------------------------------------------- scores


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


# ---------------------------------------------------------------- the decoder


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


# ---------------------------------------------------------------- the stage


@dataclass
class DecoderReport:
    """What building the decoder measured: losses, throughput, the vocoder decision, reconstruction."""

    vae_history: list[dict] = field(default_factory=list)
    vocoder_history: list[dict] = field(default_factory=list)
    vae_samples_per_s: float = float("nan")
    vocoder_samples_per_s: float = float("nan")
    vocoder_table: list[dict] = field(default_factory=list)
    chosen_vocoder: str = ""
    vae_recon_l1: float = float("nan")


def decoder_dir(profile: Profile, manifest: Manifest) -> Path:
    """Artifacts of the decoder stage, keyed by the dataset (its folder is keyed by its own config
    and version), the mel front end, the VAE and vocoder configs and the seed."""
    return profile.stage_dir("decoder", Path(manifest.root).name, asdict(AUDIOLDM_MEL), vae_config(profile),
                             vocoder_config(profile), profile.seed, FORMAT)


def load_or_train_decoder(profile: Profile, manifest: Manifest | None = None,
                          train_missing: bool = True) -> tuple[Decoder, DecoderReport]:
    """The profile's decoder: loaded from its artifacts, from ``pretrained`` folders, or trained now.

    Training: the VAE and the small HiFi-GAN on the training split; then both vocoders are scored on
    test clips and ``vocoder.kind='auto'`` keeps the better one (both stay on disk).
    """
    if manifest is None:
        from .dataset import get_dataset

        manifest = get_dataset(profile)
    vcfg, ocfg = vae_config(profile), vocoder_config(profile)
    out = decoder_dir(profile, manifest)
    report_path = out / "report.json"
    if report_path.exists():
        dec = Decoder.from_pretrained(out / "final")
        return dec, DecoderReport(**json.loads(report_path.read_text()))
    if not train_missing:
        raise CheckpointError(f"{out}: no trained decoder for profile {profile.name!r}; run notebook 05_decoder "
                              "(or `mmgen notebooks --only 05`) first")
    frames = clip_frames(float(profile.section("data")["clip_seconds"]))
    report = DecoderReport()
    _, train_wavs = load_clips(manifest, "train", frames)
    train_mels = mels_of(train_wavs)
    _, test_wavs = load_clips(manifest, "test", frames, limit=ocfg.eval_clips)
    test_mels = mels_of(test_wavs)

    if vcfg.pretrained:  # keeps the checkpoint's own scaling factor and normalisation
        vae, norm = load_vae(vcfg.pretrained), MelNorm.load(Path(vcfg.pretrained) / "vae")
    else:
        vae, norm, report.vae_history, report.vae_samples_per_s = train_vae(train_mels, vcfg, out / "vae_ckpt",
                                                                            profile.seed)

    vocoders = {"griffinlim": Vocoder("griffinlim", griffin_lim_iters=ocfg.griffin_lim_iters)}
    if ocfg.pretrained:
        vocoders["hifigan"] = Vocoder.from_pretrained(Path(ocfg.pretrained) / "vocoder")
    elif ocfg.kind != "griffinlim":
        model, report.vocoder_history, report.vocoder_samples_per_s = train_hifigan(
            train_wavs, train_mels, ocfg, out / "vocoder_ckpt", profile.seed)
        vocoders["hifigan"] = Vocoder("hifigan", model, ocfg.griffin_lim_iters)
    best, table = choose_vocoder(vocoders, test_wavs, test_mels)
    report.vocoder_table = table.to_dict("records")
    report.chosen_vocoder = best if ocfg.kind == "auto" else ocfg.kind
    dec = Decoder(vae, vocoders[report.chosen_vocoder], norm)
    report.vae_recon_l1 = float((dec.decode(dec.encode(test_mels)) - test_mels).abs().mean())
    dec.save_pretrained(out / "final")
    for name, voc in vocoders.items():
        voc.save_pretrained(out / "vocoders" / name)
    report_path.write_text(json.dumps(asdict(report)))
    return dec, report


@torch.no_grad()
def decoder_ceiling(decoder: Decoder, wavs: torch.Tensor, ids: Sequence[str] | None = None,
                    melodies: Sequence[Sequence] | None = None) -> pd.DataFrame:
    """Resynthesise real clips through each stage: vocoder only (true mel) and VAE + vocoder.

    The scores bound what generation can reach: generated audio cannot beat its own decoder. With
    ``melodies`` (notes per clip) the chroma similarity to the melody is reported for the real clip
    and both resyntheses: the ceiling of the melody-adherence figures of notebook 07.
    """
    from .evaluation import chroma_similarity

    mels = mels_of(wavs)
    rec = decoder.decode(decoder.encode(mels))
    stages = {"real": wavs, "vocoder": decoder.vocode(mels), "vae+vocoder": decoder.vocode(rec)}
    rows = []
    for i in range(len(wavs)):
        row = {"id": ids[i] if ids is not None else str(i), "vae_mel_l1": float((rec[i] - mels[i]).abs().mean())}
        for name in ("vocoder", "vae+vocoder"):
            row.update({f"{name}_{k}": v for k, v in resynthesis_scores(wavs[i:i + 1], stages[name][i:i + 1]).items()})
        if melodies is not None:
            row.update({f"{name}_chroma": chroma_similarity(w[i].numpy(), melodies[i]) for name, w in stages.items()})
        rows.append(row)
    return pd.DataFrame(rows)
