"""MusicCaps' public CSV and a local folder of its clips or tracks."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from mmgen_core.data.sources.records import AUDIO_EXTS, SourceRecord


def read_musiccaps(csv_path: str | Path, audio_dir: str | Path) -> Iterator[SourceRecord]:
    """MusicCaps' public CSV (ytid, start_s, end_s, caption, aspect_list, is_audioset_eval); audio ``<ytid>*.<ext>``
    in ``audio_dir`` — either the 10 s clip itself or the full track (then cut at start_s..end_s). Each record's meta
    keeps ``audioset_eval`` when the CSV has the column (the split other MusicCaps papers evaluate on)."""
    audio_dir = Path(audio_dir)
    files = {}
    for p in audio_dir.rglob("*"):
        if p.suffix.lower() in AUDIO_EXTS:
            files.setdefault(p.stem[:11], p)  # YouTube ids are 11 characters
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            ytid = row["ytid"]
            path = files.get(ytid, audio_dir / f"{ytid}.wav")
            meta = {"aspects": row.get("aspect_list", ""), "ytid": ytid}
            if row.get("is_audioset_eval") not in (None, ""):
                meta["audioset_eval"] = row["is_audioset_eval"].strip().lower() in ("true", "1")
            yield SourceRecord(f"mc-{ytid}", path, [row["caption"]] if row.get("caption") else [], meta,
                               start_s=float(row["start_s"]), end_s=float(row["end_s"]))
