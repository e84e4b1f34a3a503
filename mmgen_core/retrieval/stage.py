"""The retrieval stage: the profile's melody database, built once (index chosen by ISR) and reused."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmgen_core.artifacts import atomic_write, stage_dir
from mmgen_core.retrieval.config import RetrievalConfig
from mmgen_core.retrieval.index import (
    IndexConfig,
    RetrievalError,
    SearchResult,
    VectorDB,
    _unit_rows,
)
from mmgen_core.retrieval.isr import choose_config, grid_from_config, run_grid

GRID_FILE = "grid.csv"


@dataclass
class DatabaseStage:
    """The profile's melody database: the index in memory, its config, the grid that chose it, its folder."""
    db: VectorDB
    config: IndexConfig
    grid: pd.DataFrame | None  # the ISR grid on train melody vs audio (None when the profile fixes the index)
    folder: Path
    selected_by: str = "isr"   # the grid column that chose the index, or "profile" (a fixed index)
    reused: bool = False       # loaded from ``folder`` rather than built now


def save_grid(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a grid table as CSV (``params`` as JSON), atomically."""
    path = Path(path)
    out = df.assign(params=df["params"].map(lambda p: json.dumps(p, sort_keys=True)))
    atomic_write(path, lambda p: out.to_csv(p, index=False))
    return path


def load_grid(path: str | Path) -> pd.DataFrame:
    """Read a grid table written by :func:`save_grid` (``params`` back to dicts for ``choose_config``)."""
    df = pd.read_csv(path)
    return df.assign(params=df["params"].map(json.loads))


def _train_tokens(manifest: Any, ids: Sequence[str]) -> list[str]:
    """The melody token text of each database item (the text its melody embedding was computed from)."""
    by_id = {it.id: it for it in manifest.items("train")}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RetrievalError(f"{len(missing)} embedded train ids are not in the manifest (first: {missing[0]!r}); "
                             "the alignment artifact was made from other data: re-run notebook 03")
    tokens = [by_id[i].melody or by_id[i].melody_gt or "" for i in ids]
    empty = [i for i, t in zip(ids, tokens) if not t]
    if empty:
        raise RetrievalError(f"{len(empty)} train items have no melody tokens (first: {empty[0]!r}); "
                             "rebuild the dataset so that every clip has extracted melody tokens")
    return tokens


def load_or_build_database(cfg: RetrievalConfig, run: Any, manifest: Any, artifacts: Path, *,
                           build_missing: bool = True, progress: bool = True) -> DatabaseStage:
    """The melody database (docs/method.md §2.3) of the tri-modal aligner ``run``, reused when unchanged.

    Built from the train-split melody embeddings with each item's melody token text. With
    ``retrieval.index: auto`` the grid runs on train melody vs audio embeddings and the index with the
    highest ISR (``retrieval.select_by``; ties: the first in grid order, exact search first) is built, as
    the paper chooses; otherwise the configured index is built. The folder (keyed by the retrieval config
    and the aligner's folder) holds the index files and ``grid.csv``.
    """
    emb = run.embeddings("train")
    if emb.melody is None:
        raise RetrievalError(f"{run.folder}: this aligner has no melody tower "
                             f"(variant {getattr(run, 'variant', '?')!r}); "
                             "the melody database needs the tri-modal one")
    stage = stage_dir(artifacts, "retrieval", cfg, upstream=[Path(run.folder)])
    folder = stage.path
    if stage.done:
        db = VectorDB.load(folder)
        grid = load_grid(folder / GRID_FILE) if (folder / GRID_FILE).exists() else None
        return DatabaseStage(db, db.config, grid, folder, stage.info()["selected_by"], reused=True)
    stage.require(build_missing, "melody database", "run notebook 04_retrieval_isr (or `mmgen notebooks --only 04`)")
    tokens = _train_tokens(manifest, emb.ids)
    folder.mkdir(parents=True, exist_ok=True)
    grid, chosen, selected_by = None, cfg.fixed_index(), "profile"
    if chosen is None:
        grid = run_grid(emb.melody, emb.audio, emb.ids, grid_from_config(cfg, len(emb.ids)), cfg.k)
        chosen, selected_by = choose_config(grid, cfg.select_by), cfg.select_by
        save_grid(grid, folder / GRID_FILE)
    db = VectorDB.build(emb.melody, emb.ids, chosen, tokens=tokens)
    db.save(folder)
    stage.finish({"selected_by": selected_by, "label": db.config.label, "k": cfg.k, "n_items": len(db),
                  "alignment": Path(run.folder).name})
    return DatabaseStage(db, db.config, grid, folder, selected_by)


def retrieve(stage_or_db: DatabaseStage | VectorDB, query_vectors: Any, k: int = 1) -> SearchResult:
    """Top-``k`` melodies for each query vector (text or audio embedding; one vector or (Q, d)).

    One batched search. A hit an approximate index could not fill (IVF scanning too few clusters
    returns -1) is filled from an exact scan of that query, so every query gets ``k`` melodies.
    """
    db = stage_or_db.db if isinstance(stage_or_db, DatabaseStage) else stage_or_db
    q = np.asarray(query_vectors, dtype=np.float32)
    q = q[None] if q.ndim == 1 else q
    result = db.search(q, k)
    indices, scores = result.indices.copy(), result.scores.copy()
    holes = np.flatnonzero((indices < 0).any(axis=1))
    if len(holes):
        qn = _unit_rows(q[holes], "queries", db.dim)
        exact = qn @ db.vectors.T
        top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        indices[holes], scores[holes] = top, np.take_along_axis(exact, top, 1)
    ids = [[db.ids[j] for j in row] for row in indices]
    tokens = None if db.tokens is None else [[db.tokens[j] for j in row] for row in indices]
    return SearchResult(scores, indices, ids, db.vectors[indices], tokens)
