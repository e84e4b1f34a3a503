"""The paper's tables and claims, computed end to end (notebook 08).

Table 1 generates music for every held-out caption with every system — the text-only baseline, MMGen,
MMGen+roll, and both with the *oracle* melody (the target clip's own, from the training token source: its Basic
Pitch tokens embed r, its exact notes draw the roll) — for every UNet training seed and sampling seed, and
scores each clip against its real clip. Set distances (FAD∞, KID; FAD at the stated N, KL, IS per set) and
per-clip measures (text–audio score, chroma to the target melody and to the conditioning melody, Basic Pitch
note F1, embedding distance to the reference clip, harmonic richness) get 95% intervals from one bootstrap over
clips and training seeds (:mod:`.evidence`). The decoder ceiling resynthesises the real clips. The paper's own
numbers are kept apart and labelled as theirs."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.data.manifest import item_notes, melody_text
from mmgen_core.evaluation.audio_metrics import kl_divergence
from mmgen_core.evaluation.evaluate import EvaluationConfig, class_distribution, clip_features, set_scores
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.evaluation.signal_metrics import harmonic_richness
from mmgen_core.melody.extract import default_extractor
from mmgen_core.melody.notes import Note, note_scores
from mmgen_core.reproduction.evidence import SET_METRICS, Bootstrap, Measured, bootstrap
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
CLIP_METRICS = ("kl", "text_audio", "emb_dist", "chroma_target", "chroma_cond", "note_f1_cond", "richness")
METRICS = SET_METRICS + CLIP_METRICS  # with a bootstrap interval
SET_ONLY = ("fad", "is")  # per set (one training × sampling seed): mean ± sd over sets
LOWER_IS_BETTER = {"fad_inf": True, "kid": True, "fad": True, "kl": True, "emb_dist": True}


@dataclass
class ResultsConfig:
    """Profile section ``results``: which clips and seeds the tables are computed on, and how they sample."""
    n_clips: int = 0  # held-out clips per system and seed (0 = the whole test split)
    seeds: list[int] = field(default_factory=lambda: [0, 1])  # sampling seeds
    unet_seeds: list[int] = field(default_factory=lambda: [0])  # UNet training seeds (the profile's seed is built)
    aligner_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # training seeds of the Table 2 aligners
    bootstrap: int = 200  # resamples of clips and training seeds for every interval
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
        if self.bootstrap < 2:
            raise ValueError(f"results.bootstrap must be >= 2 resamples, got {self.bootstrap}")

    def label(self) -> str:
        """The sampling of the tables, e.g. ``ddim-10, clip x0 6``."""
        return f"{self.sampler}-{self.steps}" + (f", clip x0 {self.clip_x0:g}" if self.clip_x0 else "")


def scope_note(cfg: ResultsConfig) -> str:
    """What the intervals cover, said plainly: a single UNet per system, a single sampling seed or a single aligner
    per model leaves that source of spread out of them."""
    t, k, a = len(cfg.unet_seeds), len(cfg.seeds), len(cfg.aligner_seeds)
    sampling = f"{k} sampling seeds" if k > 1 else "ONE sampling seed"
    if t == 1:
        text = (f"Generation intervals cover test clips and {sampling} but NOT UNet training seeds (one trained UNet "
                "per system here): how far a retrained UNet moves is not in them.")
    else:
        text = f"Generation intervals cover test clips, {sampling} and {t} UNet training seeds."
    text += (f" Alignment intervals cover test clips and {a} aligner training seeds per model." if a > 1 else
             " Alignment intervals cover test clips but NOT aligner training seeds (one aligner per model here).")
    if t == 1 or k == 1 or a == 1:
        text += (" The seeded run (`make evidence`) trains 3 UNets per system and 3 aligners per model and samples "
                 "2 seeds of each.")
    return text


def eval_items(manifest, cfg: ResultsConfig) -> list:
    """The held-out clips Table 1 is computed on (the test split, or a fixed prefix of it)."""
    items = manifest.items("test")
    return items[:cfg.n_clips] if cfg.n_clips else items


@dataclass
class Table1Run:
    """Everything Table 1 measured: one row per generated set (``sets``), one per generated clip (``clips``),
    the per-clip measurements of each system and their bootstrap."""
    sets: pd.DataFrame
    clips: pd.DataFrame
    measured: dict[str, Measured]
    boot: Bootstrap


def clip_values(wavs: Sequence[np.ndarray], feats, ref_feats, captions: Sequence[str],
                target_melodies: Sequence[Sequence[Note]], cond_melodies: Sequence[Sequence[Note]] | None,
                embedder, eval_cfg: EvaluationConfig) -> dict[str, np.ndarray]:
    """Per-clip measures of clips made for their captions (clip i for caption i, reference clip i)."""
    with torch.no_grad():
        a = embedder.embed_audio(list(wavs)).float()
        t = embedder.embed_text(list(captions)).float()
    p_gen = class_distribution(feats[1], eval_cfg.class_distribution)
    p_ref = class_distribution(ref_feats[1], eval_cfg.class_distribution)
    out = {"kl": np.array([kl_divergence(p_gen[i:i + 1], p_ref[i:i + 1]) for i in range(len(wavs))]),
           "text_audio": (a * t).sum(-1).numpy(),
           "emb_dist": np.array([np.linalg.norm(g.mean(0) - r.mean(0)) for g, r in zip(feats[0].frames,
                                                                                      ref_feats[0].frames)]),
           "chroma_target": np.array([chroma_similarity(w, m) for w, m in zip(wavs, target_melodies)]),
           "richness": np.array([harmonic_richness(w) for w in wavs])}
    if cond_melodies is None:
        out["chroma_cond"] = out["note_f1_cond"] = np.full(len(wavs), np.nan)
    else:
        out["chroma_cond"] = np.array([chroma_similarity(w, m) for w, m in zip(wavs, cond_melodies)])
        heard = default_extractor().notes(list(wavs))
        out["note_f1_cond"] = np.array([note_scores(m, h)[2] for m, h in zip(cond_melodies, heard)])
    return out


def table1_runs(stages: Stages, cfg: ResultsConfig, eval_cfg: EvaluationConfig, progress: bool = True) -> Table1Run:
    """Generate every test caption with every system, UNet training seed and sampling seed; measure each set and
    each clip; bootstrap every metric over clips and training seeds. The decoder ceiling once (no seed)."""
    manifest = stages.dataset
    items = eval_items(manifest, cfg)
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    targets = [item_notes(manifest, it) for it in items]
    oracle_tokens = [melody_text(it) for it in items]  # r from the clip's Basic Pitch tokens, as in training
    ref_feats = clip_features(refs, eval_cfg)
    embedder = stages.alignment().model
    set_rows, clip_rows = [], []
    per_seed: dict[tuple[str, int], list[tuple[list[np.ndarray], dict[str, np.ndarray]]]] = {}

    def record(system: str, ti: int, t: float, k: float, wavs: Sequence[np.ndarray],
               cond: Sequence[Sequence[Note]] | None) -> None:
        feats = clip_features(list(wavs), eval_cfg)
        scores = set_scores(feats, ref_feats, replace(eval_cfg, bootstrap=0))  # intervals: one bootstrap below
        set_rows.append({"system": system, "train_seed": t, "seed": k, **{m: scores[m] for m in SET_ONLY},
                         "fad_inf": scores.get("fad_inf", np.nan), "kid": scores["kid"], "kl": scores["kl"]})
        vals = clip_values(wavs, feats, ref_feats, captions, targets, cond, embedder, eval_cfg)
        clip_rows.extend({"system": system, "train_seed": t, "seed": k, "clip": it.id,
                          **{m: float(v[i]) for m, v in vals.items()}} for i, it in enumerate(items))
        per_seed.setdefault((system, ti), []).append((list(feats[0].frames), vals))

    modes = sorted({m for m, _ in SYSTEMS.values()})
    jobs = [(ti, t, s, k) for ti, t in enumerate(cfg.unet_seeds) for s in cfg.systems for k in cfg.seeds]
    stages.train_unets(modes, seeds=cfg.unet_seeds)  # the missing training seeds' UNets, side by side on a CPU
    pipes: dict[int, dict] = {}
    for ti, t, system, k in tqdm(jobs, desc="Table 1", disable=not progress):
        if t not in pipes:
            pipes.clear()  # one training seed's UNets in memory at a time
            pipes[t] = stages.with_unet_seed(t).pipelines(modes)
        mode, source = SYSTEMS[system]
        oracle = source == "oracle"
        gen = pipes[t][mode](captions, melody=targets if oracle else None,
                             melody_tokens=oracle_tokens if oracle else None, seed=k, sampler=cfg.sampler,
                             steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=cfg.candidates, progress=False)
        record(system, ti, t, k, list(gen.waveforms), None if source is None else gen.melodies)
    ceiling = stages.decoder.resynthesize(torch.from_numpy(np.stack(refs))).numpy()
    record(CEILING, 0, np.nan, np.nan, list(ceiling), targets)
    measured = {}
    for system in dict.fromkeys(s for s, _ in per_seed):
        runs = [per_seed[system, ti] for ti in range(len(cfg.unet_seeds)) if (system, ti) in per_seed]
        measured[system] = Measured({m: np.array([[v[m] for _, v in r] for r in runs]) for m in CLIP_METRICS},
                                    [[f for f, _ in r] for r in runs])
    boot = bootstrap(measured, list(ref_feats[0].frames), METRICS, cfg.bootstrap, eval_cfg.seed,
                     eval_cfg.confidence, progress)
    return Table1Run(pd.DataFrame(set_rows), pd.DataFrame(clip_rows), measured, boot)


def intervals(run: Table1Run) -> pd.DataFrame:
    """Long table: one row per (system, metric) with the estimate, its 95% interval and what it was measured over."""
    rows = []
    for (system, metric) in run.boot.point:
        est, low, high = run.boot.interval(system, metric)
        rows.append({"system": system, "metric": metric, "estimate": est, "low": low, "high": high,
                     "n": run.boot.n[system]})
    return pd.DataFrame(rows)


def summarize(run: Table1Run) -> pd.DataFrame:
    """Table 1: per system, every bootstrapped metric as ``estimate [low, high]`` and the per-set metrics (FAD at
    the stated N, IS) as ``mean ± sd`` over the generated sets."""
    order = list(dict.fromkeys(run.sets["system"]))
    out = pd.DataFrame({"system": order, "n": [run.boot.n[s] for s in order]})
    for m in METRICS:
        cells = []
        for s in order:
            est, low, high = run.boot.interval(s, m) if (s, m) in run.boot.point else (np.nan,) * 3
            cells.append("n/a" if not np.isfinite(est) else f"{est:.3f} [{low:.3f}, {high:.3f}]")
        out[m] = cells
    g = run.sets.groupby("system", sort=False)[list(SET_ONLY)]
    mean, sd = g.mean().reindex(order), g.std(ddof=1).reindex(order)
    for m in SET_ONLY:
        out[m] = [f"{a:.3f}" if np.isnan(b) else f"{a:.3f} ± {b:.3f}" for a, b in zip(mean[m], sd[m])]
    return out
