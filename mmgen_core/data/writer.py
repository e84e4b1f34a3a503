"""The one clip writer every source uses: clips in, melodies extracted in batches, manifest lines out."""
from __future__ import annotations

import numpy as np

from mmgen_core.data.manifest import Item, Manifest, Reject
from mmgen_core.melody.extract import default_extractor
from mmgen_core.melody.tokens import notes_to_text


class ClipWriter:
    """Append clips to a manifest: Basic Pitch transcribes the ones without melody tokens, in batches
    (one model call per batch); a clip in which it hears no note is rejected, the rest written."""

    def __init__(self, manifest: Manifest, batch: int = 32):
        self.manifest, self.batch = manifest, batch
        self.pending: list[tuple[Item, np.ndarray]] = []
        self.kept = 0

    def add(self, item: Item, wav: np.ndarray) -> None:
        """Queue one clip (its audio already saved); flushes when a batch is full."""
        self.pending.append((item, wav))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Extract the queued clips' melodies and write them (or their rejects)."""
        need = [(it, w) for it, w in self.pending if it.melody is None]
        for (it, _), notes in zip(need, default_extractor().notes([w for _, w in need]) if need else []):
            it.melody = notes_to_text(notes) if notes else None
        for it, _ in self.pending:
            if it.melody:
                self.manifest.append(it)
                self.kept += 1
            else:
                self.manifest.reject(Reject(it.id, "Basic Pitch found no notes", it.source))
        self.pending.clear()
