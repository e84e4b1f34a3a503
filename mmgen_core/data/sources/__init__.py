"""Where clips come from: the embedded music21 corpus and external datasets on disk."""
from .folder import read_folder
from .music21 import (
    ACCOMP_PROGRAMS,
    MELODY_PROGRAMS,
    PITCH_NAMES,
    STYLE_WORDS,
    Work,
    build_music21,
    hash_str,
    list_works,
    make_clip,
    score_parts,
    write_caption,
)
from .musicbench import read_musicbench
from .musiccaps import read_musiccaps
from .official import read_official
from .records import AUDIO_EXTS, SourceRecord, build_from_records, segment_starts

__all__ = [
    "ACCOMP_PROGRAMS",
    "AUDIO_EXTS",
    "MELODY_PROGRAMS",
    "PITCH_NAMES",
    "STYLE_WORDS",
    "SourceRecord",
    "Work",
    "build_from_records",
    "build_music21",
    "hash_str",
    "list_works",
    "make_clip",
    "read_folder",
    "read_musicbench",
    "read_musiccaps",
    "read_official",
    "score_parts",
    "segment_starts",
    "write_caption",
]
