"""Conditional latent diffusion (docs/method.md §2.4): a diffusers UNet with FiLM conditioning on [q, r].

Three conditioning modes share one code path:

* ``text`` — class label q (the caption's text embedding): the AudioLDM-style baseline;
* ``mmgen`` — class label [q, r], r the melody embedding (the paper);
* ``mmgen+roll`` — [q, r] plus the melody itself, time-aligned on the latent grid and fed to the
  UNet as extra input channels (ours), so the music can follow the melody's notes.

The condition enters as diffusers' AudioLDM does: ``class_embed_type="simple_projection"`` with
``class_embeddings_concat=True`` (a Linear of [q, r] concatenated to the time embedding = FiLM).
Classifier-free guidance drops q, r and the roll together (p = 0.1) and replaces them by one null
condition — zeros — used identically in training and sampling (the official code does not).

Which melody conditions training: the official code queries its melody database with the CLMP
*audio* embedding of the training clip and uses the top-1 retrieved melody (re-reading the index
every batch); its query at inference is the text. Our default (``train_query: text``,
``train_melody: own``) trains on the caption's text embedding and the clip's own melody embedding,
which is what the roll must match anyway; ``train_query: audio`` + ``train_melody: retrieved`` is
the official recipe (``paper`` profile)."""
from __future__ import annotations

import json
from pathlib import Path

from diffusers import (
    UNet2DConditionModel,
)

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.decoder.stage import decoder_dir
from mmgen_core.diffusion.conditioning import ConditionData, build_condition_data
from mmgen_core.diffusion.config import DiffusionConfig, check_mode
from mmgen_core.diffusion.train import train_unet
from mmgen_core.diffusion.unet import load_unet

FORMAT = 1  # bump when saved diffusion artifacts change meaning (it is part of the artifact key)


def diffusion_config(profile) -> DiffusionConfig:
    return profile.section("diffusion", DiffusionConfig)


def diffusion_dir(profile, manifest) -> Path:
    """Artifacts of the diffusion stage, keyed by dataset, decoder, alignment and diffusion configs."""
    return profile.stage_dir("diffusion", Path(manifest.root).name, decoder_dir(profile, manifest).name,
                             profile.section("alignment"), diffusion_config(profile), profile.seed, FORMAT)


def load_or_train_unet(profile, mode: str, decoder, embedder, manifest, *, db=None,
                       train_missing: bool = True, stop_at: int | None = None) -> tuple[UNet2DConditionModel, dict]:
    """One mode's UNet from the profile's artifacts, trained now (and saved) when missing.

    Returns the UNet (EMA weights) and its report: loss history and training samples/s.
    """
    cfg = diffusion_config(profile)
    out = diffusion_dir(profile, manifest)
    final = out / check_mode(mode).replace("+", "_")
    if (final / "report.json").exists():
        return load_unet(final), json.loads((final / "report.json").read_text())
    if not train_missing:
        raise CheckpointError(f"{final}: no trained {mode!r} UNet for profile {profile.name!r}; run notebook "
                              "06_diffusion (or `mmgen notebooks --only 06`) first")
    data_path = out / "conditions.safetensors"
    if data_path.exists():
        data = ConditionData.load(data_path)
    else:
        data = build_condition_data(cfg, decoder, embedder, manifest, float(profile.section("data")["clip_seconds"]), db)
        data.save(data_path)
    unet, history, sps = train_unet(data, cfg, mode, out / f"ckpt_{final.name}", profile.seed, stop_at)
    report = {"mode": mode, "history": history, "samples_per_s": sps, "steps": cfg.steps}
    if stop_at is None or stop_at >= cfg.steps:
        unet.save_pretrained(final / "unet")
        (final / "report.json").write_text(json.dumps(report))
    return unet, report
