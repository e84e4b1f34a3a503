"""The decoder stage: log-mel ↔ latents (VAE) and log-mel → waveform (vocoder).

AudioLDM design (docs/method.md §2.5): a KL-VAE on the 64-bin log-mel with 8 latent channels and 4×
down-sampling in time and frequency (1024×64 mel → 8×256×16), latents scaled by 1/std measured on
training data, then a HiFi-GAN vocoder (16 kHz, upsample rates [5,4,2,2,2]). Everything is a
diffusers/transformers model, so a local AudioLDM folder in diffusers layout (``vae/``,
``vocoder/``) loads in place of the models trained here.

On a CPU a small HiFi-GAN trained for minutes and Griffin-Lim are both kept; the decoder uses
whichever resynthesises held-out clips better by a measured score (:func:`choose_vocoder`)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mmgen_core.audio.frontend import (
    AUDIOLDM_MEL,
    clip_frames,
    mels_of,
)
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import Profile
from mmgen_core.data.manifest import Manifest, load_clips
from mmgen_core.data.stage import get_dataset
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.vae import MelNorm, VAEConfig, load_vae, train_vae
from mmgen_core.decoder.vocoder import (
    Vocoder,
    VocoderConfig,
    choose_vocoder,
    train_hifigan,
)

FORMAT = 2  # bump when saved decoder artifacts change meaning (it is part of the artifact key)


def vae_config(profile: Profile) -> VAEConfig:
    return profile.section("vae", VAEConfig)


def vocoder_config(profile: Profile) -> VocoderConfig:
    return profile.section("vocoder", VocoderConfig)


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
