"""Intersection Rate (ISR, paper eq. 8) and the index-selection grid (docs/method.md §2.3).

Two databases hold the same items in two modalities (melody and audio embeddings, same ids).
For a query q, R1 and R2 are the top-K ids from each; ``ISR = |R1 ∩ R2| / K``, averaged over
queries. The authors' script used a per-item form instead: audio i searches the melody index and
scores 1 when melody i is in its top-K. The index type and parameters are chosen by highest ISR
(official best on MusicCaps: HNSW M32/efC2048/efS128, ISR 0.632, equal to Flat).

Official defects avoided here: their grid shares one IVF quantizer between the audio and melody
indexes (training the second retrains the first's quantizer after its lists were filled) and
trains IVF batch by batch (only the last batch counts); every index below is built on its own."""
from __future__ import annotations

import math
import statistics
import time
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmgen_core.retrieval.config import RetrievalConfig
from mmgen_core.retrieval.index import (
    IndexConfig,
    RetrievalError,
    SearchResult,
    VectorDB,
)

IVF_NPROBES = (1, 4, 16)
HNSW_MS = (16, 32)
HNSW_EF_CONSTRUCTION = (64, 256, 1024, 2048)
HNSW_EF_SEARCH = (16, 32, 64, 128)


def _overlaps(r1: SearchResult, r2: SearchResult, k: int) -> np.ndarray:
    """Per query |R1 ∩ R2| / K, by item id."""
    return np.array([len(set(a) & set(b)) / k for a, b in zip(r1.ids, r2.ids)])


def _check_same_items(db1: VectorDB, db2: VectorDB) -> None:
    if len(db1) != len(db2) or set(db1.ids) != set(db2.ids):
        raise RetrievalError("ISR compares two databases of the same items (same ids) in two modalities; "
                             f"these hold {len(db1)} and {len(db2)} items with different ids")


def query_intersections(db1: VectorDB, db2: VectorDB, queries: np.ndarray, k: int) -> np.ndarray:
    """Eq. 8's term of each query: |top-K(db1) ∩ top-K(db2)| / K."""
    _check_same_items(db1, db2)
    return _overlaps(db1.search(queries, k), db2.search(queries, k), k)


def intersection_rate(db1: VectorDB, db2: VectorDB, queries: np.ndarray, k: int) -> float:
    """Paper eq. 8: mean over queries of |top-K(db1) ∩ top-K(db2)| / K."""
    return float(query_intersections(db1, db2, queries, k).mean())


def per_item_isr(db: VectorDB, queries: np.ndarray, k: int,
                 query_ids: Sequence[str] | None = None) -> float:
    """Authors' form: fraction of queries i whose own item (``query_ids[i]``, default db.ids[i]) is in the top-K."""
    query_ids = list(db.ids if query_ids is None else query_ids)
    result = db.search(queries, k)
    if len(query_ids) != len(result.ids):
        raise RetrievalError(f"{len(result.ids)} queries but {len(query_ids)} query ids; give one id per query")
    return float(np.mean([qid in hits for qid, hits in zip(query_ids, result.ids)]))


def recall_at_k(approx_result: SearchResult, exact_result: SearchResult) -> float:
    """Mean share of the exact (Flat) top-K that the approximate search also returned."""
    if approx_result.indices.shape != exact_result.indices.shape:
        raise RetrievalError(f"results differ in shape: {approx_result.indices.shape} vs {exact_result.indices.shape}")
    k = exact_result.indices.shape[1]
    return float(np.mean([len(set(a[a >= 0]) & set(e)) / k
                          for a, e in zip(approx_result.indices, exact_result.indices)]))


def default_grid(n_items: int) -> list[IndexConfig]:
    """Flat; IVF nlist≈sqrt(N), nprobe 1/4/16; HNSW M16/32 × efC 64–2048 × efS 16–128, capped at N."""
    if n_items < 1:
        raise RetrievalError("the grid needs at least one item")
    nlist = min(n_items, max(1, round(math.sqrt(n_items))))
    grid = [IndexConfig("flat")]
    grid += [IndexConfig("ivf", nlist=nlist, nprobe=p) for p in sorted({min(p, nlist) for p in IVF_NPROBES})]
    # candidate lists longer than N behave like N: drop them so small databases get no duplicates
    efcs = [e for e in HNSW_EF_CONSTRUCTION if e <= max(HNSW_EF_CONSTRUCTION[0], n_items)]
    efss = [e for e in HNSW_EF_SEARCH if e <= max(HNSW_EF_SEARCH[0], n_items)]
    grid += [IndexConfig("hnsw", M=m, ef_construction=c, ef_search=s) for m in HNSW_MS for c in efcs for s in efss]
    return grid


