"""What retrieval finds: IVF clusters, their purity by metadata, and attribute matches of hits."""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import faiss
import numpy as np
import pandas as pd

from mmgen_core.retrieval.index import RetrievalError, SearchResult, VectorDB


def cluster_assignments(db: VectorDB) -> np.ndarray:
    """Coarse IVF cluster of every item (from the index's quantizer), to see what clusters group."""
    if db.config.kind != "ivf":
        raise RetrievalError(f"cluster assignments come from an IVF index's coarse quantizer; this "
                             f"database is {db.config.kind!r}: build one with IndexConfig(kind='ivf')")
    quantizer = faiss.extract_index_ivf(db.cpu_index()).quantizer
    _, labels = quantizer.search(db.vectors, 1)
    return labels[:, 0]


def describe_clusters(assignments: np.ndarray, metadata: Sequence[dict[str, Any]],
                      keys: Sequence[str]) -> pd.DataFrame:
    """Per cluster: size, and for each metadata key its most common value and that value's share."""
    assignments = np.asarray(assignments)
    if len(assignments) != len(metadata):
        raise RetrievalError(f"{len(assignments)} assignments but {len(metadata)} metadata rows")
    rows = []
    for cluster in np.unique(assignments):
        members = [metadata[i] for i in np.flatnonzero(assignments == cluster)]
        row: dict[str, Any] = {"cluster": int(cluster), "size": len(members)}
        for key in keys:
            counts = Counter(m.get(key) for m in members if m.get(key) is not None)
            value, count = counts.most_common(1)[0] if counts else (None, 0)
            row[key], row[f"{key}_share"] = value, count / len(members)
        rows.append(row)
    columns = ["cluster", "size"] + [c for key in keys for c in (key, f"{key}_share")]
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["size", "cluster"], ascending=[False, True], ignore_index=True)


ATTRIBUTE_KEYS = ("instrument", "style", "key")


def item_attributes(item: Any, keys: Sequence[str] = ATTRIBUTE_KEYS) -> dict[str, Any]:
    """Metadata of a dataset item for comparisons: its ``meta`` fields, plus ``key`` = "tonic mode"."""
    meta = dict(getattr(item, "meta", None) or {})
    if "key" not in meta and meta.get("tonic"):
        meta["key"] = f"{meta['tonic']} {meta.get('mode', '')}".strip()
    return {k: (meta.get(k) if meta.get(k) not in ("", None) else None) for k in keys}


def cluster_purity(assignments: np.ndarray, metadata: Sequence[dict[str, Any]], keys: Sequence[str],
                   shuffles: int = 20, seed: int = 0) -> pd.DataFrame:
    """Per key: the share of items agreeing with their cluster's majority value (size-weighted purity),
    against the same clusters with the items shuffled (what purity chance alone gives)."""
    assignments = np.asarray(assignments)
    if len(assignments) != len(metadata):
        raise RetrievalError(f"{len(assignments)} assignments but {len(metadata)} metadata rows")
    rng = np.random.default_rng(seed)

    def purity(labels: np.ndarray, values: list[Any]) -> float:
        agree = 0
        for cluster in np.unique(labels):
            counts = Counter(values[i] for i in np.flatnonzero(labels == cluster) if values[i] is not None)
            agree += counts.most_common(1)[0][1] if counts else 0
        known = sum(v is not None for v in values)
        return agree / known if known else float("nan")

    rows = []
    for key in keys:
        values = [m.get(key) for m in metadata]
        shuffled = [purity(rng.permutation(assignments), values) for _ in range(shuffles)]
        rows.append({"key": key, "n_values": len({v for v in values if v is not None}),
                     "purity": purity(assignments, values), "shuffled_purity": float(np.mean(shuffled))})
    return pd.DataFrame(rows)


def match_table(query_items: Sequence[Any], retrieved: SearchResult, pool: dict[str, Any],
                keys: Sequence[str] = ATTRIBUTE_KEYS) -> pd.DataFrame:
    """Per query: its caption, the top-1 retrieved item's caption and score, and for each key whether
    the retrieved item shares the query item's value (None when either lacks it)."""
    if len(query_items) != len(retrieved):
        raise RetrievalError(f"{len(query_items)} query items but {len(retrieved)} retrieval results")
    rows = []
    for item, rid, score in zip(query_items, retrieved.top_ids, retrieved.top_scores):
        hit = pool[rid]
        qa, ra = item_attributes(item, keys), item_attributes(hit, keys)
        row = {"query_id": item.id, "query_caption": item.captions[0], "retrieved_id": rid,
               "retrieved_caption": hit.captions[0], "score": float(score)}
        for key in keys:
            row[f"same_{key}"] = None if qa[key] is None or ra[key] is None else qa[key] == ra[key]
        rows.append(row)
    return pd.DataFrame(rows)


def chance_match(query_items: Sequence[Any], pool_items: Sequence[Any],
                 keys: Sequence[str] = ATTRIBUTE_KEYS) -> dict[str, float]:
    """Per key: how often a pool item drawn at random shares the query item's value (the baseline
    for ``match_table``'s ``same_*`` rates)."""
    pool = [item_attributes(p, keys) for p in pool_items]
    out = {}
    for key in keys:
        counts = Counter(p[key] for p in pool if p[key] is not None)
        total = sum(counts.values())
        rates = [counts[v] / total for v in (item_attributes(q, keys)[key] for q in query_items)
                 if v is not None and total]
        out[key] = float(np.mean(rates)) if rates else float("nan")
    return out
