"""The authors' split JSON, with their melody token files when given."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from mmgen_core.data.sources.records import SourceRecord, _slug


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
