"""Does a higher Intersection Rate give better music? The paper's §4.2.1 claim, tested (notebook 09, docs/method.md §2.7).

The retrieval configurations of :func:`~mmgen_core.retrieval.isr.claims_grid` retrieve really different melodies
(exact Flat down to a one-candidate HNSW walk). For each: its ISR in both forms (eq. 8 between the melody and
the audio index with the test captions as queries, and the per-item form on the training clips), and the top-1
melody each test caption retrieves. Every caption is then generated with the melody it retrieves, with the same
noise in every configuration (one seed per clip and sampling seed), so that two configurations differ only where
their retrievals differ. A generation is made once per (mode, clip, retrieved item, sampling seed) and shared by
every configuration that retrieves that melody for that caption (:class:`GenerationCache`): the grid costs the
distinct (caption, melody) pairs, not configurations × captions.

Each distinct retrieved set is one system of the evaluation harness (FAD∞ and KID against the test clips' references,
per-clip means of chroma to the target melody and text–audio score), measured for every UNet training seed of
``claims.isr_seeds``. The claim's effect is Spearman ρ(ISR, quality) over the configurations, signed so that
positive means "a higher ISR gives better music": one ρ per training run (and without each clip in turn), its
interval at the level of the training run (docs/method.md §2.8). The grid is a fixed design, not a sample, so the
interval is conditional on the configurations tried."""
from __future__ import annotations

import dataclasses
import json
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Hashable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from mmgen_core.data.manifest import Item
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import Measurements, lower_is_better
from mmgen_core.evaluation.intervals import Effect, run_level_interval
from mmgen_core.reproduction.claims import ISR_CLAIM, ClaimsConfig, empty_row, _row
from mmgen_core.reproduction.table1 import ResultsConfig
from mmgen_core.retrieval.index import IndexConfig, RetrievalError, SearchResult, VectorDB
from mmgen_core.retrieval.isr import claims_grid, per_item_isr, query_intersections, recall_at_k
from mmgen_core.retrieval.stage import retrieve
from mmgen_core.stages import Stages

