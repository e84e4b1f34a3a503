"""MusicSet-style manifests: one JSON-lines format for every source, with splits and rejects.

Each line is an :class:`Item` (id, audio path, captions, melody tokens, ground-truth melody, source,
split, metadata). Bad items are written to ``rejects.jsonl`` with their reason and the rest is kept."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from mmgen_core.audio.frontend import HOP
from mmgen_core.audio.io import fit_length, load_audio, normalize_peak
from mmgen_core.melody.notes import Note, load_midi
from mmgen_core.melody.tokens import text_to_notes

SPLITS = ("train", "valid", "test")
SELECTION_SPLIT = "valid"  # every choice (vocoder, sampler, η, guidance, index, checkpoint) is made on this split


@dataclass
class Item:
    """One clip of a dataset. ``audio`` is relative to the manifest's folder (or absolute)."""
    id: str
    audio: str
    captions: list[str]
    melody: str | None = None  # official token text, extracted from the audio (Basic Pitch)
    melody_gt: str | None = None  # official token text from the score, when known
    source: str = ""
    split: str = "train"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return self.captions[0]


@dataclass
class Reject:
    """An item that was skipped, and why."""
    id: str
    reason: str
    source: str = ""


class Manifest:
    """A dataset on disk: ``<root>/manifest.jsonl`` plus ``rejects.jsonl`` and the audio files."""
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def rejects_path(self) -> Path:
        return self.root / "rejects.jsonl"

    def exists(self) -> bool:
        return self.path.exists()

    def items(self, split: str | None = None) -> list[Item]:
        """All items, or those of one split."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no manifest; build the dataset first (notebook 02 or `mmgen data`)")
        items = [Item(**json.loads(line)) for line in self.path.read_text().splitlines() if line.strip()]
        if split is not None:
            if split not in SPLITS:
                raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
            items = [it for it in items if it.split == split]
        return items

    def rejects(self) -> list[Reject]:
        if not self.rejects_path.exists():
            return []
        return [Reject(**json.loads(line)) for line in self.rejects_path.read_text().splitlines() if line.strip()]

    def audio_path(self, item: Item) -> Path:
        p = Path(item.audio)
        return p if p.is_absolute() else self.root / p

    def done_ids(self) -> set[str]:
        """Ids already written or rejected: a re-run resumes instead of redoing them."""
        if not self.path.exists() and not self.rejects_path.exists():
            return set()
        ids = {it.id for it in self.items()} if self.path.exists() else set()
        return ids | {r.id for r in self.rejects()}

    def append(self, item: Item) -> None:
        _append_line(self.path, asdict(item))

    def reject(self, rej: Reject) -> None:
        _append_line(self.rejects_path, asdict(rej))

    def write(self, items: Iterable[Item]) -> None:
        """Rewrite the whole manifest atomically (e.g. after assigning splits)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(asdict(it)) + "\n" for it in items))
        tmp.replace(self.path)


class ManifestView(Manifest):
    """A read-only view of a dataset (``base``) that re-draws its splits: a training fraction or a fold. Audio paths
    resolve against the dataset's folder; :attr:`key_extra` is what the artifact keys of stages trained on it add."""

    def __init__(self, base: Manifest):
        super().__init__(base.root)
        self.base = base

    @property
    def key_extra(self) -> dict[str, Any]:
        raise NotImplementedError

    def rejects(self) -> list[Reject]:
        return self.base.rejects()

    def _read_only(self, *_: Any, **__: Any) -> None:
        raise TypeError(f"{self!r} is a read-only view of {self.root}; change the dataset itself")

    append = reject = write = _read_only


def _append_line(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def assign_splits(items: list[Item], seed: int = 0, ratios: tuple[int, int, int] = (8, 1, 1),
                  group_key: str | None = None) -> list[Item]:
    """Seeded random train/valid/test split (8:1:1). With ``group_key`` (a meta field), clips of
    one work stay in one split so a test clip never has its sibling in the training set."""
    groups = sorted({it.meta.get(group_key, it.id) if group_key else it.id for it in items})
    order = np.random.default_rng(seed).permutation(len(groups))
    total = sum(ratios)
    n_train = int(round(len(groups) * ratios[0] / total))
    n_valid = int(round(len(groups) * ratios[1] / total))
    which = {}
    for rank, gi in enumerate(order):
        which[groups[gi]] = "train" if rank < n_train else "valid" if rank < n_train + n_valid else "test"
    for it in items:
        it.split = which[it.meta.get(group_key, it.id) if group_key else it.id]
    return items


def assign_eval_split(items: list[Item], flag: str, seed: int = 0, group_key: str | None = None) -> list[Item]:
    """A source's own test split: items whose ``meta[flag]`` is true are the test split, the others are split
    train/valid 8:1 as :func:`assign_splits` does (MusicCaps' ``audioset_eval``)."""
    missing = [it.id for it in items if flag not in it.meta]
    if missing:
        raise ValueError(f"{len(missing)} clips carry no {flag!r} (first: {missing[0]!r}): the source's file lacks the "
                         "column this split reads; use data.split=random")
    rest = [it for it in items if not it.meta[flag]]
    if not rest or len(rest) == len(items):
        raise ValueError(f"{flag!r} marks {len(items) - len(rest)} of {len(items)} clips: a test split needs some "
                         "clips on each side; use data.split=random")
    assign_splits(rest, seed, ratios=(8, 1, 0), group_key=group_key)
    for it in items:
        if it.meta[flag]:
            it.split = "test"
    return items


def require_selection_split(items: Iterable[Item], what: str) -> None:
    """Raise if any item is from the test split: choices made on test clips would leak into the final tables."""
    bad = next((it for it in items if it.split == "test"), None)
    if bad is not None:
        raise ValueError(f"{what}: item {bad.id!r} is from the test split; make every choice on the "
                         f"{SELECTION_SPLIT!r} split so that the test clips stay untouched until the final tables")


def load_clips(manifest: Manifest, split: str, frames: int, limit: int | None = None) -> tuple[list[str], torch.Tensor]:
    """Waveforms of a split, peak-normalised as AudioLDM does, cut/padded to ``frames`` hops."""
    items = manifest.items(split)[:limit]
    if not items:
        raise ValueError(f"{manifest.root}: split {split!r} is empty")
    wavs = [fit_length(normalize_peak(load_audio(manifest.audio_path(it))), frames * HOP) for it in items]
    return [it.id for it in items], torch.from_numpy(np.stack(wavs))


def item_notes(manifest, item) -> list[Note]:
    """A clip's melody with exact times: its score MIDI when the dataset has one, else its tokens."""
    midi = item.meta.get("score_midi")
    if midi:
        return load_midi(Path(manifest.root) / midi)
    return text_to_notes(item.melody_gt or item.melody)


def melody_text(item) -> str:
    """The token text a clip's melody embedding is computed from (Basic Pitch's, as the paper's database)."""
    return item.melody or item.melody_gt
