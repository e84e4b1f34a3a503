"""A profile's stages wired together: the one place that opens the profile and hands each stage its
own config section and the artifacts of the stages it reads.

Each stage is built (or loaded from its keyed artifact folder) on first use and kept for the session,
so a notebook that asks for the pipelines trains only what is missing, in order. With
``train_missing=False`` a missing stage raises at once, naming the notebook or command that builds it.
"""
from __future__ import annotations

import copy
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import replace
from functools import cached_property
from typing import Any, Mapping, Sequence

import torch
from diffusers import UNet2DConditionModel
from tqdm.auto import tqdm

from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.stage import AlignmentRun, load_or_train_alignment
from mmgen_core.artifacts import StageDir
from mmgen_core.checkpoints import saved_step
from mmgen_core.compute import ComputeConfig
from mmgen_core.config import Profile
from mmgen_core.data.config import DataConfig
from mmgen_core.data.folds import FoldSplit, group_key_of
from mmgen_core.data.fractions import check_fraction, subset_key, train_fraction
from mmgen_core.data.manifest import Manifest
from mmgen_core.data.stage import get_dataset
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.stage import DecoderReport, load_or_train_decoder
from mmgen_core.decoder.vae import VAEConfig
from mmgen_core.decoder.vocoder import VocoderConfig
from mmgen_core.diffusion.conditioning import ConditionData
from mmgen_core.diffusion.config import DiffusionConfig
from mmgen_core.diffusion.stage import CONDITION_FIELDS, load_or_build_conditions, load_or_train_unet, unet_stage
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import EvalSet, Harness, training_projection
from mmgen_core.pipeline.official import OfficialRelease
from mmgen_core.pipeline.pipeline import (
    GenerationConfig,
    MMGenPipeline,
    score_melodies,
)
from mmgen_core.retrieval.config import RetrievalConfig
from mmgen_core.retrieval.stage import DatabaseStage, load_or_build_database


