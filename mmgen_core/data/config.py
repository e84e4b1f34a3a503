"""Profile section ``data``: where a profile's clips come from and how long they are."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass
class DataConfig:
    """Where a profile's clips come from and how long they are (profile section ``data``).

    ``path``: the folder (folder), CSV (musiccaps), JSON lines (musicbench) or split JSON (official);
    ``audio_dir``: where their audio lives; ``melody_dir``: the authors' melody text files;
    ``workers``: processes drafting music21 clips, which changes only the build's speed, not its bytes."""

    UNKEYED: ClassVar[tuple[str, ...]] = ("workers",)  # the dataset's key: same folder for any number of workers

    source: str = "music21"
    n_clips: int = 600  # 0 = all
    clip_seconds: float = 5.12
    max_works: int = 900  # music21 candidates to try
    soundfont: str = "auto"
    path: str | None = None
    audio_dir: str | None = None
    captions_csv: str | None = None
    melody_dir: str | None = None
    workers: int = 0  # 0 = one per core; 1 = all in this process