ISR_METRICS = ("fad_inf", "kid", "text_audio", "chroma_target")  # FAD∞ is the claim's; the others exploratory
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
    overlaps: np.ndarray | None = None  # (configurations, clips) each caption's eq. 8 term |top-K(m) ∩ top-K(a)| / K

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
                 progress: bool = False) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Per configuration: eq. 8 ISR between its melody and audio index with ``queries`` (and each query's term of
    it), per-item ISR (audio i finds melody i in its top-K, over the database), recall@K against Flat, and each
    query's top-1 row (an approximate search that finds nothing is filled from an exact scan, as generation does).
    Configurations faiss cannot build on these vectors are left out with the reason. Returns (table, rows, per-query
    terms, left out)."""
    k = min(k, len(ids))
    exact = VectorDB.build(melody, ids, IndexConfig("flat"))
    exact_top = exact.search(queries, k)
    exact_rows = exact_top.indices[:, 0]
    records, rows, overlaps, skipped, sets = [], [], [], [], {}
    for config in tqdm(configs, desc="claims grid", disable=not progress):
        try:
            melody_db, audio_db = VectorDB.build(melody, ids, config), VectorDB.build(audio, ids, config)
        except (RetrievalError, RuntimeError) as e:  # RuntimeError: a faiss limit this module does not know
            skipped.append(f"{config.label}: {str(e).splitlines()[0]}")
            continue
        top = retrieve(melody_db, queries, 1).indices[:, 0]
        set_id = sets.setdefault(tuple(top), len(sets))
        terms = query_intersections(melody_db, audio_db, queries, k)
        records.append({"config": melody_db.config.label, "kind": config.kind,
                        "params": json.dumps(melody_db.config.params(), sort_keys=True),
                        "isr": float(terms.mean()),
                        "isr_per_item": per_item_isr(melody_db, audio, k),
                        "recall_at_k": recall_at_k(melody_db.search(queries, k), exact_top),
                        "items_retrieved": len(set(top)), "changed_vs_exact": int((top != exact_rows).sum()),
                        "retrieved_set": set_id})
        rows.append(top)
        overlaps.append(terms)
    if not records:
        raise RetrievalError(f"no configuration of the grid could be built ({'; '.join(skipped)})")
    return pd.DataFrame(records), np.stack(rows), np.stack(overlaps), skipped


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
    table, rows, overlaps, failed = measure_grid(emb.melody, emb.audio, emb.ids, queries, configs, k, progress)
    return IsrGrid(table, rows, items, queries, skipped + failed, min(k, len(emb.ids)), overlaps)


@dataclass
class IsrRun:
    """One mode's generations over the grid: the harness with one system per distinct retrieved set (its training
    seeds as runs), and how many generations were made and reused."""
    mode: str
    grid: IsrGrid
    harness: Measurements
    made: int
    reused: int
    n_seeds: int

    @staticmethod
    def system(set_id: int) -> str:
        return f"retrieved set {set_id}"

    def n_text(self) -> str:
        """What the ρ of this run is measured over."""
        points = self.grid.table.drop_duplicates(["isr", "retrieved_set"])
        runs = len(self.harness.train_seeds(self.harness.systems()[0]))
        return (f"{len(points)} distinct (ISR, generation) points of {len(self.grid.table)} configurations × "
                f"{len(self.grid.items)} clips × {self.n_seeds} sampling seed{'s' * (self.n_seeds > 1)} × "
                f"{runs} training seed{'s' * (runs > 1)}")


def isr_generations(stages: Stages, grid: IsrGrid, mode: str, cfg: ClaimsConfig, results: ResultsConfig,
                    eval_cfg: EvaluationConfig, cache: GenerationCache | None = None) -> IsrRun:
    """Generate every test caption with the melody each configuration retrieves (``mode``: mmgen or mmgen+roll,
    the UNet of each training seed of ``claims.isr_seeds``), one clip per (training seed, clip, melody, sampling
    seed) shared through ``cache``; measure every distinct retrieved set through the harness (cached on disk)."""
    if mode not in ("mmgen", "mmgen+roll"):
        raise ValueError(f"the ISR experiment generates with a retrieved melody: mode mmgen or mmgen+roll, not {mode!r}")
    cache = cache if cache is not None else GenerationCache()
    made0, reused0 = cache.made, cache.reused
    h = stages.harness(grid.items, eval_cfg)
    gen = PinnedGenerator(stages, mode, grid.items, results, cache)
    first = grid.table.drop_duplicates("retrieved_set").index  # one configuration per distinct set
    retrieved = {IsrRun.system(int(grid.table.loc[i, "retrieved_set"])): [gen.base.ids[int(r)] for r in grid.rows[i]]
                 for i in first}

    def key(system: str, t: int, k: int) -> str:
        return json.dumps([gen.unet_name(t), retrieved[system], k, gen.sampling])

    h.collect([(s, t, k) for t in cfg.isr_seeds for s in retrieved for k in cfg.seeds], key,
              lambda system, t, k: (gen.clips(t, k, list(enumerate(retrieved[system]))), None), f"ISR grid, {mode}")
    return IsrRun(mode, grid, h, cache.made - made0, cache.reused - reused0, len(cfg.seeds))


class PinnedGenerator:
    """One mode's clips, each test caption with a given melody (a :class:`PinnedRetrieval` of the melody database),
    made once per (training seed, clip, melody, sampling seed) through a shared :class:`GenerationCache`, with the
    clip's own noise (:func:`clip_seed`): two configurations differ only where their melodies do."""

    def __init__(self, stages: Stages, mode: str, items: Sequence[Item], results: ResultsConfig,
                 cache: GenerationCache):
        self.stages, self.mode, self.items, self.results, self.cache = stages, mode, list(items), results, cache
        self.base = stages.melody_db
        self.row_of = {item_id: r for r, item_id in enumerate(self.base.ids)}
        self.sampling = json.dumps([results.label(), dataclasses.asdict(stages.generation_config)], default=str)
        self._pipes: dict[int, object] = {}

    def unet_name(self, t: int) -> str:
        """The artifact folder of training seed ``t``'s UNet: what the generations' cache keys name."""
        return self.stages.with_unet_seed(t).unet_folder(self.mode).name

    def _pipe(self, t: int):
        if t not in self._pipes:
            self._pipes.clear()  # one UNet in memory at a time
            st = self.stages.with_unet_seed(t)
            self._pipes[t] = st.pipeline_of(st.unet(self.mode)[0], replace(st.generation_config, mode=self.mode))
        return self._pipes[t]

    def clips(self, t: int, k: int, pairs: Sequence[tuple[int, str]]) -> list[np.ndarray]:
        """The clip of each (test clip index, melody item id) of ``pairs``, training seed ``t``, sampling seed ``k``."""
        def make(keys: list[tuple]) -> list[np.ndarray]:  # keys: (mode, training seed, clip, item, sampling seed)
            pipe, wavs = self._pipe(t), []
            for _, _, c, item_id, _ in keys:
                pipe.melody_db = PinnedRetrieval(self.base, [self.row_of[item_id]])
                try:
                    gen = pipe([self.items[c].caption], seed=clip_seed(self.items[c].id, k), sampler=self.results.sampler,
                               steps=self.results.steps, clip_x0=self.results.clip_x0, candidates=1, progress=False)
                finally:
                    pipe.melody_db = self.base
                wavs.append(gen.waveforms[0])
            return wavs

        return self.cache.get([(self.mode, t, int(c), item_id, k) for c, item_id in pairs], make)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either side has no variance (nothing to rank)."""
    if len(set(np.round(x, 9))) < 2 or len(set(np.round(y, 9))) < 2:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def rank_effect(x: Sequence[float], systems: Sequence[str], harness: Measurements, metric: str, name: str, n: str,
                margin: float = float("nan")) -> Effect | None:
    """Spearman ρ(x, quality) over points (x_i, system_i), quality = ``metric`` of system i signed so that higher is
    better (FAD∞ and KID negated): positive = a higher x goes with better quality.

    Repeated (x, system) points count once. One ρ per training run, and one without each clip in turn (the
    systems' qualities recomputed without it), give the interval at the level of the training run. A clip draw on
    which every system scores alike shows no association and counts as ρ = 0. None with fewer than
    :data:`MIN_POINTS` distinct points or nothing to rank."""
    pts = list(dict.fromkeys(zip(np.round(np.asarray(x, dtype=float), 9), systems)))
    if len(pts) < MIN_POINTS:
        return None
    sign = -1.0 if lower_is_better(metric) else 1.0
    xs = np.array([p[0] for p in pts])
    seeds = harness.train_seeds(pts[0][1])
    quality = np.stack([sign * harness.run_values(s, metric, seeds) for _, s in pts])  # (points, T, C+1)
    rho = np.array([[rank_correlation(xs, quality[:, t, j])[0] for j in range(quality.shape[2])]
                    for t in range(quality.shape[1])])
    if np.isnan(rho[:, 0]).all():
        return None
    est, low, high, _ = run_level_interval(np.nan_to_num(rho, nan=0.0), harness.cfg.confidence)
    return Effect(name, est, max(-1.0, low), min(1.0, high), n, margin, runs=len(seeds))


def isr_effect_of(run: IsrRun, metric: str = "fad_inf", by: str = "isr", margin: float = float("nan")) -> Effect | None:
    """ρ(``by``, quality ``metric``) of one mode's run over the grid's configurations (:func:`rank_effect`)."""
    t = run.grid.table
    sign = "−" if lower_is_better(metric) else ""
    label = "ISR" if by == "isr" else "per-item ISR"
    return rank_effect(t[by], [IsrRun.system(s) for s in t["retrieved_set"]], run.harness, metric,
                       f"Spearman ρ({label}, {sign}{metric}), {run.mode}", run.n_text(), margin)


def isr_table(runs: dict[str, IsrRun]) -> pd.DataFrame:
    """One row per (mode, configuration): the grid's columns and every metric's estimate and 95% interval."""
    rows = []
    for mode, run in runs.items():
        for _, g in run.grid.table.iterrows():
            system = IsrRun.system(int(g["retrieved_set"]))
            row = {"mode": mode, **g.to_dict()}
            for m in ISR_METRICS:
                e = run.harness.interval(system, m)
                row.update({m: e.estimate, f"{m}_low": e.low, f"{m}_high": e.high})
            rows.append(row)
    return pd.DataFrame(rows)


def isr_effects(runs: dict[str, IsrRun], by: str = "isr", margin: float = float("nan")) -> pd.DataFrame:
    """ρ(ISR, quality) of every mode and metric with its interval; the outcome (with ``margin``) for the claim's
    measure (FAD∞), the others exploratory; empty rows where nothing ranks."""
    rows = []
    for mode, run in runs.items():
        for m in ISR_METRICS:
            e = isr_effect_of(run, m, by, margin if m == "fad_inf" else float("nan"))
            rows.append({"mode": mode, "metric": m, "effect": e.name if e else "",
                         "estimate": e.estimate if e else np.nan, "low": e.low if e else np.nan,
                         "high": e.high if e else np.nan,
                         "margin": margin if m == "fad_inf" else np.nan, "n": run.n_text(),
                         "verdict": "exploratory" if m != "fad_inf" else e.verdict if e else "inconclusive"})
    return pd.DataFrame(rows)


def isr_claim_row(runs: dict[str, IsrRun], mode: str = "mmgen", by: str = "isr", margin: float = float("nan"),
                  per_caption: dict[str, CaptionRun] | None = None, reach: str = "") -> dict:
    """The claims-table row: ρ(ISR, −FAD∞) of ``mode`` (the paper's MMGen) with its outcome (``margin``: the ρ inside
    which there is no association worth the name); ρ with KID, chroma and text–audio, the other modes'
    ρ(ISR, −FAD∞) and the per-caption ρ of ``mode`` (:func:`per_caption_effect`) as exploratory evidence; the grid in
    words, and ``reach``: whether the counterfactual finds that the melody moves the music at all
    (:func:`~mmgen_core.reporting.melody.reach_note`)."""
    run = runs[mode]
    note = (f"{run.grid.describe()}; {run.made} generations made and {run.reused} reused by configurations "
            f"retrieving the same melody (notebook 09)" + (f"; {reach}" if reach else ""))
    head = isr_effect_of(run, "fad_inf", by, margin)
    if head is None:
        return empty_row(ISR_CLAIM, f"not measurable: fewer than {MIN_POINTS} distinct (ISR, generation) points "
                                    f"or nothing to rank; {note}")
    support = [e for e in (isr_effect_of(run, m, by) for m in ISR_METRICS[1:]) if e is not None]
    support += [e for other, r in runs.items() if other != mode
                for e in [isr_effect_of(r, "fad_inf", by)] if e is not None]
    if per_caption and mode in per_caption:
        support += [e for e in (per_caption_effect(per_caption[mode], m) for m in CAPTION_METRICS) if e is not None]
    return _row(ISR_CLAIM, [head, *support], note)


# ----------------------------------------------------------------------------- the claim per caption

CAPTION_METRICS = ("emb_dist", "text_audio", "chroma_target")  # per clip: set distances have no per-caption value
CAPTION_SYSTEM = "caption pairs"


def caption_pairs(grid: IsrGrid) -> pd.DataFrame:
    """One row per (test caption, melody some configuration retrieves for it) for every caption whose top-1 melody
    differs between exact search (the grid's Flat configuration) and some other configuration: the clip, the
    melody's database row, whether exact search retrieves it, its intersection (eq. 8's term for this caption,
    averaged over the configurations retrieving this melody for it) and those configurations."""
    if grid.overlaps is None:
        raise ValueError("the grid carries no per-query intersections; measure it with isr_grid / measure_grid")
    flat = np.flatnonzero(grid.table["kind"].to_numpy() == "flat")
    if not len(flat):
        raise ValueError("the per-caption comparison needs exact search (a flat configuration) in the grid")
    rows = []
    for c, item in enumerate(grid.items):
        by_melody: dict[int, list[int]] = {}
        for i, r in enumerate(grid.rows[:, c]):
            by_melody.setdefault(int(r), []).append(i)
        if len(by_melody) < 2:
            continue
        exact = int(grid.rows[flat[0], c])
        rows += [{"clip": c, "clip_id": item.id, "melody_row": r, "exact": r == exact,
                  "intersection": float(grid.overlaps[configs, c].mean()),
                  "configs": ", ".join(grid.table["config"].iloc[configs])} for r, configs in by_melody.items()]
    return pd.DataFrame(rows, columns=["clip", "clip_id", "melody_row", "exact", "intersection", "configs"])


@dataclass
class CaptionRun:
    """The claim per caption for one mode: every (caption, melody) pair of :func:`caption_pairs` generated with the
    caption's own noise, per UNet training seed and sampling seed, as one harness system whose clips are the pairs."""
    mode: str
    pairs: pd.DataFrame
    harness: Measurements | None  # None when no caption's top-1 differs
    seeds: list[int]  # sampling seeds

    def values(self, metric: str) -> np.ndarray:
        """``(T, pairs)``: each pair's ``metric`` per training run, averaged over the sampling seeds."""
        h = self.harness
        return np.array([[np.mean([h.sets[CAPTION_SYSTEM, t, k].clips[j].values[metric] for k in self.seeds])
                          for j in range(len(self.pairs))] for t in h.train_seeds(CAPTION_SYSTEM)])

    def deltas(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per approximate pair: its caption, Δ intersection and, per training run, Δ ``metric`` (``(T, pairs)``),
        each minus its caption's exact melody's, the metric signed so that positive is better."""
        p = self.pairs.reset_index(drop=True)
        exact_of = {c: j for j, (c, e) in enumerate(zip(p["clip"], p["exact"])) if e}
        other = [j for j in range(len(p)) if not p.at[j, "exact"]]
        ref = [exact_of[p.at[j, "clip"]] for j in other]
        q = (-1.0 if lower_is_better(metric) else 1.0) * self.values(metric)
        return (p.loc[other, "clip"].to_numpy(), p.loc[other, "intersection"].to_numpy()
                - p.loc[ref, "intersection"].to_numpy(), q[:, other] - q[:, ref])

    def deltas_table(self) -> pd.DataFrame:
        """One row per approximate pair: caption, configurations, Δ intersection and each metric's Δ (mean over
        training runs; positive = better than the caption's exact melody)."""
        if self.harness is None:
            return pd.DataFrame(columns=["mode", "clip", "configs", "d_intersection"])
        p = self.pairs[~self.pairs["exact"]]
        out = pd.DataFrame({"mode": self.mode, "clip": p["clip_id"].to_numpy(), "configs": p["configs"].to_numpy(),
                            "d_intersection": self.deltas(CAPTION_METRICS[0])[1]})
        for m in CAPTION_METRICS:
            out[f"d_{m}"] = self.deltas(m)[2].mean(axis=0)
        return out

    def n_text(self) -> str:
        approx = int((~self.pairs["exact"]).sum())
        runs = len(self.harness.train_seeds(CAPTION_SYSTEM)) if self.harness else 0
        return (f"{approx} (caption, approximate melody) pairs of {self.pairs['clip'].nunique()} captions × "
                f"{len(self.seeds)} sampling seed{'s' * (len(self.seeds) > 1)} × {runs} training seed{'s' * (runs > 1)}")


def isr_per_caption(stages: Stages, grid: IsrGrid, mode: str, cfg: ClaimsConfig, results: ResultsConfig,
                    eval_cfg: EvaluationConfig, cache: GenerationCache | None = None) -> CaptionRun:
    """Generate every pair of :func:`caption_pairs` for each UNet training seed of ``claims.isr_seeds`` and sampling
    seed of ``claims.isr_caption_seeds`` (clips shared with :func:`isr_generations` through ``cache``), and measure
    them per clip through the harness (cached on disk); nothing when fewer than :data:`MIN_POINTS` approximate pairs
    could be ranked."""
    pairs = caption_pairs(grid)
    seeds = list(cfg.isr_caption_seeds)
    if int((~pairs["exact"]).sum()) < MIN_POINTS or not seeds:  # nothing to rank: nothing generated
        return CaptionRun(mode, pairs, None, seeds)
    h = stages.harness([grid.items[c] for c in pairs["clip"]], eval_cfg)
    gen = PinnedGenerator(stages, mode, grid.items, results, cache if cache is not None else GenerationCache())
    wanted = [(int(c), gen.base.ids[int(r)]) for c, r in zip(pairs["clip"], pairs["melody_row"])]

    def key(system: str, t: int, k: int) -> str:
        return json.dumps(["per caption", gen.unet_name(t), wanted, k, gen.sampling])

    h.collect([(CAPTION_SYSTEM, t, k) for t in cfg.isr_seeds for k in seeds], key,
              lambda system, t, k: (gen.clips(t, k, wanted), None), f"ISR per caption, {mode}")
    return CaptionRun(mode, pairs, h, seeds)


def per_caption_effect(run: CaptionRun, metric: str = "emb_dist") -> Effect | None:
    """Spearman ρ, over the approximate (caption, melody) pairs, of Δ intersection against Δ quality (each minus the
    caption's exact melody's; quality signed so that higher is better): positive = where an approximate index
    retrieves a melody with a higher intersection than exact search's for that caption, the music is better too.
    One ρ per training run and one without each caption in turn give the interval (docs/method.md §2.7); None with
    fewer than :data:`MIN_POINTS` pairs or nothing to rank."""
    if run.harness is None or int((~run.pairs["exact"]).sum()) < MIN_POINTS:
        return None
    clips, dx, dq = run.deltas(metric)
    keep = [np.ones(len(clips), bool)] + [clips != c for c in sorted(set(clips))]
    rho = np.array([[rank_correlation(dx[m], dq[t, m])[0] for m in keep] for t in range(len(dq))])
    if np.isnan(rho[:, 0]).all():
        return None
    est, low, high, _ = run_level_interval(np.nan_to_num(rho, nan=0.0), run.harness.cfg.confidence)
    name = f"Spearman ρ(Δ intersection, Δ{'−' if lower_is_better(metric) else ''}{metric}) per caption, {run.mode}"
    return Effect(name, est, max(-1.0, low), min(1.0, high), run.n_text(), runs=len(dq))


def per_caption_effects(runs: dict[str, CaptionRun]) -> pd.DataFrame:
    """Every mode's per-caption ρ for each of :data:`CAPTION_METRICS` with its interval (exploratory: no outcome)."""
    rows = []
    for mode, run in runs.items():
        for m in CAPTION_METRICS:
            e = per_caption_effect(run, m)
            rows.append({"mode": mode, "metric": m, "effect": e.name if e else "",
                         "estimate": e.estimate if e else np.nan, "low": e.low if e else np.nan,
                         "high": e.high if e else np.nan, "n": run.n_text(), "verdict": "exploratory"})
    return pd.DataFrame(rows)
