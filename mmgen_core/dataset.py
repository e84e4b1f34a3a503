"""MusicSet-style manifests: one JSON-lines format for every source, with splits and rejects.

Each line is an :class:`Item` (id, audio path, captions, melody tokens, ground-truth melody, source,
split, metadata). Bad items are written to ``rejects.jsonl`` with their reason and the rest is kept.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

SPLITS = ("train", "valid", "test")
DATASET_VERSION = 3  # bump when the builders change what they write, so old artifacts are rebuilt
SOURCES = ("music21", "folder", "musiccaps", "musicbench", "official")


@dataclass
class DataConfig:
    """Where a profile's clips come from and how long they are (profile section ``data``).

    ``path``: the folder (folder), CSV (musiccaps), JSON lines (musicbench) or split JSON (official);
    ``audio_dir``: where their audio lives; ``melody_dir``: the authors' melody text files."""

    source: str = "music21"
    n_clips: int = 600  # 0 = all
    clip_seconds: float = 5.12
    max_works: int = 900  # music21 candidates to try
    soundfont: str = "auto"
    path: str | None = None
    audio_dir: str | None = None
    captions_csv: str | None = None
    melody_dir: str | None = None


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


def iter_batches(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def get_dataset(profile, progress: bool = True) -> Manifest:
    """The profile's dataset: built on first use (resuming a partial build), then reused."""
    cfg: DataConfig = profile.section("data", DataConfig)
    if cfg.source not in SOURCES:
        raise ValueError(f"data.source must be one of {SOURCES}, not {cfg.source!r}")
    root = profile.stage_dir("data", cfg, profile.seed, DATASET_VERSION)
    with build_lock(root):  # two notebooks opened at once must not both append to one manifest
        return _build(root, cfg, profile.seed, progress)


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on an artifact folder (``<root>.lock``): a second builder waits, then reuses."""
    import fcntl

    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(root: Path, cfg: DataConfig, seed: int, progress: bool) -> Manifest:
    from .readers import (build_from_records, read_folder, read_musicbench, read_musiccaps, read_official)

    if cfg.source == "music21":
        from .music21set import build_music21

        return build_music21(root, cfg, seed=seed, progress=progress)
    if not cfg.path:
        raise ValueError(f"data.source={cfg.source!r} needs data.path (and usually data.audio_dir); "
                         "set them in the profile or with --set data.path=...")
    records = {
        "folder": lambda: read_folder(cfg.path, cfg.captions_csv),
        "musiccaps": lambda: read_musiccaps(cfg.path, cfg.audio_dir or Path(cfg.path).parent),
        "musicbench": lambda: read_musicbench(cfg.path, cfg.audio_dir or Path(cfg.path).parent),
        "official": lambda: read_official(cfg.path, cfg.melody_dir, cfg.audio_dir),
    }[cfg.source]()
    return build_from_records(root, records, cfg.clip_seconds, seed=seed, limit=cfg.n_clips, progress=progress)


def dataset_stats(manifest: Manifest) -> "pd.DataFrame":
    """One row per clip: split, source, style, instrument, tempo, melody note count and pitch range,
    caption length — the numbers behind notebook 02's plots."""
    import pandas as pd
    import soundfile as sf

    from .tokens import text_to_notes

    rows = []
    for it in manifest.items():
        notes = text_to_notes(it.melody) if it.melody else []
        pitches = [n.pitch for n in notes] or [np.nan]
        rows.append({"id": it.id, "split": it.split, "source": it.source,
                     "style": it.meta.get("style", it.source), "instrument": it.meta.get("instrument", ""),
                     "bpm": it.meta.get("bpm", np.nan), "seconds": sf.info(str(manifest.audio_path(it))).duration,
                     "n_notes": len(notes), "pitch_min": np.min(pitches), "pitch_max": np.max(pitches),
                     "pitch_mean": np.mean(pitches), "caption_words": len(it.caption.split()),
                     "caption": it.caption})
    return pd.DataFrame(rows)
