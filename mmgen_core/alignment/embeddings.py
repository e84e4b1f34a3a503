"""Embeddings of a prepared split: computed, scored, exported to and read from .npz files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmgen_core.alignment.features import (
    SplitData,
)
from mmgen_core.alignment.metrics import all_directions
from mmgen_core.alignment.model import CLMP


@torch.no_grad()
def embed_split(model: CLMP, split: SplitData, caption: int = 0, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Normalised embeddings of a prepared split (caption ``caption`` of each item), on the CPU."""
    if not len(split):
        raise ValueError("this split has no clips; the dataset is too small to score or export it")
    model.eval()
    dev = model.device
    audio = torch.cat([model.embed_audio_features(split.audio[i:i + batch_size])
                       for i in range(0, len(split), batch_size)])
    if split.text is not None:
        feats = torch.stack([t[min(caption, len(t) - 1)] for t in split.text]).to(dev)
        text = model.text_proj(feats)
    else:
        text = model.embed_text([c[min(caption, len(c) - 1)] for c in split.captions])
    out = {"audio": audio.cpu(), "text": text.cpu()}
    if model.melody is not None:
        out["melody"] = model.embed_melody(split.melody).cpu()
    return out


def evaluate(model: CLMP, split: SplitData) -> dict[str, dict[str, float]]:
    """R@1/5/10, mAP@10, mean/median rank for every trained direction on a split."""
    return all_directions(embed_split(model, split))


def mean_map10(scores: dict[str, dict[str, float]], directions: tuple[str, ...] | None = None) -> float:
    """The model-selection criterion: mAP@10 averaged over ``directions`` (default: every direction scored)."""
    return float(np.mean([s["mAP@10"] for d, s in scores.items() if directions is None or d in directions]))


@dataclass
class EmbeddingSet:
    """Exported embeddings of one split (rows L2-normalised, 512-d), aligned with ``ids``."""
    split: str
    ids: list[str]
    audio: np.ndarray
    text: np.ndarray
    melody: np.ndarray | None  # None for the two-modal model


def export_embeddings(model: CLMP, split: SplitData, path: str | Path) -> Path:
    """Write ``ids``, ``audio``, ``text`` (caption 0) and ``melody`` (float32, normalised) to an .npz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    emb = {k: v.numpy().astype(np.float32) for k, v in embed_split(model, split).items()}
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, ids=np.array(split.ids, dtype=str), **emb)
    tmp.replace(path)
    return path


def load_embeddings(path: str | Path) -> EmbeddingSet:
    """Read an exported split (``<split>.npz``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no exported embeddings; run load_or_train_alignment (notebook 03) first")
    with np.load(path) as z:
        return EmbeddingSet(path.stem, [str(i) for i in z["ids"]], z["audio"], z["text"],
                            z["melody"] if "melody" in z else None)
