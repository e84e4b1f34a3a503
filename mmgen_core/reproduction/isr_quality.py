"""Does a higher Intersection Rate give better generation? One generation per retrieved set."""
from __future__ import annotations

import ast
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.evaluation.evaluate import EvaluationConfig, evaluate_set
from mmgen_core.reproduction.table1 import ResultsConfig
from mmgen_core.retrieval.index import IndexConfig, VectorDB
from mmgen_core.stages import Stages


def isr_vs_quality(stages: Stages, grid: pd.DataFrame, cfg: ResultsConfig, eval_cfg: EvaluationConfig,
                   progress: bool = True, by: str = "isr") -> pd.DataFrame:
    """Generate with MMGen under each retrieval configuration of the grid and measure FAD: does a
    configuration with a higher Intersection Rate give better music (the paper's claim)?"""
    pipe = stages.pipeline("mmgen")
    base = pipe.melody_db
    manifest = stages.dataset
    items = manifest.items("test")[:cfg.isr_clips or None]
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    vectors = base.embeddings(np.arange(len(base)))
    tokens = [base.tokens_of(i) for i in range(len(base))]
    queries = pipe.embedder.embed_text(captions).float().cpu().numpy()
    rows, scored = [], {}
    for _, g in tqdm(list(grid.iterrows()), desc="ISR vs FAD", disable=not progress):
        params = ast.literal_eval(g["params"]) if isinstance(g["params"], str) else g["params"]
        pipe.melody_db = VectorDB.build(vectors, base.ids, IndexConfig(kind=g["kind"], **params), tokens=tokens)
        picked = tuple(pipe.melody_db.search(queries, k=1).indices[:, 0])
        if picked not in scored:  # same retrieved melodies + same seed → the same audio: score it once
            gen = pipe(captions, seed=0, sampler=cfg.sampler, steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=1,
                       progress=False)
            scored[picked] = evaluate_set(list(gen.waveforms), refs, config=eval_cfg)
        res = scored[picked]
        rows.append({"config": g["label"], "isr": g[by], "fad": res["fad"], "kl": res["kl"],
                     "generation": list(scored).index(picked), "retrieved_unique": len(set(picked))})
    pipe.melody_db = base
    return pd.DataFrame(rows)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either side has no variance (nothing to rank)."""
    if len(set(np.round(x, 9))) < 2 or len(set(np.round(y, 9))) < 2:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def isr_fad_correlation(isr: pd.DataFrame) -> tuple[float, float, int, int]:
    """Spearman ρ, p over the distinct (ISR, generation) points of :func:`isr_vs_quality`, the number of
    those points and of distinct generations. Configurations that retrieve the same melodies generate
    the same audio; counting each copy would inflate the significance."""
    points = isr.drop_duplicates(["isr", "generation"])
    rho, p = rank_correlation(points["isr"], points["fad"])
    return rho, p, len(points), int(isr["generation"].nunique())
