"""Profile section ``data``: where a profile's clips come from and how long they are."""
from __future__ import annotations

from dataclasses import dataclass


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
