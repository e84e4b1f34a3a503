"""MusicCaps' public CSV and a local folder of its clips or tracks."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from mmgen_core.data.sources.records import AUDIO_EXTS, SourceRecord


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
