"""The paper's tables and claims, computed end to end (notebook 08).

Table 1 generates music for every held-out caption with every system — the text-only baseline, MMGen,
MMGen+roll, and both with the *oracle* melody (the target clip's own, from the training token source: its Basic
Pitch tokens embed r, its exact notes draw the roll) — for every UNet training seed and sampling seed, and
measures each set with the evaluation harness (:mod:`mmgen_core.evaluation.harness`): set distances (FAD∞ both
sides extrapolated, KID) and per-clip measures (text–audio score, chroma to the target melody and to the
conditioning melody, Basic Pitch note F1, embedding distance to the reference clip, harmonic richness), each with
its interval at the level of the training run (docs/method.md §2.8). The decoder ceiling resynthesises the real
clips. With ``results.max_unet_seeds`` the generation claim adds training seeds until its outcome is not
inconclusive. The paper's own numbers are kept apart and labelled as theirs."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from mmgen_core.data.manifest import melody_text
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import SET_DIAGNOSTICS, Margins, Measurements
from mmgen_core.evaluation.intervals import Effect, sequential_confidence
from mmgen_core.reproduction.claims import GENERATION_CLAIM, _row
from mmgen_core.stages import Stages

# system → (UNet conditioning mode, where its melody comes from)
SYSTEMS: dict[str, tuple[str, str | None]] = {
    "text only (AudioLDM-style)": ("text", None),
    "MMGen": ("mmgen", "retrieved"),
    "MMGen+roll (ours)": ("mmgen+roll", "retrieved"),
    "MMGen, oracle melody": ("mmgen", "oracle"),
    "MMGen+roll, oracle melody": ("mmgen+roll", "oracle"),
}


CEILING = "decoder ceiling (real clips → VAE → vocoder)"
METRICS = ("fad_inf", "kid", "kl", "text_audio", "emb_dist", "chroma_target", "chroma_cond", "note_f1_cond", "richness")
BASELINE, MMGEN = "text only (AudioLDM-style)", "MMGen"
SUPPORT = ("kid", "text_audio", "emb_dist")  # exploratory effects beside the claim's FAD∞ effect, without an outcome


@dataclass
class ResultsConfig:
    """Profile section ``results``: which clips and seeds the tables are computed on, and how they sample."""
    n_clips: int = 0  # held-out clips per system and seed (0 = the whole test split)
    seeds: list[int] = field(default_factory=lambda: [0, 1])  # sampling seeds
    unet_seeds: list[int] = field(default_factory=lambda: [0])  # UNet training seeds (the profile's seed is built)
    aligner_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # training seeds of the Table 2 aligners
    aligner_folds: int = 0  # the alignment claim k-fold over every clip (k ≥ 2), or on the test split (0)
    max_unet_seeds: int = 0  # sequential: add UNet training seeds until the generation claim decides, up to this many
    sampler: str = "dpm"
    steps: int = 20
    clip_x0: float = 0.0  # as generation.clip_x0: the predicted clean latent kept within ±clip_x0 (0 = off)
    candidates: int = 1
    oracle: bool = True  # also generate with the oracle melody (the target clip's own): two more systems

    @property
    def systems(self) -> list[str]:
        """The systems Table 1 generates (:data:`SYSTEMS`, without the oracle ones when ``oracle`` is off)."""
        return [s for s, (_, source) in SYSTEMS.items() if self.oracle or source != "oracle"]

    def __post_init__(self) -> None:
        if not self.seeds or not self.unet_seeds or not self.aligner_seeds:
            raise ValueError("results: seeds, unet_seeds and aligner_seeds each need at least one seed")
        if self.aligner_folds == 1 or self.aligner_folds < 0:
            raise ValueError(f"results.aligner_folds must be 0 (the dataset's test split) or k ≥ 2, not "
                             f"{self.aligner_folds}")
        if self.max_unet_seeds and self.max_unet_seeds < len(self.unet_seeds):
            raise ValueError(f"results.max_unet_seeds ({self.max_unet_seeds}) is below the {len(self.unet_seeds)} "
                             "unet_seeds it starts from; set it to 0 (no sequential seeds) or more")

    @property
    def looks(self) -> int:
        """How many times the generation claim may be looked at: once per training-seed count tried."""
        return max(1, self.max_unet_seeds - len(self.unet_seeds) + 1)

    def label(self) -> str:
        """The sampling of the tables, e.g. ``ddim-10, clip x0 6``."""
        return f"{self.sampler}-{self.steps}" + (f", clip x0 {self.clip_x0:g}" if self.clip_x0 else "")


def scope_note(cfg: ResultsConfig) -> str:
    """What the intervals cover, said plainly: one UNet per system or one aligner per model leaves the spread between
    training runs out of them, and their claims inconclusive by the rule."""
    t, k, a = len(cfg.unet_seeds), len(cfg.seeds), len(cfg.aligner_seeds)
    sampling = f"{k} sampling seeds" if k > 1 else "ONE sampling seed"
    if t == 1:
        text = (f"Generation intervals cover test clips and {sampling} but NOT UNet training seeds (one trained UNet "
                "per system here): how far a retrained UNet moves is not in them, so the generation claim stays "
                "inconclusive.")
    else:
        text = f"Generation intervals cover test clips, {sampling} and {t} UNet training seeds (paired by seed)."
    if cfg.max_unet_seeds > t:
        text += (f" Sequential: training seeds are added one at a time up to {cfg.max_unet_seeds} until the generation "
                 f"claim is not inconclusive; each look at {sequential_confidence(0.95, cfg.looks):.2%} confidence.")
    clips = f"all clips ({cfg.aligner_folds}-fold)" if cfg.aligner_folds else "test clips"
    text += (f" Alignment intervals cover {clips} and {a} aligner training seeds per model." if a > 1 else
             f" Alignment intervals cover {clips} but NOT aligner training seeds (one aligner per model here).")
    if t == 1 or a == 1:
        text += " `make evidence` trains several UNets per system and aligners per model."
    return text


def eval_items(manifest, cfg: ResultsConfig) -> list:
    """The held-out clips Table 1 is computed on (the test split, or a fixed prefix of it)."""
    items = manifest.items("test")
    return items[:cfg.n_clips] if cfg.n_clips else items


@dataclass
class Table1Run:
    """Everything Table 1 measured (the harness's sets), the UNet training seeds it ended with and the confidence of
    the generation claim's interval (below 95% of error when seeds were added sequentially)."""
    harness: Measurements
    unet_seeds: list[int]
    claim_confidence: float

    @property
    def sets(self) -> pd.DataFrame:
        """One row per generated set (system, training seed, sampling seed)."""
        return self.harness.runs_table()

    @property
    def clips(self) -> pd.DataFrame:
        """One row per generated clip."""
        return self.harness.clips_table()


def generation_effects(run: Table1Run, margins: Margins, better: str = MMGEN, worse: str = BASELINE) -> list[Effect]:
    """The generation claim's effect, FAD∞ (margin: a fraction of the baseline's FAD∞), then the exploratory
    KID, text–audio and embedding-distance effects; each positive when ``better`` is better, paired by training
    seed."""
    h = run.harness
    base = h.interval(worse, "fad_inf").estimate
    head = h.effect(better, worse, "fad_inf", margins.of("fad_inf", base), confidence=run.claim_confidence)
    return [head, *(h.effect(better, worse, m) for m in SUPPORT)]


def table1_runs(stages: Stages, cfg: ResultsConfig, eval_cfg: EvaluationConfig, margins: Margins,
                systems: Sequence[str] | None = None) -> Table1Run:
    """Generate every test caption with every system (``systems``: a part of ``cfg.systems``), UNet training seed
    and sampling seed and measure each set through the harness (cached: a rerun generates only what is new); with
    ``results.max_unet_seeds``, add one training seed at a time while the generation claim is inconclusive. The
    decoder ceiling once (no seed)."""
    systems = list(cfg.systems if systems is None else systems)
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise ValueError(f"unknown Table 1 systems {unknown}; choose among {list(SYSTEMS)}")
    items = eval_items(stages.dataset, cfg)
    h = stages.harness(items, eval_cfg, note_f1=True)
    ev = h.evalset
    oracle_tokens = [melody_text(it) for it in items]  # r from the clip's Basic Pitch tokens, as in training
    modes = sorted({SYSTEMS[s][0] for s in systems})
    sampling = json.dumps([cfg.label(), cfg.candidates, dataclasses.asdict(stages.generation_config)], default=str)
    pipes: dict[int, dict] = {}

    def key(system: str, t: int, k: int) -> str:
        if system == CEILING:
            return json.dumps(["ceiling", dataclasses.asdict(stages.vae_config),
                               dataclasses.asdict(stages.vocoder_config)], default=str)
        mode, source = SYSTEMS[system]
        return json.dumps([stages.with_unet_seed(t).unet_folder(mode).name, source, k, sampling])

    def generate(system: str, t: int, k: int):
        if system == CEILING:
            return list(stages.decoder.resynthesize(torch.from_numpy(np.stack(ev.refs))).numpy()), ev.melodies
        if t not in pipes:
            pipes.clear()  # one training seed's UNets in memory at a time
            pipes[t] = stages.with_unet_seed(t).pipelines(modes)
        mode, source = SYSTEMS[system]
        oracle = source == "oracle"
        gen = pipes[t][mode](ev.captions, melody=ev.melodies if oracle else None,
                             melody_tokens=oracle_tokens if oracle else None, seed=k, sampler=cfg.sampler,
                             steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=cfg.candidates, progress=False)
        return list(gen.waveforms), None if source is None else gen.melodies

    seeds = list(cfg.unet_seeds)
    confidence = sequential_confidence(eval_cfg.confidence, cfg.looks)
    while True:
        stages.train_unets(modes, seeds=seeds)  # the missing training seeds' UNets, side by side on a CPU
        h.collect([(s, t, k) for t in seeds for s in systems for k in cfg.seeds], key, generate, "Table 1")
        run = Table1Run(h, list(seeds), confidence)
        if len(seeds) >= max(cfg.max_unet_seeds, len(cfg.unet_seeds)) or \
                generation_effects(run, margins)[0].verdict != "inconclusive":
            break
        seeds.append(max(seeds) + 1)
    h.collect([(CEILING, 0, 0)], key, generate, "decoder ceiling")
    return run


def caption_set_claim(stages: Stages, captions: str, cfg: ResultsConfig, eval_cfg: EvaluationConfig,
                      margins: Margins, unet_seeds: Sequence[int]) -> dict:
    """The generation claim measured again on the same clips under another caption set (``data.captions``, e.g.
    MusicCaps-like ``sound`` captions that rarely name the key, where a melody could add what the text leaves out):
    text-only vs MMGen on every test caption, UNet training seeds ``unet_seeds``, Table 1's sampling; a claims row of
    its own, by the same rule and margin (docs/method.md §2.9)."""
    on = stages.with_captions(captions)
    run = table1_runs(on, dataclasses.replace(cfg, unet_seeds=list(unet_seeds), max_unet_seeds=0), eval_cfg, margins,
                      systems=[BASELINE, MMGEN])
    return _row(caption_claim(captions), generation_effects(run, margins),
                f"the same test clips under {captions} captions (data.captions: {captions}): dataset captions, "
                f"aligner, melody database and UNets of their own; {cfg.label()} sampling (notebook 09)")


def caption_claim(captions: str) -> str:
    """The generation claim's name under another caption set."""
    return f"{GENERATION_CLAIM} [{captions} captions]"


def intervals(run: Table1Run) -> pd.DataFrame:
    """Long table: one row per (system, metric) with the estimate, its 95% interval, training runs and n."""
    return run.harness.intervals(METRICS)


def summarize(run: Table1Run) -> pd.DataFrame:
    """Table 1: per system, every metric as ``estimate [low, high]`` (interval over training runs and clips) and the
    per-set diagnostics (FAD at the stated N, one-sided FAD∞ in the backbone's full dimension, IS) as
    ``mean ± sd`` over the generated sets."""
    h = run.harness
    order = h.systems()
    out = pd.DataFrame({"system": order, "n": [h.describe(s) for s in order]})
    for m in METRICS:
        cells = []
        for s in order:
            e = h.interval(s, m)
            cells.append("n/a" if not np.isfinite(e.estimate) else f"{e.estimate:.3f} [{e.low:.3f}, {e.high:.3f}]")
        out[m] = cells
    g = run.sets.groupby("system", sort=False)[list(SET_DIAGNOSTICS)]
    mean, sd = g.mean().reindex(order), g.std(ddof=1).reindex(order)
    for m in SET_DIAGNOSTICS:
        out[m] = [f"{a:.3f}" if np.isnan(b) else f"{a:.3f} ± {b:.3f}" for a, b in zip(mean[m], sd[m])]
    return out
