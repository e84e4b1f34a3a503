"""Datasets: the manifest format, the dataset stage, statistics and sources (notebook 02)."""
from .config import DataConfig
from .manifest import Item, Manifest, Reject, SPLITS, assign_splits, item_notes, load_clips, melody_text
from .sources import ACCOMP_PROGRAMS, AUDIO_EXTS, MELODY_PROGRAMS, PITCH_NAMES, STYLE_WORDS, SourceRecord, Work, build_from_records, build_music21, hash_str, list_works, make_clip, read_folder, read_musicbench, read_musiccaps, read_official, score_parts, segment_starts, write_caption
from .stage import DATASET_VERSION, SOURCES, dataset_dir, get_dataset
from .stats import dataset_stats
from .writer import ClipWriter

__all__ = [
    "ACCOMP_PROGRAMS",
    "AUDIO_EXTS",
    "ClipWriter",
    "DATASET_VERSION",
    "DataConfig",
    "Item",
    "MELODY_PROGRAMS",
    "Manifest",
    "PITCH_NAMES",
    "Reject",
    "SOURCES",
    "SPLITS",
    "STYLE_WORDS",
    "SourceRecord",
    "Work",
    "assign_splits",
    "build_from_records",
    "build_music21",
    "dataset_dir",
    "dataset_stats",
    "get_dataset",
    "hash_str",
    "item_notes",
    "list_works",
    "load_clips",
    "make_clip",
    "melody_text",
    "read_folder",
    "read_musicbench",
    "read_musiccaps",
    "read_official",
    "score_parts",
    "segment_starts",
    "write_caption",
]
