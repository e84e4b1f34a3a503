"""One evaluation harness (docs/method.md §2.8): an evaluation set × systems × training seeds × sampling seeds →
per-clip measurements (cached on disk, resumable) → effects with intervals at the level of the training run →
outcomes by the one rule of :mod:`.intervals`.

Every generated set is measured the same way (:meth:`Harness.measure`): per clip, the measures of
:data:`METRICS` marked per-clip (text–audio score, chroma, KL, …); per set, the set distances to the references
(FAD∞ both sides extrapolated in the evaluation projection, KID), each with its delete-one-clip values, so that
every number's interval comes from :func:`~.intervals.run_level_interval`. Table 1, Table 2's effect, the claims
experiments and the quality study all go through it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmgen_core.artifacts import atomic_write
from mmgen_core.audio.io import fit_length, load_audio
from mmgen_core.data.manifest import item_notes
from mmgen_core.evaluation.audio_metrics import (
    clip_orders,
    fad,
    fad_inf,
    fad_inf_paired,
    inception_score,
    kid_leave_one_out,
    kl_divergence,
)
from mmgen_core.evaluation.evaluate import EvaluationConfig, class_distribution, clip_features
from mmgen_core.evaluation.intervals import Effect, jackknife_variance, leave_one_out, run_level_interval
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.evaluation.signal_metrics import end_click, harmonic_richness, loudness_db
from mmgen_core.melody.extract import default_extractor
from mmgen_core.melody.notes import Note, note_scores


@dataclass(frozen=True)
class Metric:
    """One measure of generated clips: which way is better, and whether it is a per-clip value or a distance of
    the whole set to its references."""
    name: str
    lower_is_better: bool
    per_clip: bool
    about: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fad_inf", True, False, "FAD∞ of the set to its references, both sides extrapolated, in the evaluation "
                                   "projection (PCA of training audio)"),
    Metric("kid", True, False, "kernel inception distance of the set to its references (unbiased at any N)"),
    Metric("kl", True, True, "KL(reference ‖ generated) of the backbone's classes"),
    Metric("text_audio", False, True, "cosine of the aligner's audio and caption embeddings"),
    Metric("emb_dist", True, True, "distance of the clip's mean backbone embedding to its reference clip's"),
    Metric("chroma_target", False, True, "chroma cosine to the target clip's melody"),
    Metric("chroma_cond", False, True, "chroma cosine to the melody the system was conditioned on"),
    Metric("note_f1_cond", False, True, "Basic Pitch note F1 of the output against the conditioning melody"),
    Metric("richness", False, True, "STFT bins per frame within 30 dB of the clip's peak"),
    Metric("loudness_db", False, True, "RMS level of the clip's non-silent 100 ms frames, dBFS"),
    Metric("end_click_db", True, True, "energy above 4 kHz in the last 50 ms over the clip's median window, dB"),
    Metric("pcp_move", False, True, "melody counterfactual: how far the pitch-class profile moves toward the melody "
                                    "given, A vs B, both directions summed (docs/method.md §2.9)"),
    Metric("chroma_move", False, True, "melody counterfactual: the same move by frame-wise chroma"),
)}
MEASURES_VERSION = 1  # part of every cached set's key: raise it when what a set's measurement holds changes
SET_DIAGNOSTICS = ("fad", "fad_inf_full", "is")  # per set, no interval: FAD at N, one-sided FAD∞ in full d, IS


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of ``metric`` is better (unknown names: higher is better)."""
    return metric in METRICS and METRICS[metric].lower_is_better


def signed_name(metric: str, better: str, worse: str) -> str:
    """``fad_inf(text only) − fad_inf(MMGen)``: the effect written so that positive means ``better`` is better."""
    b, w = (s.split(" (")[0] for s in (better, worse))  # "text only (AudioLDM-style)" → "text only"
    return f"{metric}({w}) − {metric}({b})" if lower_is_better(metric) else f"{metric}({b}) − {metric}({w})"


@dataclass
class Projection:
    """A PCA of the evaluation backbone's rows, fitted on training audio: FAD in ≤ 32 dimensions, where the
    1/n law of FAD∞ holds at the set sizes of this repository (60–120 rows against 200 dimensions in full)."""
    mean: np.ndarray
    components: np.ndarray  # (dims, d)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return (np.asarray(rows, dtype=np.float64) - self.mean) @ self.components.T

    @classmethod
    def fit(cls, rows: np.ndarray, dims: int) -> "Projection":
        rows = np.asarray(rows, dtype=np.float64)
        if not 1 <= dims <= min(rows.shape):
            raise ValueError(f"a {dims}-d projection needs at least {dims} rows of at least {dims} dims, "
                             f"got {rows.shape}")
        mean = rows.mean(0)
        _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
        return cls(mean, vt[:dims])


