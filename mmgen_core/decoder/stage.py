"""The decoder stage: log-mel ↔ latents (VAE) and log-mel → waveform (vocoder).

AudioLDM design (docs/method.md §2.5): a KL-VAE on the 64-bin log-mel with 8 latent channels and 4×
down-sampling in time and frequency (1024×64 mel → 8×256×16), latents scaled by 1/std measured on
training data, then a HiFi-GAN vocoder (16 kHz, upsample rates [5,4,2,2,2]). Everything is a
diffusers/transformers model, so a local AudioLDM folder in diffusers layout (``vae/``,
``vocoder/``) loads in place of the models trained here.

On a CPU a small HiFi-GAN trained for minutes and Griffin-Lim are both kept; the decoder uses
whichever resynthesises validation clips better by a measured score (:func:`choose_vocoder`)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmgen_core.artifacts import StageDir, atomic_write, stage_dir
from mmgen_core.audio.frontend import (
    AUDIOLDM_MEL,
    clip_frames,
    mels_of,
)
from mmgen_core.compute import ComputeConfig
from mmgen_core.data.fractions import subset_key
from mmgen_core.data.manifest import SELECTION_SPLIT, Manifest, load_clips, require_selection_split
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.vae import MelNorm, VAEConfig, load_vae, train_vae
from mmgen_core.decoder.vocoder import (
    Vocoder,
    VocoderConfig,
    choose_vocoder,
    train_hifigan,
)

FORMAT = 2  # bump when saved decoder artifacts change meaning (it is part of the artifact key)


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
    folder: str = ""  # the stage folder's name: the key downstream stages are keyed by


def decoder_dir(vae: VAEConfig, vocoder: VocoderConfig, manifest: Manifest, artifacts: Path, seed: int) -> StageDir:
    """The decoder's folder: keyed by the data, the mel front end, what trains the VAE and vocoder, and the seed.
    Checkpoint cadence and the number of clips the vocoder choice is scored on change no trained weights."""
    return stage_dir(artifacts, "decoder", vae, vocoder, upstream=[manifest.root], mel=asdict(AUDIOLDM_MEL), seed=seed,
                     format=FORMAT, **subset_key(manifest))  # {} for the whole data



def load_or_train_decoder(vae_cfg: VAEConfig, vocoder_cfg: VocoderConfig, manifest: Manifest, clip_seconds: float,
                          artifacts: Path, seed: int = 0, *, train_missing: bool = True,
                          compute: ComputeConfig | None = None) -> tuple[Decoder, DecoderReport]:
    """The decoder: loaded from its artifacts, from ``pretrained`` folders, or trained now.

    Training: the VAE and the small HiFi-GAN on the training split. Both vocoders stay on disk; with
    ``vocoder.kind='auto'`` the one that resynthesises ``eval_clips`` *validation* clips better is used
    (the choice is re-made, not retrained, when ``eval_clips`` changes).
    """
    stage = decoder_dir(vae_cfg, vocoder_cfg, manifest, artifacts, seed)
    out = stage.path
    stage.require(train_missing, "trained decoder", "run notebook 05_decoder (or `mmgen notebooks --only 05`) first")
    frames = clip_frames(clip_seconds)
    if stage.done:
        report = DecoderReport(**stage.info())
        vocoders = {p.name: Vocoder.from_pretrained(p) for p in sorted((out / "vocoders").iterdir())}
    else:
        report, vae, norm, vocoders = _train(vae_cfg, vocoder_cfg, manifest, frames, out, seed, compute)
        Decoder(vae, vocoders["griffinlim"], norm).save_pretrained(out / "final")
        for name, voc in vocoders.items():
            voc.save_pretrained(out / "vocoders" / name)
        report.folder = out.name
        stage.finish(asdict(report))
    final = Decoder.from_pretrained(out / "final")
    choice = out / f"vocoder_choice-{vocoder_cfg.eval_clips}.json"
    if not choice.exists():  # measured once per number of clips, then read
        require_selection_split(manifest.items(SELECTION_SPLIT), "the vocoder choice")
        _, valid_wavs = load_clips(manifest, SELECTION_SPLIT, frames, limit=vocoder_cfg.eval_clips)
        valid_mels = mels_of(valid_wavs)
        best, table = choose_vocoder(vocoders, valid_wavs, valid_mels)
        recon = float((final.decode(final.encode(valid_mels)) - valid_mels).abs().mean())
        atomic_write(choice, lambda p: p.write_text(json.dumps({"best": best, "table": table.to_dict("records"),
                                                                "vae_recon_l1": recon})))
    picked = json.loads(choice.read_text())
    report.vocoder_table, report.vae_recon_l1 = picked["table"], picked["vae_recon_l1"]
    report.chosen_vocoder = picked["best"] if vocoder_cfg.kind == "auto" else vocoder_cfg.kind
    dec = Decoder(final.vae, vocoders[report.chosen_vocoder], final.norm)
    return dec, report


def _train(vae_cfg: VAEConfig, vocoder_cfg: VocoderConfig, manifest: Manifest, frames: int, out: Path,
           seed: int, compute: ComputeConfig | None) -> tuple[DecoderReport, Any, MelNorm, dict[str, Vocoder]]:
    """Train (or load) the VAE and the vocoders on the training split."""
    report = DecoderReport()
    _, train_wavs = load_clips(manifest, "train", frames)
    train_mels = mels_of(train_wavs)
    if vae_cfg.pretrained:  # keeps the checkpoint's own scaling factor and normalisation
        vae, norm = load_vae(vae_cfg.pretrained), MelNorm.load(Path(vae_cfg.pretrained) / "vae")
    else:
        vae, norm, report.vae_history, report.vae_samples_per_s = train_vae(train_mels, vae_cfg, out / "vae_ckpt", seed,
                                                                                     compute=compute)
    vocoders = {"griffinlim": Vocoder("griffinlim", griffin_lim_iters=vocoder_cfg.griffin_lim_iters)}
    if vocoder_cfg.pretrained:
        vocoders["hifigan"] = Vocoder.from_pretrained(Path(vocoder_cfg.pretrained) / "vocoder")
    elif vocoder_cfg.kind != "griffinlim":
        model, report.vocoder_history, report.vocoder_samples_per_s = train_hifigan(
            train_wavs, train_mels, vocoder_cfg, out / "vocoder_ckpt", seed, compute=compute)
        vocoders["hifigan"] = Vocoder("hifigan", model, vocoder_cfg.griffin_lim_iters)
    return report, vae, norm, vocoders
