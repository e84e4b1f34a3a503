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

Which melody conditions training: the official code picks q per batch, the caption's text embedding
with probability Φ(0.5) ≈ 0.69 (``torch.randn(1) < 0.5``) and else the clip's CLMP *audio* embedding,
and uses the top-1 melody retrieved with q (re-reading the index every batch); its query at inference
is the text. Our default (``train_query: text``, ``train_melody: own``) trains on the caption's text
embedding and the clip's own melody embedding, which is what the roll must match anyway;
``train_query: mix`` + ``train_melody: retrieved`` is the official recipe (``train_query: audio``, the
``paper`` profile's, its audio batches alone)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import (
    UNet2DConditionModel,
)

from mmgen_core.alignment.stage import AlignmentRun
from mmgen_core.artifacts import StageDir, keyed_fields, stage_dir
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.compute import FP32_EAGER, ComputeConfig
from mmgen_core.data.fractions import subset_key
from mmgen_core.data.manifest import Manifest
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.stage import DecoderReport
from mmgen_core.diffusion.conditioning import ConditionData, build_condition_data
from mmgen_core.diffusion.config import DiffusionConfig, check_mode
from mmgen_core.diffusion.train import train_unet
from mmgen_core.diffusion.unet import load_unet
from mmgen_core.retrieval.stage import DatabaseStage

REPORT = "report.json"  # a snapshot's training report
FORMAT = 1  # bump when saved diffusion artifacts change meaning (it is part of the artifact key)


CONDITION_FIELDS = ("roll", "embed_dim", "train_query", "train_melody")  # what the training conditions depend on


def conditions_dir(cfg: DiffusionConfig, manifest: Manifest, decoder_folder: str, alignment_folder: Path,
                   database_folder: Path | None, artifacts: Path, seed: int) -> StageDir:
    """The training conditions' folder: latents, rolls and (q, r) rows, keyed by what makes them and the stages
    they read (the melody database only when r is retrieved, as in the authors' recipe)."""
    upstream = [manifest.root, decoder_folder, alignment_folder] + ([database_folder] if database_folder else [])
    return stage_dir(artifacts, "conditions", {k: getattr(cfg, k) for k in CONDITION_FIELDS}, upstream=upstream,
                     seed=seed, format=FORMAT, **subset_key(manifest))  # a training fraction: its own rows


def unet_dir(cfg: DiffusionConfig, mode: str, conditions: StageDir, artifacts: Path, seed: int) -> StageDir:
    """One mode's UNet folder: keyed by the diffusion config (less the mode list and checkpoint cadence, and
    ``text_query_prob`` unless ``train_query`` is mix and the log-normal's parameters unless noise levels are
    log-normal, so runs that never draw them keep their folders), the mode and the conditions it trains on."""
    key = keyed_fields(cfg)
    if cfg.train_query != "mix":
        del key["text_query_prob"]
    if cfg.noise_levels != "log_normal":
        del key["log_sigma_mean"], key["log_sigma_std"]
    return stage_dir(artifacts, "unet-" + check_mode(mode).replace("+", "_"), key, upstream=[conditions],
                     seed=seed, format=FORMAT)


def unet_stage(cfg: DiffusionConfig, mode: str, manifest: Manifest, decoder_report: DecoderReport, run: AlignmentRun,
               database: DatabaseStage | None, artifacts: Path, seed: int = 0,
               train_seed: int | None = None) -> StageDir:
    """The folder :func:`load_or_train_unet` trains one mode's UNet into (nothing is built)."""
    cond = conditions_dir(cfg, manifest, decoder_report.folder, run.folder, database.folder if database else None,
                          artifacts, seed)
    return unet_dir(cfg, mode, cond, artifacts, seed if train_seed is None else train_seed)


def load_or_build_conditions(cfg: DiffusionConfig, manifest: Manifest, decoder: Decoder,
                             decoder_report: DecoderReport, run: AlignmentRun, database: DatabaseStage | None,
                             clip_seconds: float, artifacts: Path, seed: int = 0) -> ConditionData:
    """The training split's latents, rolls and (q, r) rows, encoded once and then read from disk."""
    if cfg.train_melody == "retrieved" and database is None:
        raise ValueError("diffusion.train_melody='retrieved' needs the melody database (database=...)")
    cond = conditions_dir(cfg, manifest, decoder_report.folder, run.folder, database.folder if database else None,
                          artifacts, seed)
    data_path = cond.path / "conditions.safetensors"
    if cond.done:
        return ConditionData.load(data_path)
    data = build_condition_data(cfg, decoder, run.model, manifest, clip_seconds, database.db if database else None)
    data.save(data_path)
    cond.finish({"rows": len(data.item), "clips": len(data.latents)})
    return data


def load_or_train_unet(cfg: DiffusionConfig, mode: str, manifest: Manifest, decoder: Decoder,
                       decoder_report: DecoderReport, run: AlignmentRun, database: DatabaseStage | None,
                       clip_seconds: float, artifacts: Path, seed: int = 0, *, train_missing: bool = True,
                       stop_at: int | None = None, compute: ComputeConfig | None = None,
                       train_seed: int | None = None, progress: bool = True) -> tuple[UNet2DConditionModel, dict]:
    """One mode's UNet, trained now (and saved) when missing; returns it (EMA weights) and its report
    (loss history, training samples/s, training seconds).

    ``stop_at`` < ``cfg.steps``: the UNet after that many steps of the same run, trained (or resumed) up to
    there and kept as a snapshot ``unet-at-<step>/`` beside the run, so a quality-vs-training curve can be
    read again; a later call resumes the run from there. ``train_seed`` (default ``seed``): another training
    run of the same UNet on the same conditions (initialisation, batches, noise), its own artifact."""
    train_seed = seed if train_seed is None else train_seed
    stage = unet_stage(cfg, mode, manifest, decoder_report, run, database, artifacts, seed, train_seed)
    partial = stop_at is not None and stop_at < cfg.steps
    where = stage.path / f"unet-at-{stop_at}" if partial else stage.path
    if (where / "unet" / "config.json").exists() and (stage.done or partial):
        return load_unet(where), json.loads((where / REPORT).read_text()) if partial else stage.info()
    if partial and stage.done:
        raise CheckpointError(f"{stage.path}: the run is complete and kept no snapshot at step {stop_at}; "
                              f"delete the folder to retrain it with snapshots")
    stage.require(train_missing, f"trained {mode!r} UNet", "run notebook 06_diffusion (or `mmgen notebooks --only 06`)")
    data = load_or_build_conditions(cfg, manifest, decoder, decoder_report, run, database, clip_seconds, artifacts,
                                    seed)
    unet, history, sps = train_unet(data, cfg, mode, stage.path / "ckpt", train_seed, stop_at, compute, progress)
    steps = min(cfg.steps, stop_at or cfg.steps)
    report = {"mode": mode, "history": history, "samples_per_s": sps, "steps": steps,
              "train_seconds": steps * cfg.batch_size / sps,
              "compute": (compute or FP32_EAGER).for_part("unet").label(unet.device),
              "threads": torch.get_num_threads() if unet.device.type == "cpu" else None}
    unet.save_pretrained(where / "unet")
    if partial:
        (where / REPORT).write_text(json.dumps(report, indent=1))
    else:
        stage.finish(report)
    return unet, report
