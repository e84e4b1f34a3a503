"""Does a higher Intersection Rate give better music? The paper's §4.2.1 claim, tested (notebook 09, docs/method.md §2.7).

The retrieval configurations of :func:`~mmgen_core.retrieval.isr.claims_grid` retrieve really different melodies
(exact Flat down to a one-candidate HNSW walk). For each: its ISR in both forms (eq. 8 between the melody and
the audio index with the test captions as queries, and the per-item form on the training clips), and the top-1
melody each test caption retrieves. Every caption is then generated with the melody it retrieves, with the same
noise in every configuration (one seed per clip and sampling seed), so that two configurations differ only where
their retrievals differ. A generation is made once per (mode, clip, retrieved item, sampling seed) and shared by
every configuration that retrieves that melody for that caption (:class:`GenerationCache`): the grid costs the
distinct (caption, melody) pairs, not configurations × captions.

Each distinct retrieved set is one system of the Table 1 bootstrap (:func:`~mmgen_core.reproduction.evidence.bootstrap`:
clips resampled, FAD∞ and KID recomputed against the drawn clips' references, per-clip means of chroma to the
target melody and text–audio score). The claim's effect is Spearman ρ(ISR, quality) over the configurations,
signed so that positive means "a higher ISR gives better music"; its interval resamples configurations and, with
the same draw index, the clip draws behind each configuration's quality (:func:`rank_effect_boot`)."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Hashable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.data.manifest import Item, item_notes
from mmgen_core.evaluation.backbones.base import ClipFeatures
from mmgen_core.evaluation.evaluate import EvaluationConfig, clip_features
from mmgen_core.evaluation.intervals import Effect, bootstrap_draws
from mmgen_core.reproduction.claims import ISR_CLAIM, ClaimsConfig, empty_row, _row
from mmgen_core.reproduction.evidence import Bootstrap, Measured, bootstrap
from mmgen_core.reproduction.table1 import LOWER_IS_BETTER, ResultsConfig, clip_values
from mmgen_core.retrieval.index import IndexConfig, RetrievalError, SearchResult, VectorDB
from mmgen_core.retrieval.isr import claims_grid, intersection_rate, per_item_isr, recall_at_k
from mmgen_core.retrieval.stage import retrieve
from mmgen_core.stages import Stages

ISR_METRICS = ("fad_inf", "kid", "text_audio", "chroma_target")  # FAD∞ is the claim's; the others support it
CLIP_METRICS = ("text_audio", "chroma_target", "kl", "emb_dist", "richness")  # kept per generated clip
MIN_POINTS = 4  # distinct (ISR, generation) points below which nothing is ranked


def clip_seed(clip_id: str, seed: int) -> int:
    """The sampling seed of one clip: fixed by the clip and the sampling seed, the same in every configuration
    (so that a clip's generations differ only by the melody they follow), different across clips."""
    return zlib.crc32(f"{clip_id}|{seed}".encode()) % 2**31


class PinnedRetrieval:
    """A melody database whose search returns given rows, one per query in order: a pipeline given it conditions
    on exactly those melodies (embedding r and exact notes of each row), as if it had retrieved them."""

    def __init__(self, db: VectorDB, rows: Sequence[int]):
        self.db, self.rows = db, np.asarray(rows, dtype=np.int64)

    def search(self, queries: np.ndarray, k: int = 1) -> SearchResult:
        if k != 1 or len(queries) != len(self.rows):
            raise RetrievalError(f"pinned retrieval answers {len(self.rows)} top-1 queries, not {len(queries)} × top-{k}")
        return SearchResult(np.ones((len(self.rows), 1), dtype=np.float32), self.rows[:, None],
                            [[self.db.ids[r]] for r in self.rows])

    def embeddings(self, indices) -> np.ndarray:
        return self.db.embeddings(indices)

    def tokens_of(self, indices):
        return self.db.tokens_of(indices)

    def __len__(self) -> int:
        return len(self.db)


class GenerationCache:
    """Values by key, made once: ``get(keys, make)`` calls ``make`` with the keys not made yet (each once, in
    order) and returns the value of every key. ``made`` / ``reused`` count keys made and keys served again."""

    def __init__(self) -> None:
        self._store: dict[Hashable, object] = {}
        self.made = self.reused = 0

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._store

    def get(self, keys: Sequence[Hashable], make: Callable[[list], Sequence[object]]) -> list:
        missing = [k for k in dict.fromkeys(keys) if k not in self._store]
        if missing:
            values = list(make(missing))
            if len(values) != len(missing):
                raise ValueError(f"make returned {len(values)} values for {len(missing)} keys")
            self._store.update(zip(missing, values))
        self.made += len(missing)
        self.reused += len(keys) - len(missing)
        return [self._store[k] for k in keys]


@dataclass
class Scored:
    """One generated clip, measured: the evaluation backbone's rows (patches × d) and per-clip values."""
    frames: np.ndarray
    values: dict[str, float]


@dataclass
class IsrGrid:
    """The claims grid on this profile: one table row per configuration (ISR both forms, recall@K against Flat,
    how many captions retrieve another melody than exact search, which distinct retrieved set it is), the top-1
    database row of every (configuration, test clip), and what was left out."""
    table: pd.DataFrame
    rows: np.ndarray  # (configurations, clips) database rows retrieved (top-1)
    items: list[Item]
    queries: np.ndarray  # (clips, d) the test captions' text embeddings
    skipped: list[str]
    k: int

    @property
    def n_sets(self) -> int:
        """Distinct retrieved sets (sequences of top-1 melodies over the test captions)."""
        return int(self.table["retrieved_set"].nunique())

    def describe(self) -> str:
        """``12 configurations, 11 distinct retrieved sets of melodies for 32 test captions, ISR 0.14–0.45``."""
        t = self.table
        return (f"{len(t)} retrieval configurations, {self.n_sets} distinct retrieved sets of melodies for "
                f"{len(self.items)} test captions; ISR (eq. 8, K = {self.k}) {t['isr'].min():.3f}–{t['isr'].max():.3f}, "
                f"per-item ISR {t['isr_per_item'].min():.3f}–{t['isr_per_item'].max():.3f}"
                + (f"; left out: {'; '.join(self.skipped)}" if self.skipped else ""))


def grid_configs(cfg: ClaimsConfig, n_items: int, dim: int) -> tuple[list[IndexConfig], list[str]]:
    """The configurations the profile asks for: :func:`claims_grid` (N, d) or ``claims.isr_grid``'s list."""
    if cfg.isr_grid == "claims":
        return claims_grid(n_items, dim)
    return [IndexConfig(**c) for c in cfg.isr_grid], []


def measure_grid(melody: np.ndarray, audio: np.ndarray, ids: Sequence[str], queries: np.ndarray,
                 configs: Sequence[IndexConfig], k: int,
                 progress: bool = False) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Per configuration: eq. 8 ISR between its melody and audio index with ``queries``, per-item ISR (audio i
    finds melody i in its top-K, over the database), recall@K against Flat, and each query's top-1 row (an
    approximate search that finds nothing is filled from an exact scan, as generation does). Configurations faiss
    cannot build on these vectors are left out with the reason. Returns (table, rows, left out)."""
    k = min(k, len(ids))
    exact = VectorDB.build(melody, ids, IndexConfig("flat"))
    exact_top = exact.search(queries, k)
    exact_rows = exact_top.indices[:, 0]
    records, rows, skipped, sets = [], [], [], {}
    for config in tqdm(configs, desc="claims grid", disable=not progress):
        try:
            melody_db, audio_db = VectorDB.build(melody, ids, config), VectorDB.build(audio, ids, config)
        except (RetrievalError, RuntimeError) as e:  # RuntimeError: a faiss limit this module does not know
            skipped.append(f"{config.label}: {str(e).splitlines()[0]}")
            continue
        top = retrieve(melody_db, queries, 1).indices[:, 0]
        set_id = sets.setdefault(tuple(top), len(sets))
        records.append({"config": melody_db.config.label, "kind": config.kind,
                        "params": json.dumps(melody_db.config.params(), sort_keys=True),
                        "isr": intersection_rate(melody_db, audio_db, queries, k),
                        "isr_per_item": per_item_isr(melody_db, audio, k),
                        "recall_at_k": recall_at_k(melody_db.search(queries, k), exact_top),
                        "items_retrieved": len(set(top)), "changed_vs_exact": int((top != exact_rows).sum()),
                        "retrieved_set": set_id})
        rows.append(top)
    if not records:
        raise RetrievalError(f"no configuration of the grid could be built ({'; '.join(skipped)})")
    return pd.DataFrame(records), np.stack(rows), skipped


def isr_grid(stages: Stages, cfg: ClaimsConfig, progress: bool = True) -> IsrGrid:
    """The claims grid on the profile's tri-modal aligner: training melody and audio embeddings as the two
    databases, the first ``claims.isr_clips`` test captions as queries, K = ``claims.isr_k`` (0 = ``retrieval.k``)."""
    run = stages.alignment()
    emb = run.embeddings("train")
    if list(stages.melody_db.ids) != list(emb.ids):
        raise RetrievalError("the melody database does not hold the aligner's training embeddings in order; "
                             "rebuild it (notebook 04)")
    items = stages.dataset.items("test")[:cfg.isr_clips or None]
    if len(items) < 2:
        raise ValueError(f"the ISR experiment needs at least 2 test clips, the profile gives {len(items)}")
    with torch.no_grad():
        queries = run.model.embed_text([it.caption for it in items]).float().cpu().numpy()
    configs, skipped = grid_configs(cfg, len(emb.ids), emb.melody.shape[1])
    k = cfg.isr_k or stages.retrieval_config.k
    table, rows, failed = measure_grid(emb.melody, emb.audio, emb.ids, queries, configs, k, progress)
    return IsrGrid(table, rows, items, queries, skipped + failed, min(k, len(emb.ids)))


def _subset(f: ClipFeatures, idx: Sequence[int]) -> ClipFeatures:
    idx = list(idx)
    return ClipFeatures([f.frames[i] for i in idx], None if f.logits is None else f.logits[idx],
                        None if f.probs is None else f.probs[idx])


@dataclass
class IsrRun:
    """One mode's generations over the grid: a :class:`Measured` per distinct retrieved set, their bootstrap, and
    how many generations were made and reused."""
    mode: str
    grid: IsrGrid
    measured: dict[str, Measured]
    boot: Bootstrap
    made: int
    reused: int
    n_seeds: int

    @staticmethod
    def system(set_id: int) -> str:
        return f"retrieved set {set_id}"

    def n_text(self) -> str:
        """What the ρ of this run is measured over."""
        points = self.grid.table.drop_duplicates(["isr", "retrieved_set"])
        return (f"{len(points)} distinct (ISR, generation) points of {len(self.grid.table)} configurations × "
                f"{len(self.grid.items)} clips × {self.n_seeds} sampling seed{'s' * (self.n_seeds > 1)}")


def isr_generations(stages: Stages, grid: IsrGrid, mode: str, cfg: ClaimsConfig, results: ResultsConfig,
                    eval_cfg: EvaluationConfig, cache: GenerationCache | None = None,
                    progress: bool = True) -> IsrRun:
    """Generate every test caption with the melody each configuration retrieves (``mode``: mmgen or mmgen+roll,
    the profile's UNet), one clip per (clip, melody, sampling seed) shared through ``cache``; score each clip once
    (backbone rows, chroma to the target melody, text–audio score, …); bootstrap every distinct retrieved set."""
    if mode not in ("mmgen", "mmgen+roll"):
        raise ValueError(f"the ISR experiment generates with a retrieved melody: mode mmgen or mmgen+roll, not {mode!r}")
    cache = cache if cache is not None else GenerationCache()
    made0, reused0 = cache.made, cache.reused
    manifest, items = stages.dataset, grid.items
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    ref_feats = clip_features(refs, eval_cfg)
    captions, targets = [it.caption for it in items], [item_notes(manifest, it) for it in items]
    embedder = stages.alignment().model
    pipe = stages.pipeline_of(stages.unet(mode)[0], replace(stages.generation_config, mode=mode))
    base = stages.melody_db
    pbar = tqdm(total=0, desc=f"ISR grid, {mode}", disable=not progress)

    clip_index = {it.id: c for c, it in enumerate(items)}
    row_of = {item_id: r for r, item_id in enumerate(base.ids)}

    def make(keys: list[tuple]) -> list[Scored]:  # keys: (mode, clip id, retrieved item id, sampling seed)
        pbar.total += len(keys)
        pbar.refresh()
        wavs = []
        for _, clip_id, item_id, seed in keys:
            pipe.melody_db = PinnedRetrieval(base, [row_of[item_id]])
            gen = pipe([captions[clip_index[clip_id]]], seed=clip_seed(clip_id, seed), sampler=results.sampler,
                       steps=results.steps, clip_x0=results.clip_x0, candidates=1, progress=False)
            wavs.append(gen.waveforms[0])
            pbar.update(1)
        idx = [clip_index[clip_id] for _, clip_id, _, _ in keys]
        feats = clip_features(wavs, eval_cfg)
        vals = clip_values(wavs, feats, tuple(_subset(f, idx) for f in ref_feats), [captions[c] for c in idx],
                           [targets[c] for c in idx], None, embedder, eval_cfg)
        return [Scored(feats[0].frames[i], {m: float(vals[m][i]) for m in CLIP_METRICS}) for i in range(len(keys))]

    try:
        first = grid.table.drop_duplicates("retrieved_set").index  # one configuration per distinct set
        measured = {}
        for i in first:
            set_id, rows = int(grid.table.loc[i, "retrieved_set"]), grid.rows[i]
            keys = [[(mode, it.id, base.ids[int(r)], k) for it, r in zip(items, rows)] for k in cfg.seeds]
            per_seed = [cache.get(ks, make) for ks in keys]
            values = {m: np.array([[[s.values[m] for s in clips] for clips in per_seed]]) for m in CLIP_METRICS}
            measured[IsrRun.system(set_id)] = Measured(values, [[[s.frames for s in clips] for clips in per_seed]])
    finally:
        pipe.melody_db = base
        pbar.close()
    boot = bootstrap(measured, list(ref_feats[0].frames), ISR_METRICS, cfg.bootstrap, eval_cfg.seed,
                     eval_cfg.confidence, progress)
    return IsrRun(mode, grid, measured, boot, cache.made - made0, cache.reused - reused0, len(cfg.seeds))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either side has no variance (nothing to rank)."""
    if len(set(np.round(x, 9))) < 2 or len(set(np.round(y, 9))) < 2:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def rank_effect_boot(x: Sequence[float], systems: Sequence[str], boot: Bootstrap, metric: str, name: str, n: str,
                     seed: int = 0) -> Effect | None:
    """Spearman ρ(x, quality) over points (x_i, system_i), quality = ``metric`` of system i signed so that higher is
    better (FAD∞ and KID negated): positive = a higher x goes with better quality.

    Repeated (x, system) points count once. The interval resamples points with replacement and, in the same
    replicate, uses each system's quality on the same clip draw (:class:`Bootstrap` replicates), so it covers
    both which configurations were tried and which clips scored them. A replicate without two distinct values on
    a side (e.g. a clip draw on which every drawn configuration scores alike: the clips where retrievals differ
    were not drawn) shows no association and counts as ρ = 0, not as missing: dropping it would narrow the
    interval exactly when few clips carry the difference. None with fewer than :data:`MIN_POINTS` distinct
    points or nothing to rank."""
    pts = list(dict.fromkeys(zip(np.round(np.asarray(x, dtype=float), 9), systems)))
    if len(pts) < MIN_POINTS:
        return None
    sign = -1.0 if LOWER_IS_BETTER.get(metric, False) else 1.0
    xs = np.array([p[0] for p in pts])
    point = np.array([sign * boot.point[s, metric] for _, s in pts])
    rho, _ = rank_correlation(xs, point)
    if np.isnan(rho):
        return None
    reps = np.stack([sign * boot.replicates[s, metric] for _, s in pts])  # (points, n_boot)
    draws = bootstrap_draws(len(pts), reps.shape[1], seed)
    rhos = np.nan_to_num([rank_correlation(xs[d], reps[d, b])[0] for b, d in enumerate(draws)], nan=0.0)
    # the percentile interval (widened to hold the estimate): ρ is bounded and its replicates can pile up at 0 and
    # ±1, where shifting them to centre on the estimate (as for FAD∞, :func:`centred_interval`) would push the
    # interval away from zero
    tail = (1 - boot.confidence) / 2
    low, high = np.quantile(rhos, [tail, 1 - tail])
    return Effect(name, rho, float(max(-1.0, min(low, rho))), float(min(1.0, max(high, rho))), n)


def isr_effect_of(run: IsrRun, metric: str = "fad_inf", by: str = "isr", seed: int = 0) -> Effect | None:
    """ρ(``by``, quality ``metric``) of one mode's run over the grid's configurations (:func:`rank_effect_boot`)."""
    t = run.grid.table
    sign = "−" if LOWER_IS_BETTER.get(metric, False) else ""
    label = "ISR" if by == "isr" else "per-item ISR"
    return rank_effect_boot(t[by], [IsrRun.system(s) for s in t["retrieved_set"]], run.boot, metric,
                            f"Spearman ρ({label}, {sign}{metric}), {run.mode}", run.n_text(), seed)


def isr_table(runs: dict[str, IsrRun]) -> pd.DataFrame:
    """One row per (mode, configuration): the grid's columns and every metric's estimate and 95% interval."""
    rows = []
    for mode, run in runs.items():
        for _, g in run.grid.table.iterrows():
            system = IsrRun.system(int(g["retrieved_set"]))
            row = {"mode": mode, **g.to_dict()}
            for m in ISR_METRICS:
                est, low, high = run.boot.interval(system, m)
                row.update({m: est, f"{m}_low": low, f"{m}_high": high})
            rows.append(row)
    return pd.DataFrame(rows)


def isr_effects(runs: dict[str, IsrRun], by: str = "isr", seed: int = 0) -> pd.DataFrame:
    """ρ(ISR, quality) of every mode and metric, with its interval and verdict (empty rows where nothing ranks)."""
    rows = []
    for mode, run in runs.items():
        for m in ISR_METRICS:
            e = isr_effect_of(run, m, by, seed)
            rows.append({"mode": mode, "metric": m, "effect": e.name if e else "", "estimate": e.estimate if e else np.nan,
                         "low": e.low if e else np.nan, "high": e.high if e else np.nan, "n": run.n_text(),
                         "verdict": e.verdict if e else "inconclusive"})
    return pd.DataFrame(rows)


def isr_claim_row(runs: dict[str, IsrRun], mode: str = "mmgen", by: str = "isr", seed: int = 0) -> dict:
    """The claims-table row: ρ(ISR, −FAD∞) of ``mode`` (the paper's MMGen) with its verdict; ρ with KID, chroma
    and text–audio and the other modes' ρ(ISR, −FAD∞) as supporting evidence; the grid in words."""
    run = runs[mode]
    note = (f"{run.grid.describe()}; {run.made} generations made and {run.reused} reused by configurations "
            f"retrieving the same melody (notebook 09)")
    head = isr_effect_of(run, "fad_inf", by, seed)
    if head is None:
        return empty_row(ISR_CLAIM, f"not measurable: fewer than {MIN_POINTS} distinct (ISR, generation) points "
                                    f"or nothing to rank; {note}")
    support = [e for e in (isr_effect_of(run, m, by, seed) for m in ISR_METRICS[1:]) if e is not None]
    support += [e for other, r in runs.items() if other != mode
                for e in [isr_effect_of(r, "fad_inf", by, seed)] if e is not None]
    return _row(ISR_CLAIM, [head, *support], note)