def training_projection(manifest, eval_cfg: EvaluationConfig, folder: Path, progress: bool = True) -> Projection | None:
    """The evaluation projection of a profile (``evaluation.projection_dims`` ≤ 0: none, FAD∞ in full d), fitted on
    the backbone rows of the first ``evaluation.projection_clips`` training clips and kept in ``folder``."""
    if eval_cfg.projection_dims <= 0:
        return None
    items = manifest.items("train")[:eval_cfg.projection_clips]
    key = hashlib.sha1(json.dumps([eval_cfg.backbone, eval_cfg.musicnn_layer, eval_cfg.projection_dims,
                                   [it.id for it in items]]).encode()).hexdigest()[:12]
    path = Path(folder) / f"projection-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return Projection(z["mean"], z["components"])
    wavs = [load_audio(manifest.audio_path(it)) for it in tqdm(items, desc="projection: training audio",
                                                               disable=not progress)]
    proj = Projection.fit(np.concatenate(clip_features(wavs, eval_cfg)[0].frames), eval_cfg.projection_dims)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: np.savez(open(p, "wb"), mean=proj.mean, components=proj.components))
    return proj


def reference_free(wavs: Sequence[np.ndarray], captions: Sequence[str], melodies: Sequence[Sequence[Note]] | None,
                   embedder) -> dict[str, np.ndarray]:
    """The per-clip measures that need no reference clip: text–audio score (the aligner's cosine of clip i and
    caption i), chroma to melody i (NaN where there is none), harmonic richness, loudness and end click."""
    with torch.no_grad():
        audio = embedder.embed_audio(list(wavs)).float().cpu().numpy()
        text = embedder.embed_text(list(captions)).float().cpu().numpy()
    chroma = [chroma_similarity(w, m) if melodies is not None and m else float("nan")
              for w, m in zip(wavs, melodies if melodies is not None else [None] * len(wavs))]
    return {"text_audio": (audio * text).sum(-1), "chroma": np.array(chroma),
            "richness": np.array([harmonic_richness(w) for w in wavs]),
            "loudness_db": np.array([loudness_db(w) for w in wavs]),
            "end_click_db": np.array([end_click(w) for w in wavs])}


@dataclass
class EvalSet:
    """The clips an evaluation is computed on: captions, real clips (the references, at one length), their
    melodies (the targets)."""
    ids: list[str]
    captions: list[str]
    refs: list[np.ndarray]
    melodies: list[list[Note]]

    @classmethod
    def from_items(cls, manifest, items: Sequence) -> "EvalSet":
        if not items:
            raise ValueError("an evaluation set needs clips, got none")
        refs = [load_audio(manifest.audio_path(it)) for it in items]
        n = min(len(r) for r in refs)
        return cls([it.id for it in items], [it.caption for it in items], [fit_length(r, n) for r in refs],
                   [item_notes(manifest, it) for it in items])

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class ClipMeasure:
    """One generated clip, measured: its backbone rows, its class distribution and its per-clip values."""
    frames: np.ndarray
    dist: np.ndarray
    values: dict[str, float]