class Stages:
    """The stages of one profile, built or loaded lazily and shared (``stages.decoder``, ``stages.unet(mode)``)."""

    def __init__(self, profile: Profile, *, train_missing: bool = True, progress: bool = True):
        self.profile, self.train_missing, self.progress = profile, train_missing, progress
        self.data_config: DataConfig = profile.section("data", DataConfig)
        self.alignment_config: AlignmentConfig = profile.section("alignment", AlignmentConfig)
        self.retrieval_config: RetrievalConfig = profile.section("retrieval", RetrievalConfig)
        self.vae_config: VAEConfig = profile.section("vae", VAEConfig)
        self.vocoder_config: VocoderConfig = profile.section("vocoder", VocoderConfig)
        self.diffusion_config: DiffusionConfig = profile.section("diffusion", DiffusionConfig)
        self.generation_config: GenerationConfig = profile.section("generation", GenerationConfig)
        self.compute_config: ComputeConfig = (profile.section("compute", ComputeConfig) if "compute" in profile.sections
                                              else ComputeConfig())
        self._runs: dict[tuple[str, int], AlignmentRun] = {}
        self._unets: dict[str, tuple[UNet2DConditionModel, dict]] = {}
        self.unet_seed = profile.seed  # the UNets' training seed (:meth:`with_unet_seed`)
        self._whole = self  # the stages on the whole dataset, whose decoder every fraction and fold shares

    @property
    def clip_seconds(self) -> float:
        return float(self.data_config.clip_seconds)

    @property
    def _where(self) -> dict[str, Any]:
        return {"artifacts": self.profile.artifacts, "seed": self.profile.seed}

    @cached_property
    def dataset(self) -> Manifest:
        """The profile's clips (notebook 02)."""
        return get_dataset(self.data_config, **self._where, progress=self.progress, build_missing=self.train_missing)

    def alignment(self, variant: str = "trimodal", seed: int | None = None) -> AlignmentRun:
        """One aligner variant (notebook 03); ``trimodal`` is the one generation uses. ``seed``: another training
        run of it (default: the profile's seed, the run everything downstream uses)."""
        seed = self.profile.seed if seed is None else seed
        if (variant, seed) not in self._runs:
            self._runs[variant, seed] = load_or_train_alignment(
                self.alignment_config, variant, self.dataset, self.clip_seconds, self.profile.artifacts, seed,
                train_missing=self.train_missing, progress=self.progress, compute=self.compute_config)
        return self._runs[variant, seed]

    @cached_property
    def database(self) -> DatabaseStage:
        """The melody database of the tri-modal aligner's train embeddings (notebook 04)."""
        return load_or_build_database(self.retrieval_config, self.alignment(), self.dataset, self.profile.artifacts,
                                      build_missing=self.train_missing, progress=self.progress)

    @cached_property
    def _decoder(self) -> tuple[Decoder, DecoderReport]:
        if self._whole is not self:  # a fraction or fold: the whole data's decoder, built on first use
            return self._whole._decoder
        return load_or_train_decoder(self.vae_config, self.vocoder_config, self.dataset, self.clip_seconds,
                                     **self._where, train_missing=self.train_missing, compute=self.compute_config)

    @property
    def decoder(self) -> Decoder:
        """VAE + vocoder (notebook 05)."""
        return self._decoder[0]

    @property
    def decoder_report(self) -> DecoderReport:
        """What building the decoder measured (losses, vocoder choice, reconstruction)."""
        return self._decoder[1]

    @cached_property
    def conditions(self) -> ConditionData:
        """The UNets' training conditions: latents, rolls and (q, r) rows of the training split (notebook 06)."""
        cfg = self.diffusion_config
        database = self.database if cfg.train_melody == "retrieved" else None
        return load_or_build_conditions(cfg, self.dataset, self.decoder, self.decoder_report, self.alignment(),
                                        database, self.clip_seconds, **self._where)

    def unet(self, mode: str, stop_at: int | None = None) -> tuple[UNet2DConditionModel, dict]:
        """One conditioning mode's UNet and its training report (notebook 06). ``stop_at``: the UNet after that
        many steps of its run (trained or resumed up to there, not kept: the quality-vs-training curve)."""
        if mode not in self._unets:
            cfg = self.diffusion_config
            database = self.database if cfg.train_melody == "retrieved" else None
            got = load_or_train_unet(
                cfg, mode, self.dataset, self.decoder, self.decoder_report, self.alignment(), database,
                self.clip_seconds, **self._where, train_missing=self.train_missing, stop_at=stop_at,
                compute=self.compute_config, train_seed=self.unet_seed, progress=self.progress)
            if stop_at is not None and stop_at < cfg.steps:
                return got
            self._unets[mode] = got
        return self._unets[mode]

    def unet_folder(self, mode: str) -> StageDir:
        """The artifact folder of one mode's UNet for these stages (nothing is built but what it is keyed on)."""
        database = self.database if self.diffusion_config.train_melody == "retrieved" else None
        return unet_stage(self.diffusion_config, mode, self.dataset, self.decoder_report, self.alignment(), database,
                          self.profile.artifacts, self.profile.seed, self.unet_seed)

    def train_unets(self, modes: Sequence[str], snapshots: Mapping[str, Sequence[int]] | None = None,
                    seeds: Sequence[int] | None = None) -> None:
        """Train the missing UNets of ``modes`` (for each training seed of ``seeds``, default these stages' own) at
        once, one spawned process each, the CPU's cores shared out among them (``compute.parallel_training``;
        one after the other on a GPU, on one core, for one UNet or a training fraction). ``snapshots``: steps at
        which a mode's run keeps ``unet-at-<step>/`` (the quality curve). Each run is the one :meth:`unet` would
        train, into the same folder; afterwards :meth:`unet` loads it."""
        snapshots = snapshots or {}
        runs = [(mode, st) for st in map(self.with_unet_seed, dict.fromkeys(seeds or [self.unet_seed]))
                for mode in dict.fromkeys(modes)]
        missing = [(mode, st) for mode, st in runs if not st.unet_folder(mode).done]
        cores = os.cpu_count() or 1
        if not missing:
            return
        if (len(missing) < 2 or cores < 2 or not self.compute_config.parallel_training
                or self.compute_config.resolve_device().type != "cpu" or subset_key(self.dataset)):
            for mode, st in missing:
                st._train_unet(mode, snapshots.get(mode, ()))
            return
        for mode, st in missing:
            st.unet_folder(mode).require(self.train_missing, f"trained {mode!r} UNet",
                                         "run notebook 06_diffusion (or `mmgen notebooks --only 06`)")
        self.conditions  # built once here; every process reads it
        n = min(len(missing), cores)
        threads = max(1, cores // n)
        folders = [st.unet_folder(mode).path / "ckpt" / "last" for mode, st in missing]
        total = self.diffusion_config.steps * len(missing)
        desc = f"{len(missing)} UNets, {n} at a time ({threads} thread{'s' * (threads > 1)} each)"
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool, \
                tqdm(total=total, desc=desc, disable=not self.progress) as bar:
            jobs = [pool.submit(_train_unet, self.profile, self.diffusion_config, st.unet_seed, mode,
                                snapshots.get(mode, ()), threads) for mode, st in missing]
            while not all(j.done() for j in jobs):
                wait(jobs, timeout=2.0)
                bar.update(sum(saved_step(f) for f in folders) - bar.n)
            for job in jobs:
                job.result()  # a failed run raises here, with its traceback
            bar.update(total - bar.n)

    def _train_unet(self, mode: str, snapshots: Sequence[int] = ()) -> None:
        """One mode's UNet run, keeping a snapshot at each step of ``snapshots`` on the way."""
        for at in sorted(snapshots):
            self.unet(mode, stop_at=at)
        self.unet(mode)

    def with_diffusion(self, **changes: Any) -> "Stages":
        """These stages with other ``diffusion`` settings (a training recipe): the dataset, decoder, aligner
        and database are shared; UNets (and, if their fields change, the training conditions) are not."""
        other = copy.copy(self)
        other.diffusion_config = replace(self.diffusion_config, **changes)
        other._unets = {}
        if any(getattr(other.diffusion_config, f) != getattr(self.diffusion_config, f) for f in CONDITION_FIELDS):
            other.__dict__.pop("conditions", None)
        return other

    def with_unet_seed(self, seed: int) -> "Stages":
        """These stages with UNets of another training seed (same data, decoder, aligner, database, conditions)."""
        other = copy.copy(self)
        other.unet_seed, other._unets = seed, {}
        return other

    def with_train_fraction(self, fraction: float, seed: int | None = None) -> "Stages":
        """These stages on a nested, seeded fraction of the training split (the small-data experiment,
        :func:`~mmgen_core.data.fractions.train_fraction`): the aligner, melody database, training conditions and
        UNets are trained on that fraction only, each in its own artifact folder (keyed by the fraction); the
        decoder is shared, as a pretrained VAE and vocoder would be, and validation and test clips are the same.
        Fraction 1 is these stages themselves (today's artifacts, keys unchanged)."""
        if check_fraction(fraction) == 1.0:
            return self
        return self._on(train_fraction(self.dataset, fraction, self.profile.seed if seed is None else seed))

    def with_fold(self, fold: int, folds: int) -> "Stages":
        """These stages on fold ``fold`` of a ``folds``-fold split of every clip (:class:`~mmgen_core.data.folds.
        FoldSplit`, seeded by the profile's seed, the dataset's groups kept whole): the alignment claim's k-fold
        runs. Stages trained on it have their own artifact folders; the decoder is shared."""
        return self._on(FoldSplit(self.dataset, fold, folds, self.profile.seed, group_key_of(self.dataset)))

    def with_captions(self, captions: str) -> "Stages":
        """These stages on the same clips captioned by ``captions`` (``data.captions``: detailed | sound): a dataset,
        aligner, melody database and UNets of its own (their artifacts keyed by it). Its UNet seed is the profile's."""
        if captions == self.data_config.captions:
            return self
        return Stages(self.profile.with_overrides({"data.captions": captions}), train_missing=self.train_missing,
                      progress=self.progress)

    def _on(self, manifest: Manifest) -> "Stages":
        """A copy of these stages on another view of the dataset, sharing the whole data's decoder."""
        other = copy.copy(self)
        other.__dict__["dataset"] = manifest
        for name in ("database", "conditions", "melody_notes"):
            other.__dict__.pop(name, None)
        other._runs, other._unets = {}, {}
        return other

    def prepare(self, mode: str | None = None) -> dict[str, float]:
        """Build (or load) everything one mode's pipeline needs, in order: dataset, decoder, aligner, melody
        database, UNet (default ``generation.mode``). Returns each part's wall-clock seconds (notebook 00)."""
        mode = mode or self.generation_config.mode
        parts = {"dataset": lambda: self.dataset, "decoder (VAE + vocoder)": lambda: self.decoder,
                 "aligner": self.alignment, "melody database": lambda: self.database,
                 f"UNet ({mode})": lambda: self.unet(mode)}
        seconds = {}
        for name, build in parts.items():
            t0 = time.perf_counter()
            build()
            seconds[name] = time.perf_counter() - t0
        return seconds

    @property
    def melody_db(self):
        """The database generation retrieves from (notebook 04)."""
        return self.database.db

    @cached_property
    def melody_notes(self) -> dict:
        """Each database clip's exact score notes by id: what a retrieved melody's roll is drawn from."""
        return score_melodies(self.database.db, self.dataset)

    def pipeline(self, mode: str | None = None, **generation: Any) -> MMGenPipeline:
        """The profile's pipeline for one mode (default ``generation.mode``); ``generation`` overrides settings.
        With ``generation.pretrained``: that saved pipeline, or the authors' release converted on the fly."""
        gcfg = replace(self.generation_config, **generation)
        if mode:
            gcfg = replace(gcfg, mode=mode)
        if gcfg.pretrained and OfficialRelease.holds(gcfg.pretrained):  # their UNet is mode mmgen: asked, not assumed
            return MMGenPipeline.from_official(gcfg.pretrained, self.profile, self.compute_config,
                                               **generation, **({"mode": mode} if mode else {}))
        if gcfg.pretrained:
            return MMGenPipeline.from_pretrained(gcfg.pretrained, compute=self.compute_config,
                                                 **{k: v for k, v in vars(gcfg).items() if k != "pretrained"})
        return self.pipeline_of(self.unet(gcfg.mode)[0], gcfg)

    def harness(self, items: Sequence, eval_cfg: EvaluationConfig, note_f1: bool = False,
                ruler: str = "trimodal") -> Harness:
        """The evaluation harness on ``items`` (docs/method.md §2.8): the aligner variant ``ruler`` (default the
        profile's, the one generation uses) scores text–audio fit,
        FAD∞ is computed in the projection fitted on its training audio, and every measured set is kept under
        ``<artifacts>/evaluations`` (keyed by what made it and by the ruler), so reruns measure only what is new."""
        folder = self.profile.artifacts / "evaluations"
        ruler = self.alignment(ruler)
        return Harness(EvalSet.from_items(self.dataset, items), eval_cfg, ruler.model,
                       training_projection(self.dataset, eval_cfg, folder, self.progress),
                       folder / ruler.folder.name, note_f1, self.progress)

    def pipeline_of(self, unet: UNet2DConditionModel, generation: GenerationConfig) -> MMGenPipeline:
        """A pipeline around a given UNet (of ``generation.mode``) with this profile's decoder, aligner and database."""
        return MMGenPipeline(unet, self.decoder, self.alignment().model, self.melody_db, self.diffusion_config, generation,
                             self.clip_seconds, self.compute_config, self.melody_notes)

    def pipelines(self, modes: Sequence[str] | None = None, **generation: Any) -> dict[str, MMGenPipeline]:
        """One pipeline per mode (default: ``diffusion.modes``), sharing decoder, aligner and database."""
        return {mode: self.pipeline(mode, **generation) for mode in modes or self.diffusion_config.modes}


def _train_unet(profile: Profile, diffusion: DiffusionConfig, seed: int, mode: str, snapshots: Sequence[int],
                threads: int) -> None:
    """One process of :meth:`Stages.train_unets`: the stages loaded from disk, one UNet trained (with snapshots)."""
    torch.set_num_threads(threads)
    stages = Stages(profile, progress=False).with_unet_seed(seed)
    stages.diffusion_config = diffusion
    stages._train_unet(mode, snapshots)
