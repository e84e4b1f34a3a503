"""Profile section ``data``: where a profile's clips come from and how long they are."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass
class DataConfig:
    """Where a profile's clips come from and how long they are (profile section ``data``).

    ``path``: the folder (folder), CSV (musiccaps), JSON lines (musicbench) or split JSON (official);
    ``audio_dir``: where their audio lives; ``melody_dir``: the authors' melody text files;
    ``workers``: processes drafting music21 clips, which changes only the build's speed, not its bytes."""

    UNKEYED: ClassVar[tuple[str, ...]] = ("workers",)  # the dataset's key: same folder for any number of workers
    KEYED_UNLESS: ClassVar[dict] = {"captions": "detailed", "caption_key_fraction": 0.1,  # datasets built before
                                    "split": "random"}

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
    # music21 captions: ``detailed`` names the exact key (and often the bpm) of every clip; ``sound`` describes how
    # it sounds (style, instruments, mood, tempo words) as MusicCaps does, naming key and bpm in
    # ``caption_key_fraction`` of the captions only (docs/method.md §2.9)
    captions: str = "detailed"
    caption_key_fraction: float = 0.1

    # how clips are split: ``random`` (seeded 8:1:1, clips of one work or recording together: the paper's), or
    # ``audioset_eval`` (MusicCaps only: its is_audioset_eval clips are the test split, the rest 8:1 train/valid,
    # as the MusicCaps papers evaluate)
    split: str = "random"

    CAPTION_STYLES: ClassVar[tuple[str, ...]] = ("detailed", "sound")
    SPLITS: ClassVar[tuple[str, ...]] = ("random", "audioset_eval")

    def label(self) -> str:
        """The data in words, for table notes: ``embedded music21 data``, ``folder (my_music)``, ``MusicCaps (…)``."""
        name = {"music21": "embedded music21 data", "folder": "folder", "musiccaps": "MusicCaps",
                "musicbench": "MusicBench", "official": "the authors' split"}[self.source]
        return f"{name} ({Path(self.path).name})" if self.path else name

    def __post_init__(self) -> None:
        if self.captions not in self.CAPTION_STYLES:
            raise ValueError(f"data.captions must be one of {self.CAPTION_STYLES}, not {self.captions!r}")
        if not 0.0 <= self.caption_key_fraction <= 1.0:
            raise ValueError(f"data.caption_key_fraction must lie in [0, 1], not {self.caption_key_fraction}")
        if self.split not in self.SPLITS:
            raise ValueError(f"data.split must be one of {self.SPLITS}, not {self.split!r}")
        if self.split == "audioset_eval" and self.source != "musiccaps":
            raise ValueError(f"data.split=audioset_eval uses MusicCaps' is_audioset_eval column; a {self.source} "
                             "dataset has none (use data.split=random)")
        if self.captions != "detailed" and self.source != "music21":
            raise ValueError(f"data.captions={self.captions!r} writes the music21 source's captions; a {self.source} "
                             "dataset brings its own (leave data.captions at 'detailed')")
