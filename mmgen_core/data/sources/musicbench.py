"""MusicBench's JSON lines and a local folder of its audio."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from mmgen_core.data.sources.records import SourceRecord, _slug


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
