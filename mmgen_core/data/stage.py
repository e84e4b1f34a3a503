"""The dataset stage: a profile's clips built on first use (resuming a partial build), then reused."""
from __future__ import annotations

from pathlib import Path

from mmgen_core.artifacts import StageDir, build_lock, stage_dir
from mmgen_core.data.config import DataConfig
from mmgen_core.data.manifest import Manifest
from mmgen_core.data.sources.folder import read_folder
from mmgen_core.data.sources.music21 import build_music21
from mmgen_core.data.sources.musicbench import read_musicbench
from mmgen_core.data.sources.musiccaps import read_musiccaps
from mmgen_core.data.sources.official import read_official
from mmgen_core.data.sources.records import build_from_records

DATASET_VERSION = 3  # bump when the builders change what they write, so old artifacts are rebuilt
SOURCES = ("music21", "folder", "musiccaps", "musicbench", "official")


def dataset_dir(cfg: DataConfig, artifacts: Path, seed: int) -> StageDir:
    """The dataset's folder: keyed by its config, the seed and the builders' version."""
    return stage_dir(artifacts, "data", cfg, seed=seed, version=DATASET_VERSION)


def get_dataset(cfg: DataConfig, artifacts: Path, seed: int = 0, *, progress: bool = True,
                build_missing: bool = True) -> Manifest:
    """The dataset of ``cfg``: built on first use (resuming a partial build), then reused."""
    if cfg.source not in SOURCES:
        raise ValueError(f"data.source must be one of {SOURCES}, not {cfg.source!r}")
    stage = dataset_dir(cfg, artifacts, seed)
    stage.require(build_missing, "dataset", "build it with `mmgen data --profile <profile>` or notebook 02_dataset")
    with build_lock(stage.path):  # two notebooks opened at once must not both append to one manifest
        return _build(stage.path, cfg, seed, progress)


def _build(root: Path, cfg: DataConfig, seed: int, progress: bool) -> Manifest:
    if cfg.source == "music21":
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
    return build_from_records(root, records, cfg.clip_seconds, seed=seed, limit=cfg.n_clips, progress=progress,
                              eval_flag="audioset_eval" if cfg.split == "audioset_eval" else None)
