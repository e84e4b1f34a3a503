"""Any folder of audio files, with captions from a CSV or from the file names."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from mmgen_core.data.sources.records import AUDIO_EXTS, SourceRecord, _slug


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
