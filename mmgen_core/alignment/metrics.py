"""Cross-modal retrieval metrics (paper Table 2): R@1/5/10, mAP@10, mean and median rank.

Ground truth is the diagonal: query i matches key i. A rank is 0-based and counts every other key
scoring at least as high as the true one, so ties (e.g. two identical melodies) never flatter a model."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

DIRECTIONS = {  # name → (query modality, key modality)
    "A2T": ("audio", "text"), "T2A": ("text", "audio"),
    "A2M": ("audio", "melody"), "M2A": ("melody", "audio"),
    "T2M": ("text", "melody"), "M2T": ("melody", "text"),
}


RECALL_AT = (1, 5, 10)


def ranks_from_similarity(sim: np.ndarray | torch.Tensor) -> np.ndarray:
    """0-based rank of the true key (column i) for each query row i of a square similarity matrix."""
    s = torch.as_tensor(sim, dtype=torch.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be square (queries × keys, diagonal = match), got {tuple(s.shape)}")
    true = s.diagonal().unsqueeze(1)
    return ((s >= true).sum(dim=1) - 1).numpy().astype(np.int64)


def scores_from_ranks(ranks: np.ndarray) -> dict[str, float]:
    """R@1/5/10, mAP@10 = mean(1/(rank+1) if rank < 10 else 0), 1-based mean and median rank."""
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no queries: the split is empty")
    out = {f"R@{k}": float(np.mean(r < k)) for k in RECALL_AT}
    out["mAP@10"] = float(np.mean(np.where(r < 10, 1.0 / (r + 1), 0.0)))
    out["mean_rank"] = float(np.mean(r) + 1)
    out["median_rank"] = float(np.median(r) + 1)
    return out


def retrieval_scores(queries: np.ndarray | torch.Tensor, keys: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Scores for queries[i] ↔ keys[i] by dot product (embeddings are L2-normalised)."""
    q = torch.as_tensor(queries, dtype=torch.float64)
    k = torch.as_tensor(keys, dtype=torch.float64)
    return scores_from_ranks(ranks_from_similarity(q @ k.T))


def all_directions(emb: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, dict[str, float]]:
    """Scores for every direction whose two modalities are present in ``emb`` (audio/text/melody)."""
    return {name: retrieval_scores(emb[q], emb[k]) for name, (q, k) in DIRECTIONS.items() if q in emb and k in emb}


def chance_recall(k: int, n: int) -> float:
    """Expected R@k of a random ranking over ``n`` keys."""
    return min(1.0, k / n)