@dataclass
class SetMeasure:
    """One generated set (a clip for every caption of the evaluation set): its clips, each set distance with its
    delete-one-clip values (``(C+1,)``: all clips, then without clip c) and the per-set diagnostics."""
    clips: list[ClipMeasure]
    loo: dict[str, np.ndarray]
    scores: dict[str, float]

    def row(self) -> dict[str, float]:
        """One row of numbers for the set: each per-clip measure's mean over clips, each set distance on all clips
        (KID with its delete-one-clip jackknife standard error, ``kid_se``) and the per-set diagnostics."""
        names = dict.fromkeys(m for c in self.clips for m in c.values)
        means = {}
        for m in names:
            v = np.array([c.values.get(m, np.nan) for c in self.clips])
            means[m] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        se = {"kid_se": float(np.sqrt(jackknife_variance(self.loo["kid"][1:])))} if "kid" in self.loo else {}
        return {**{m: float(v[0]) for m, v in self.loo.items()}, **se, **self.scores, **means}

    def save(self, path: Path) -> None:
        frames = [c.frames for c in self.clips]
        arrays = {"frames": np.concatenate(frames), "lengths": np.array([len(f) for f in frames]),
                  "dist": np.stack([c.dist for c in self.clips]),
                  **{f"value_{m}": np.array([c.values[m] for c in self.clips]) for m in self.clips[0].values},
                  **{f"loo_{m}": v for m, v in self.loo.items()},
                  **{f"score_{m}": np.array(v) for m, v in self.scores.items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: np.savez(open(p, "wb"), **arrays))

    @classmethod
    def load(cls, path: Path) -> "SetMeasure":
        with np.load(path) as z:
            frames = np.split(z["frames"], np.cumsum(z["lengths"])[:-1])
            names = [k[6:] for k in z.files if k.startswith("value_")]
            clips = [ClipMeasure(f, z["dist"][i], {m: float(z[f"value_{m}"][i]) for m in names})
                     for i, f in enumerate(frames)]
            return cls(clips, {k[4:]: z[k] for k in z.files if k.startswith("loo_")},
                       {k[6:]: float(z[k]) for k in z.files if k.startswith("score_")})


class Measurements:
    """Measured sets by (system, training seed, sampling seed) on one evaluation set's clips, and what follows from
    them: each system's runs, intervals and paired effects (:func:`~.intervals.run_level_interval`), and tables."""

    def __init__(self, ids: Sequence[str], eval_cfg: EvaluationConfig):
        self.ids, self.cfg = list(ids), eval_cfg
        self.sets: dict[tuple[str, int, int], SetMeasure] = {}

    def add(self, system: str, train_seed: int, seed: int, measure: SetMeasure) -> None:
        """Record one measured set (one clip per evaluation clip, in order)."""
        if len(measure.clips) != len(self.ids):
            raise ValueError(f"{system!r}: a set needs one clip per evaluation clip ({len(self.ids)}), "
                             f"got {len(measure.clips)}")
        self.sets[system, train_seed, seed] = measure

    def systems(self) -> list[str]:
        return list(dict.fromkeys(s for s, _, _ in self.sets))

    def train_seeds(self, system: str) -> list[int]:
        return sorted({t for s, t, _ in self.sets if s == system})

    def _sampling(self, system: str, t: int) -> list[int]:
        return sorted(k for s, tt, k in self.sets if s == system and tt == t)

    def run_values(self, system: str, metric: str, seeds: Sequence[int] | None = None) -> np.ndarray:
        """``(T, C+1)`` per training run of ``system``: ``metric`` over all clips and sampling seeds, then without
        each clip (a per-clip mean, or a set distance averaged over the run's sampling seeds)."""
        seeds = self.train_seeds(system) if seeds is None else seeds
        if METRICS[metric].per_clip:
            return np.concatenate([leave_one_out(np.array([[[c.values.get(metric, np.nan)
                                                             for c in self.sets[system, t, k].clips]
                                                            for k in self._sampling(system, t)]]))
                                   for t in seeds])
        return np.stack([np.mean([self.sets[system, t, k].loo[metric] for k in self._sampling(system, t)], axis=0)
                         for t in seeds])

    def describe(self, system: str, seeds: Sequence[int] | None = None) -> str:
        """``60 clips × 2 sampling seeds × 4 training seeds``."""
        seeds = self.train_seeds(system) if seeds is None else seeds
        k, t = len(self._sampling(system, seeds[0])), len(seeds)
        return (f"{len(self.ids)} clips × {k} sampling seed{'s' * (k > 1)} × "
                f"{t} training seed{'s' * (t > 1)}")

    def interval(self, system: str, metric: str, confidence: float | None = None) -> Effect:
        """One system's ``metric`` with its interval over training runs and clips."""
        x = self.run_values(system, metric)
        est, low, high, _ = run_level_interval(x, confidence or self.cfg.confidence)
        return Effect(f"{metric}({system})", est, low, high, self.describe(system), runs=len(x))

    def effect(self, better: str, worse: str, metric: str, margin: float = float("nan"),
               kind: str = "superiority", confidence: float | None = None) -> Effect:
        """``metric(worse) − metric(better)`` (the reverse when higher is better): positive when ``better`` is better,
        paired by training seed (the seeds both systems ran) and by clip and sampling seed within a run."""
        seeds = sorted(set(self.train_seeds(better)) & set(self.train_seeds(worse)))
        if not seeds:
            raise ValueError(f"{better!r} and {worse!r} share no training seed")
        sign = 1.0 if lower_is_better(metric) else -1.0
        d = sign * (self.run_values(worse, metric, seeds) - self.run_values(better, metric, seeds))
        est, low, high, _ = run_level_interval(d, confidence or self.cfg.confidence)
        return Effect(signed_name(metric, better, worse), est, low, high, self.describe(better, seeds), margin, kind,
                      len(seeds))

    # ------------------------------------------------------------------ tables
    def clips_table(self) -> pd.DataFrame:
        """One row per generated clip: system, training seed, sampling seed, clip id and every per-clip value."""
        return pd.DataFrame([{"system": s, "train_seed": t, "seed": k, "clip": self.ids[i], **c.values}
                             for (s, t, k), m in self.sets.items() for i, c in enumerate(m.clips)])

    def runs_table(self) -> pd.DataFrame:
        """One row per generated set: its :meth:`SetMeasure.row` (set distances, diagnostics, per-clip means)."""
        return pd.DataFrame([{"system": s, "train_seed": t, "seed": k, **m.row()} for (s, t, k), m in self.sets.items()])

    def intervals(self, metrics: Sequence[str], systems: Sequence[str] | None = None) -> pd.DataFrame:
        """Long table: one row per (system, metric) with the estimate, its interval, runs and n."""
        rows = []
        for s in systems or self.systems():
            for m in metrics:
                e = self.interval(s, m)
                rows.append({"system": s, "metric": m, "estimate": e.estimate, "low": e.low, "high": e.high,
                             "runs": e.runs, "n": e.n})
        return pd.DataFrame(rows)


class Harness(Measurements):
    """Measures generated sets against one evaluation set and turns them into intervals and effects.

    ``embedder``: the aligner that scores text–audio fit; ``projection``: FAD∞'s space (:func:`training_projection`,
    None = the backbone's full dimension); ``cache``: a folder where every measured set is kept under a key of
    what made it, so that a rerun (or an added training seed) measures only what is new; ``note_f1``: also
    transcribe each clip (Basic Pitch) for the note F1 to its conditioning melody."""

    def __init__(self, evalset: EvalSet, eval_cfg: EvaluationConfig, embedder, projection: Projection | None = None,
                 cache: Path | None = None, note_f1: bool = False, progress: bool = True):
        if len(evalset) < 4:
            raise ValueError(f"the harness needs at least 4 evaluation clips (FAD∞ and the clip jackknife), "
                             f"got {len(evalset)}")
        super().__init__(evalset.ids, eval_cfg)
        self.evalset, self.embedder, self.projection = evalset, embedder, projection
        self.cache, self.note_f1, self.progress = cache, note_f1, progress
        self.orders = clip_orders(len(evalset), eval_cfg.fad_orders, eval_cfg.seed)
        self.measured = self.loaded = 0

    @cached_property
    def ref_feats(self):
        """The references' backbone rows and class scores: computed on first use (never for a run that reads every
        set from the cache, or one with measures of its own)."""
        return clip_features(self.evalset.refs, self.cfg)

    @cached_property
    def ref_dist(self) -> np.ndarray:
        return class_distribution(self.ref_feats[1], self.cfg.class_distribution)

    @cached_property
    def ref_proj(self) -> list[np.ndarray]:
        return [self._project(f) for f in self.ref_feats[0].frames]

    def _project(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.projection is None else self.projection(rows)

    # ------------------------------------------------------------------ measuring
    def measure_clips(self, wavs: Sequence[np.ndarray], clips: Sequence[int],
                      cond: Sequence[Sequence[Note]] | None = None) -> list[ClipMeasure]:
        """Per-clip measures of ``wavs``, clip i made for evaluation clip ``clips[i]`` (``cond``: the melodies that
        conditioned them, None for a system without one)."""
        n = len(self.evalset.refs[0])
        wavs = [fit_length(np.asarray(w, dtype=np.float32), n) for w in wavs]
        feats = clip_features(wavs, self.cfg)
        dist = class_distribution(feats[1], self.cfg.class_distribution)
        free = reference_free(wavs, [self.evalset.captions[c] for c in clips], cond, self.embedder)
        heard = default_extractor().notes(list(wavs)) if self.note_f1 and cond is not None else None
        out = []
        for i, c in enumerate(clips):
            ref = self.ref_feats[0].frames[c]
            values = {"kl": kl_divergence(dist[i:i + 1], self.ref_dist[c:c + 1]),
                      "emb_dist": float(np.linalg.norm(feats[0].frames[i].mean(0) - ref.mean(0))),
                      "chroma_target": chroma_similarity(wavs[i], self.evalset.melodies[c]),
                      "chroma_cond": float(free["chroma"][i]),
                      "note_f1_cond": note_scores(cond[i], heard[i])[2] if heard is not None else float("nan"),
                      **{m: float(free[m][i]) for m in ("text_audio", "richness", "loudness_db", "end_click_db")}}
            out.append(ClipMeasure(feats[0].frames[i], dist[i], values))
        return out

    def assemble(self, clips: Sequence[ClipMeasure]) -> SetMeasure:
        """A set of one measured clip per evaluation clip (in order): its set distances with their delete-one-clip
        values and its per-set diagnostics."""
        if len(clips) != len(self.evalset):
            raise ValueError(f"a set needs one clip per evaluation clip ({len(self.evalset)}), got {len(clips)}")
        frames = [c.frames for c in clips]
        proj = [self._project(f) for f in frames]
        c = len(clips)
        keep = [np.arange(c) != i for i in range(c)]
        sizes = self.cfg.fad_sizes
        loo = {"fad_inf": np.array([fad_inf_paired(proj, self.ref_proj, self.orders, sizes)]
                                   + [fad_inf_paired(proj, self.ref_proj, self.orders, sizes, k) for k in keep]),
               "kid": kid_leave_one_out(frames, self.ref_feats[0].frames)}
        g, r = np.concatenate(frames), np.concatenate(self.ref_feats[0].frames)
        scores = {"fad": fad(g, r), "fad_inf_full": fad_inf(g, r, seed=self.cfg.seed),
                  "is": inception_score(np.stack([x.dist for x in clips]), min(self.cfg.is_splits, c),
                                        self.cfg.seed)[0]}
        return SetMeasure(list(clips), loo, scores)

    def measure(self, wavs: Sequence[np.ndarray], cond: Sequence[Sequence[Note]] | None = None) -> SetMeasure:
        """Every measure of a generated set (clip i made for evaluation clip i)."""
        return self.assemble(self.measure_clips(wavs, range(len(wavs)), cond))

    def _path(self, key: str) -> Path | None:
        if self.cache is None:
            return None
        what = json.dumps([MEASURES_VERSION, key, self.evalset.ids, self.cfg.backbone, self.cfg.musicnn_layer,
                           self.cfg.class_distribution, self.cfg.fad_sizes, self.cfg.fad_orders, self.cfg.seed,
                           None if self.projection is None else float(self.projection.components.sum()),
                           self.note_f1], default=str)
        return Path(self.cache) / f"{hashlib.sha1(what.encode()).hexdigest()[:16]}.npz"

    def collect(self, jobs: Iterable[tuple[str, int, int]], key: Callable[[str, int, int], str],
                generate: Callable[[str, int, int], tuple[Sequence[np.ndarray], Sequence[Sequence[Note]] | None]] | None,
                desc: str = "evaluate", measure: Callable[[str, int, int], SetMeasure] | None = None) -> None:
        """Measure every (system, training seed, sampling seed) of ``jobs``: from the cache when a set of the
        same ``key`` was measured before, else ``generate`` it (waveforms, conditioning melodies or None) and
        :meth:`measure` it — or, for an experiment with measures of its own, ``measure`` it (a set of per-clip
        values)."""
        jobs = list(jobs)
        for system, t, k in tqdm(jobs, desc=desc, disable=not self.progress):
            path = self._path(key(system, t, k))
            if path is not None and path.exists():
                self.add(system, t, k, SetMeasure.load(path))
                self.loaded += 1
                continue
            m = measure(system, t, k) if measure is not None else self.measure(*generate(system, t, k))
            self.add(system, t, k, m)
            self.measured += 1
            if path is not None:
                m.save(path)


@dataclass
class Margins:
    """Profile section values fixing each claim's margin before the run: ``relative`` ones are fractions of the
    baseline's value (FAD∞, KID), the others absolute (R@1, Spearman ρ)."""
    values: dict[str, float] = field(default_factory=lambda: {"fad_inf": 0.10, "kid": 0.10, "R@1": 0.05, "rho": 0.3})
    relative: tuple[str, ...] = ("fad_inf", "kid")

    def of(self, metric: str, baseline: float = float("nan")) -> float:
        """The margin of ``metric`` (NaN when none is set); a relative one scaled by ``abs(baseline)``."""
        if metric not in self.values:
            return float("nan")
        return self.values[metric] * abs(baseline) if metric in self.relative else self.values[metric]
