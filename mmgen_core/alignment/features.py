"""A manifest split turned into tower inputs held in memory: audio features, melody ids, captions.

Features are computed once per process and shared by every variant trained on the same data (the
notebook trains several); a frozen text encoder's pooled caption features are cached the same way."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.towers import melody_ids
from mmgen_core.audio.io import load_audio
from mmgen_core.data.fractions import subset_key
from mmgen_core.data.manifest import Manifest

_CACHE: dict[tuple, object] = {}


@dataclass
class SplitData:
    """One split: ids, audio tower features, captions, melody ids and (frozen text) caption features."""
    ids: list[str]
    audio: torch.Tensor  # (N, 1, frames, mels)
    captions: list[list[str]]
    melody: torch.Tensor  # (N, 1000) token ids
    text: list[torch.Tensor] | None  # per item (n_captions, d) pooled features; None when the encoder trains

    def __len__(self) -> int:
        return len(self.ids)


def manifest_fingerprint(manifest: Manifest) -> str:
    """A hash of the manifest file (and of the training fraction a :class:`~mmgen_core.data.fractions.TrainFraction`
    keeps): features cached under it are recomputed when the data change."""
    subset = subset_key(manifest)
    extra = json.dumps(subset, sort_keys=True).encode() if subset else b""
    return hashlib.sha1(manifest.path.read_bytes() + extra).hexdigest()[:12]


def _cached(key: tuple, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _audio_features(model: CLMP, manifest: Manifest, items, batch_size: int = 64) -> torch.Tensor:
    paths = [manifest.audio_path(it) for it in items]
    chunks = [model.audio.features([load_audio(p) for p in paths[i:i + batch_size]])
              for i in range(0, len(paths), batch_size)]
    return torch.cat(chunks)


def _melodies(items, layout: str) -> torch.Tensor:
    missing = [it.id for it in items if not it.melody]
    if missing:
        raise ValueError(f"items without melody tokens: {missing[:5]} (… {len(missing)} in all); rebuild the dataset "
                         "so that every clip has extracted melody tokens")
    return melody_ids([it.melody for it in items], layout)


def _text_features(model: CLMP, captions: list[list[str]]) -> list[torch.Tensor]:
    flat = [c for caps in captions for c in caps]
    feats = model.text.encode(flat).cpu()
    return list(torch.split(feats, [len(c) for c in captions]))


def prepare_split(model: CLMP, manifest: Manifest, split: str) -> SplitData:
    """Load one split's clips, melodies and captions as the model's inputs (cached per process)."""
    items = manifest.items(split)
    cfg, fp = model.cfg, manifest_fingerprint(manifest)
    base = (str(manifest.root), fp, split)
    audio_key = base + ("audio", cfg.audio_pretrained, model.audio.clip_samples, model.audio.max_frames)
    audio = _cached(audio_key, lambda: _audio_features(model, manifest, items)) if items else torch.zeros(0)
    captions = [list(it.captions) for it in items]
    text = None
    if not cfg.text_trainable and items:
        text_key = base + ("text", cfg.text_model, cfg.text_pooling, cfg.text_max_tokens)
        text = _cached(text_key, lambda: _text_features(model, captions))
    melody = _melodies(items, cfg.melody_layout) if items else torch.zeros(0, dtype=torch.long)
    return SplitData([it.id for it in items], audio, captions, melody, text)


def caption_choice(split: SplitData, seed: int, epoch: int) -> np.ndarray:
    """Which caption of each item an epoch uses: a seeded draw, the same after a resume."""
    counts = np.array([len(c) for c in split.captions])
    return np.random.default_rng([seed, epoch, 7]).integers(0, 2**31, len(counts)) % counts
