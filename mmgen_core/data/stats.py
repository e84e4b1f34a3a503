"""Per-clip statistics of a dataset, for notebook 02's tables and plots."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mmgen_core.data.manifest import Manifest
from mmgen_core.melody.tokens import text_to_notes


def dataset_stats(manifest: Manifest) -> "pd.DataFrame":
    """One row per clip: split, source, style, instrument, tempo, melody note count and pitch range,
    caption length — the numbers behind notebook 02's plots."""
    import soundfile as sf


    rows = []
    for it in manifest.items():
        notes = text_to_notes(it.melody) if it.melody else []
        pitches = [n.pitch for n in notes] or [np.nan]
        rows.append({"id": it.id, "split": it.split, "source": it.source,
                     "style": it.meta.get("style", it.source), "instrument": it.meta.get("instrument", ""),
                     "bpm": it.meta.get("bpm", np.nan), "seconds": sf.info(str(manifest.audio_path(it))).duration,
                     "n_notes": len(notes), "pitch_min": np.min(pitches), "pitch_max": np.max(pitches),
                     "pitch_mean": np.mean(pitches), "caption_words": len(it.caption.split()),
                     "caption": it.caption})
    return pd.DataFrame(rows)
