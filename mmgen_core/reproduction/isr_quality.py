"""Does a higher Intersection Rate give better generation? One generation per retrieved set, scored by FAD∞."""
from __future__ import annotations

import ast
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.evaluation.intervals import Effect, centred_interval
from mmgen_core.evaluation.evaluate import EvaluationConfig, evaluate_set
from mmgen_core.reproduction.table1 import ResultsConfig
from mmgen_core.retrieval.index import IndexConfig, VectorDB
from mmgen_core.stages import Stages


def isr_vs_quality(stages: Stages, grid: pd.DataFrame, cfg: ResultsConfig, eval_cfg: EvaluationConfig,
                   progress: bool = True, by: str = "isr") -> pd.DataFrame:
    """Generate with MMGen under each retrieval configuration of the grid and measure FAD∞ and KID: does a
    configuration with a higher Intersection Rate give better music (the paper's claim)?"""
    pipe = stages.pipeline("mmgen")
    base = pipe.melody_db
    manifest = stages.dataset
    items = manifest.items("test")[:cfg.isr_clips or None]
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    vectors = base.embeddings(np.arange(len(base)))
    queries = pipe.embedder.embed_text(captions).float().cpu().numpy()
    eval_cfg = replace(eval_cfg, fad_inf=True, bootstrap=0)
    rows, scored = [], {}
    for _, g in tqdm(list(grid.iterrows()), desc="ISR vs FAD", disable=not progress):
        params = ast.literal_eval(g["params"]) if isinstance(g["params"], str) else g["params"]
        pipe.melody_db = VectorDB.build(vectors, base.ids, IndexConfig(kind=g["kind"], **params), tokens=base.tokens)
        picked = tuple(pipe.melody_db.search(queries, k=1).indices[:, 0])
        if picked not in scored:  # same retrieved melodies + same seed → the same audio: score it once
            gen = pipe(captions, seed=0, sampler=cfg.sampler, steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=1,
                       progress=False)
            scored[picked] = evaluate_set(list(gen.waveforms), refs, config=eval_cfg)
        res = scored[picked]
        rows.append({"config": g["label"], "isr": g[by], "fad_inf": res["fad_inf"], "kid": res["kid"],
                     "fad": res["fad"], "generation": list(scored).index(picked), "retrieved_unique": len(set(picked))})
    pipe.melody_db = base
    return pd.DataFrame(rows)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either side has no variance (nothing to rank)."""
    if len(set(np.round(x, 9))) < 2 or len(set(np.round(y, 9))) < 2:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def rank_effect(x: Sequence[float], y: Sequence[float], name: str, what: str = "points", n_boot: int = 1000,
                seed: int = 0, confidence: float = 0.95) -> Effect | None:
    """Spearman ρ(x, y) with a bootstrap interval over the points (resamples without two distinct values on
    either side are dropped); None with fewer than 4 points or nothing to rank."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho, _ = rank_correlation(x, y)
    if len(x) < 4 or np.isnan(rho):
        return None
    rng = np.random.default_rng(seed)
    reps = [rank_correlation(x[i], y[i])[0] for i in rng.integers(0, len(x), (n_boot, len(x)))]
    low, high = centred_interval(rho, reps, confidence)
    return Effect(name, rho, max(-1.0, low), min(1.0, high), f"{len(x)} {what}")


def isr_effect(isr: pd.DataFrame, quality: str = "fad_inf") -> tuple[Effect | None, str]:
    """ρ(ISR, −``quality``) over the distinct (ISR, generation) points of :func:`isr_vs_quality` (positive = a
    higher ISR gives better music, the paper's direction) and a note on how many distinct generations there were.
    Configurations that retrieve the same melodies generate the same audio: counting each copy would inflate n."""
    points = isr.drop_duplicates(["isr", "generation"])
    n_gen = int(isr["generation"].nunique())
    note = (f"{len(isr)} retrieval configurations retrieved {n_gen} distinct sets of melodies for the test captions "
            f"({len(points)} distinct (ISR, {quality}) points)")
    return (rank_effect(points["isr"], -points[quality], f"Spearman ρ(ISR, −{quality})",
                        "distinct (ISR, generation) points"), note)