CLAIMS_NPROBES = (1, 2, 4, 8)       # IVF with ~4 items per list: nprobe 1 scans ~4/N of the database
CLAIMS_PQ_MS = (1, 2, 4)            # PQ with 1–4 codes per vector (1–4 bytes at 8 bits)
CLAIMS_HNSW_EF_SEARCH = (1, 2, 4)   # HNSW M4: a greedy walk that stops after 1–4 candidates
CLAIMS_MAX_NLIST = 4096


def claims_grid(n_items: int, dim: int) -> tuple[list[IndexConfig], list[str]]:
    """Index configurations whose retrievals really differ, for "a higher ISR gives better music" (paper §4.2.1).

    :func:`default_grid` holds configurations good enough to choose an index from: on a few hundred items they
    all retrieve nearly what exact search does, so they cannot test whether ISR tracks quality. This grid spans
    the range on purpose: exact Flat; IVF with many small lists (``nlist = N/4``, ~4 items per list) searched
    with nprobe 1, 2, 4, 8; PQ with 1, 2 or 4 codes of ``min(8, log2 N)`` bits per vector (an exhaustive scan
    of coarse codes); one IVF-PQ (``nlist = sqrt(N)``, nprobe 1, 2 codes); HNSW with M 4 and efSearch 1, 2, 4.

    faiss limits, checked here so that no build fails: k-means needs at least as many training vectors as
    clusters (IVF: ``nlist <= N``; PQ: ``2**bits <= N`` per code) and PQ needs ``pq_m`` to divide ``dim``.
    Returns the configurations and one sentence per family left out (empty when none is), for small ``N``.
    """
    if n_items < 1 or dim < 1:
        raise RetrievalError(f"the claims grid needs at least one item and dimension >= 1 (got {n_items}, {dim})")
    grid, skipped = [IndexConfig("flat")], []
    nlist = min(CLAIMS_MAX_NLIST, n_items // 4)
    nprobes = [p for p in CLAIMS_NPROBES if p < nlist]  # nprobe = nlist is exact search again
    if nprobes:
        grid += [IndexConfig("ivf", nlist=nlist, nprobe=p) for p in nprobes]
    else:
        skipped.append(f"IVF: {n_items} items make {nlist} list(s) of ~4 items, too few to search only some of them "
                       "(needs N >= 8)")
    bits = min(8, int(math.log2(n_items))) if n_items > 1 else 0
    ms = [m for m in CLAIMS_PQ_MS if dim % m == 0]
    if bits < 2:
        skipped.append(f"PQ, IVF-PQ: {n_items} items cannot train codebooks of >= 4 centroids (needs N >= 4)")
    elif not ms:
        skipped.append(f"PQ, IVF-PQ: no code count in {CLAIMS_PQ_MS} divides the dimension {dim}")
    else:
        grid += [IndexConfig("pq", pq_m=m, pq_bits=bits) for m in ms]
        coarse = max(1, round(math.sqrt(n_items)))
        if coarse >= 2 and dim % 2 == 0:
            grid.append(IndexConfig("ivfpq", nlist=coarse, nprobe=1, pq_m=2, pq_bits=bits))
        else:
            skipped.append(f"IVF-PQ: {n_items} items make fewer than 2 coarse lists" if coarse < 2 else
                           f"IVF-PQ: 2 codes do not divide the dimension {dim}")
    efs = [e for e in CLAIMS_HNSW_EF_SEARCH if e < n_items]
    grid += [IndexConfig("hnsw", M=4, ef_construction=16, ef_search=e) for e in efs]
    if not efs:
        skipped.append(f"HNSW: {n_items} item(s) leave nothing for a short graph walk to miss")
    return grid, skipped


def grid_from_config(cfg: RetrievalConfig, n_items: int) -> list[IndexConfig]:
    """The configurations a profile asks for: ``default_grid(N)`` or its explicit list."""
    return default_grid(n_items) if cfg.grid == "default" else [IndexConfig(**c) for c in cfg.grid]


def _timed_search(db: VectorDB, queries: np.ndarray, k: int, repeats: int) -> tuple[SearchResult, float]:
    """Search result and the median wall time (s) of ``repeats`` batched searches."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = db.search(queries, k)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def run_grid(melody_vecs: np.ndarray, audio_vecs: np.ndarray, ids: Sequence[str],
             configs: Sequence[IndexConfig], k: int, query_vecs: np.ndarray | None = None,
             repeats: int = 3) -> pd.DataFrame:
    """Per config: ISR (eq. 8 and per-item), recall@K vs Flat, build time, batched latency, index size.

    Queries default to the audio embeddings (music-to-music); per-item ISR is always audio i → melody i.
    Configs differing only in nprobe/efSearch share one build and report its build time."""
    queries = audio_vecs if query_vecs is None else query_vecs
    exact = VectorDB.build(melody_vecs, ids, IndexConfig("flat")).search(queries, k)
    builds: dict[tuple, tuple[VectorDB, VectorDB, float]] = {}
    rows = []
    for config in tqdm(configs, desc="index grid"):
        if config.build_key() not in builds:
            start = time.perf_counter()
            melody_db = VectorDB.build(melody_vecs, ids, config)
            build_s = time.perf_counter() - start
            builds[config.build_key()] = (melody_db, VectorDB.build(audio_vecs, ids, config), build_s)
        melody_db, audio_db, build_s = builds[config.build_key()]
        for db in (melody_db, audio_db):
            db.set_search_params(nprobe=config.nprobe, ef_search=config.ef_search)
        result, seconds = _timed_search(melody_db, queries, k, repeats)
        n_queries = len(result.ids)
        rows.append({
            "label": melody_db.config.label, "kind": config.kind, "params": melody_db.config.params(),
            "isr": float(_overlaps(result, audio_db.search(queries, k), k).mean()),
            "isr_per_item": per_item_isr(melody_db, audio_vecs, k),
            "recall_at_k": recall_at_k(result, exact),
            "build_s": build_s, "ms_per_query": 1000 * seconds / n_queries,
            "queries_per_s": n_queries / seconds, "index_bytes": melody_db.index_bytes(),
        })
    return pd.DataFrame(rows)


def choose_config(df: pd.DataFrame, by: str = "isr") -> IndexConfig:
    """The configuration with the highest ISR (as the paper chooses). Ties go to the first in grid order
    (exact search first, then cheaper configurations by construction), never to measured latency: that is
    noise, and a rerun must choose the same index."""
    if df.empty:
        raise RetrievalError("the grid table is empty; run run_grid with at least one config")
    ranked = df.assign(_score=df[by].round(9)).sort_values("_score", ascending=False, kind="stable")
    best = ranked.iloc[0]
    return IndexConfig(kind=best["kind"], **best["params"])


def grid_table(df: pd.DataFrame, chosen: IndexConfig | None = None) -> pd.DataFrame:
    """The grid as a report table: ISR both forms, recall@K vs Flat, build time, latency, throughput,
    index memory in KiB, and (given ``chosen``) which row the database uses."""
    out = df[["label", "isr", "isr_per_item", "recall_at_k", "build_s", "ms_per_query", "queries_per_s"]].copy()
    out["index_kib"] = df["index_bytes"] / 1024
    if chosen is not None:
        out["chosen"] = [IndexConfig(kind=k, **p) == chosen for k, p in zip(df["kind"], df["params"])]
    return out


def modality_isr(melody_vecs: np.ndarray, audio_vecs: np.ndarray, ids: Sequence[str],
                 queries: dict[str, tuple[np.ndarray, Sequence[str] | None]],
                 configs: Sequence[IndexConfig], k: int) -> pd.DataFrame:
    """ISR for several query sets (e.g. train audio, train text, test text) and index configs.

    ``queries`` maps a name to (vectors, their item ids or None). Per query set and config: eq. 8
    ISR between the melody and the audio index; per-item ISR (query i finds melody i in its top-K)
    when ids are given and all are in the database (NaN otherwise); and chance, K/N, for both forms.
    """
    rows = []
    for config in configs:
        melody_db = VectorDB.build(melody_vecs, ids, config)
        audio_db = VectorDB.build(audio_vecs, ids, config)
        for name, (vecs, query_ids) in queries.items():
            own = query_ids is not None and set(query_ids) <= set(melody_db.ids)
            rows.append({"queries": name, "n_queries": len(vecs), "index": melody_db.config.label,
                         "isr": intersection_rate(melody_db, audio_db, vecs, k),
                         "isr_per_item": per_item_isr(melody_db, vecs, k, query_ids) if own else float("nan"),
                         "chance": k / len(melody_db)})
    return pd.DataFrame(rows)


def choice_summary(df: pd.DataFrame, chosen: IndexConfig, by: str = "isr") -> str:
    """One sentence: which index was picked, its ISR, how it compares with Flat and the runner-up,
    and how many configurations tied with it."""
    keys = [IndexConfig(kind=k, **p) for k, p in zip(df["kind"], df["params"])]
    if chosen not in keys:
        raise RetrievalError(f"{chosen.label} is not in the grid table")
    row = df.iloc[keys.index(chosen)]
    flat = df[df["kind"] == "flat"]
    ties = int((df[by].round(9) == round(row[by], 9)).sum()) - 1
    text = (f"Picked **{row['label']}**: highest {'ISR (eq. 8)' if by == 'isr' else 'per-item ISR'} "
            f"= {row[by]:.3f}")
    if ties:
        text += f", tied with {ties} other configuration(s); ties go to the first in grid order (exact first)"
    if not flat.empty and chosen.kind != "flat":
        text += f"; Flat (exact) scores {flat.iloc[0][by]:.3f}"
    if df[by].round(9).nunique() == 1:
        return text + "; every configuration scores the same here, so ISR does not separate them on this data."
    worst = df.loc[df[by].idxmin()]
    return text + f"; the lowest in the grid is {worst['label']} at {worst[by]:.3f}."
