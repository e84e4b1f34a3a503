"""External sources → the common manifest: any folder of audio, MusicCaps, MusicBench and the
authors' split JSON. Each reader yields :class:`SourceRecord`; :func:`build_from_records` cuts clips,
extracts melodies with Basic Pitch and writes the manifest (rejects recorded, re-runs resume)."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from .audio import SAMPLE_RATE, AudioError, fit_length, load_audio, save_audio
from .dataset import Item, Manifest, Reject, assign_splits
from .tokens import notes_to_text

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


def read_folder(folder: str | Path, captions_csv: str | Path | None = None) -> Iterator[SourceRecord]:
    """Every audio file under ``folder``; captions from a CSV with columns ``file,caption`` if given
    (file relative to the folder), else a caption made from the file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of audio files")
    captions: dict[str, str] = {}
    if captions_csv:
        with open(captions_csv, newline="") as f:
            for row in csv.DictReader(f):
                captions[row["file"]] = row["caption"]
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTS):
        rel = str(path.relative_to(folder))
        cap = captions.get(rel, captions.get(path.name)) if captions_csv else path.stem.replace("_", " ")
        yield SourceRecord(_slug(str(Path(rel).with_suffix(""))), path, [cap] if cap else [], {"file": rel},
                           segment=True)


def read_musiccaps(csv_path: str | Path, audio_dir: str | Path) -> Iterator[SourceRecord]:
    """MusicCaps' public CSV (ytid, start_s, end_s, caption, aspect_list); audio ``<ytid>*.<ext>`` in
    ``audio_dir`` — either the 10 s clip itself or the full track (then cut at start_s..end_s)."""
    audio_dir = Path(audio_dir)
    files = {}
    for p in audio_dir.rglob("*"):
        if p.suffix.lower() in AUDIO_EXTS:
            files.setdefault(p.stem[:11], p)  # YouTube ids are 11 characters
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            ytid = row["ytid"]
            path = files.get(ytid, audio_dir / f"{ytid}.wav")
            yield SourceRecord(f"mc-{ytid}", path, [row["caption"]] if row.get("caption") else [],
                               {"aspects": row.get("aspect_list", ""), "ytid": ytid},
                               start_s=float(row["start_s"]), end_s=float(row["end_s"]))


def read_musicbench(jsonl_path: str | Path, audio_root: str | Path) -> Iterator[SourceRecord]:
    """MusicBench JSON lines (``location``, ``main_caption``), audio paths relative to ``audio_root``."""
    root = Path(audio_root)
    for i, line in enumerate(Path(jsonl_path).read_text().splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        loc = Path(row["location"])
        cap = row.get("main_caption") or ""
        yield SourceRecord(f"mb-{_slug(str(loc.with_suffix('')))}", loc if loc.is_absolute() else root / loc,
                           [cap] if cap.strip() else [], {"location": str(loc)})


def read_official(split_json: str | Path, melody_dir: str | Path | None = None,
                  audio_root: str | Path | None = None) -> Iterator[SourceRecord]:
    """The authors' split file ``{"data": [{"wav": …, "caption": …}]}``; melody token text from
    ``<melody_dir>/<wav stem>.txt`` when given (else Basic Pitch runs)."""
    data = json.loads(Path(split_json).read_text())
    if "data" not in data:
        raise ValueError(f"{split_json}: expected a JSON object with a 'data' list")
    for row in data["data"]:
        wav = Path(row["wav"])
        if audio_root and not wav.is_absolute():
            wav = Path(audio_root) / wav
        melody = None
        if melody_dir:
            mfile = Path(melody_dir) / f"{wav.stem}.txt"
            melody = mfile.read_text().strip() if mfile.exists() else None
        yield SourceRecord(f"off-{_slug(wav.stem)}", wav, [row["caption"]] if row.get("caption") else [],
                           {"wav": str(row["wav"])}, melody=melody)


def segment_starts(duration: float, clip_seconds: float, trim: float = 0.1) -> list[float]:
    """Clip starts covering a track, dropping its first and last ``trim`` share (paper §5.1)."""
    lo, hi = duration * trim, duration * (1 - trim)
    if hi - lo < clip_seconds:
        return [max(0.0, (duration - clip_seconds) / 2)] if duration >= clip_seconds else []
    return list(np.arange(lo, hi - clip_seconds + 1e-9, clip_seconds))


def build_from_records(root: str | Path, records: Iterable[SourceRecord], clip_seconds: float, seed: int = 0,
                       limit: int = 0, progress: bool = True, batch: int = 16) -> Manifest:
    """Cut clips, extract melodies, write ``root/manifest.jsonl``; bad items go to rejects.jsonl."""
    from .extract import default_extractor

    man = Manifest(root)
    marker = man.root / "complete.json"
    if marker.exists():
        return man
    (man.root / "audio").mkdir(parents=True, exist_ok=True)
    done = man.done_ids()
    n_kept = len(man.items()) if man.exists() else 0
    pending: list[tuple[Item, np.ndarray]] = []
    n = int(round(clip_seconds * SAMPLE_RATE))

    def flush() -> int:
        need = [(it, w) for it, w in pending if it.melody is None]
        for (it, _), notes in zip(need, default_extractor().notes([w for _, w in need]) if need else []):
            it.melody = notes_to_text(notes) if notes else None
        kept = 0
        for it, _ in pending:
            if it.melody:
                man.append(it)
                kept += 1
            else:
                man.reject(Reject(it.id, "Basic Pitch found no notes", it.source))
        pending.clear()
        return kept

    for rec in tqdm(records, desc="clips", disable=not progress):
        if limit and n_kept + len(pending) >= limit:
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
            pending.append((Item(cid, f"audio/{cid}.wav", list(rec.captions), rec.melody, None, rec.audio.name,
                                 meta={**rec.meta, "start_s": round(float(s) + (rec.start_s or 0), 3)}), clip))
            if len(pending) >= batch:
                n_kept += flush()
    if pending:
        n_kept += flush()
    if not man.exists():
        raise ValueError(f"{man.root}: no usable clips (see {man.rejects_path})")
    man.write(assign_splits(man.items(), seed=seed, group_key="file"))
    marker.write_text(json.dumps({"clips": len(man.items()), "rejects": len(man.rejects())}))
    return man
