"""External sources → the common manifest: :class:`SourceRecord` and the writer that cuts
clips, extracts melodies with Basic Pitch and writes the manifest (rejects recorded, re-runs resume)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm.auto import tqdm

from mmgen_core.artifacts import StageDir
from mmgen_core.audio.io import (
    SAMPLE_RATE,
    AudioError,
    fit_length,
    load_audio,
    save_audio,
)
from mmgen_core.data.manifest import Item, Manifest, Reject, assign_eval_split, assign_splits
from mmgen_core.data.writer import ClipWriter

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")


@dataclass
class SourceRecord:
    """One track or clip of an external dataset, before cutting and melody extraction."""
    id: str
    audio: Path
    captions: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    start_s: float | None = None  # for sources that name a segment of a longer file (MusicCaps)
    end_s: float | None = None
    melody: str | None = None  # token text given by the source (authors' split)
    segment: bool = False  # cut the whole track into clips (folders of full tracks)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")


def segment_starts(duration: float, clip_seconds: float, trim: float = 0.1) -> list[float]:
    """Clip starts covering a track, dropping its first and last ``trim`` share (paper §5.1)."""
    lo, hi = duration * trim, duration * (1 - trim)
    if hi - lo < clip_seconds:
        return [max(0.0, (duration - clip_seconds) / 2)] if duration >= clip_seconds else []
    return list(np.arange(lo, hi - clip_seconds + 1e-9, clip_seconds))


def build_from_records(root: str | Path, records: Iterable[SourceRecord], clip_seconds: float, seed: int = 0,
                       limit: int = 0, progress: bool = True, batch: int = 16, eval_flag: str | None = None) -> Manifest:
    """Cut clips, extract melodies, write ``root/manifest.jsonl``; bad items go to rejects.jsonl. Splits: seeded
    8:1:1 by recording, or with ``eval_flag`` (a meta field) the source's own test split
    (:func:`~mmgen_core.data.manifest.assign_eval_split`)."""
    man, stage = Manifest(root), StageDir(Path(root))
    if stage.done:
        return man
    (man.root / "audio").mkdir(parents=True, exist_ok=True)
    done = man.done_ids()
    writer = ClipWriter(man, batch)
    n_kept = len(man.items()) if man.exists() else 0
    n = int(round(clip_seconds * SAMPLE_RATE))
    capped = False
    for rec in tqdm(records, desc="clips", disable=not progress):
        if limit and n_kept + writer.kept + len(writer.pending) >= limit:
            capped = True
            break
        if not rec.captions or not rec.captions[0].strip():
            if rec.id not in done:
                man.reject(Reject(rec.id, "missing caption", rec.audio.name))
            continue
        if not rec.segment and rec.id in done:
            continue
        try:
            wav = load_audio(rec.audio)
        except AudioError as exc:
            if rec.id not in done:
                man.reject(Reject(rec.id, str(exc), str(rec.audio)))
            continue
        if rec.start_s is not None and len(wav) > (rec.end_s - rec.start_s + 1) * SAMPLE_RATE:
            wav = wav[int(rec.start_s * SAMPLE_RATE):int(rec.end_s * SAMPLE_RATE)]
        starts = segment_starts(len(wav) / SAMPLE_RATE, clip_seconds) if rec.segment else [0.0]
        for k, s in enumerate(starts):
            cid = f"{rec.id}-{k}" if rec.segment else rec.id
            if cid in done:
                continue
            clip = fit_length(wav[int(s * SAMPLE_RATE):], n)
            if np.abs(clip).max() < 1e-3:
                man.reject(Reject(cid, "silent clip", str(rec.audio)))
                continue
            save_audio(man.root / "audio" / f"{cid}.wav", clip)
            writer.add(Item(cid, f"audio/{cid}.wav", list(rec.captions), rec.melody, None, rec.audio.name,
                            meta={**rec.meta, "start_s": round(float(s) + (rec.start_s or 0), 3)}), clip)
    writer.flush()
    if not man.exists():
        raise ValueError(f"{man.root}: no usable clips (see {man.rejects_path})")
    items = man.items()
    man.write(assign_eval_split(items, eval_flag, seed, group_key="file") if eval_flag else
              assign_splits(items, seed=seed, group_key="file"))
    if capped:  # said, not silent: a user's folder may hold more than the profile's n_clips
        print(f"[mmgen] data.n_clips={limit}: kept the first {limit} clips of the source and left the rest; "
              "set data.n_clips=0 to use every clip")
    stage.finish({"clips": len(man.items()), "rejects": len(man.rejects()), "capped_at": limit if capped else None})
    return man
