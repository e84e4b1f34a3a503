"""Generation experiments of notebook 07: melody adherence, guidance and sampler sweeps."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from mmgen_core.audio.frontend import AUDIOLDM_MEL, clip_frames, mels_of
from mmgen_core.audio.io import (
    fit_length,
    load_audio,
)
from mmgen_core.data.manifest import item_notes
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.pipeline.pipeline import MMGenPipeline


def melody_adherence(pipes: dict[str, MMGenPipeline], manifest, items, *, seed: int = 0, progress: bool = True,
                     **generation: Any) -> pd.DataFrame:
    """Does the music follow its melody? For each clip, generate from its caption with its own melody
    as the user melody (mode ``text`` cannot take one) and score the chroma similarity of the output
    with that melody, and with another clip's melody (chance level). Reference rows: the real clip,
    and the real clip through the decoder (the ceiling)."""

    notes = [item_notes(manifest, it) for it in items]
    others = notes[1:] + notes[:1]
    first = next(iter(pipes.values()))
    n = clip_frames(first.generation.seconds or first.clip_seconds) * AUDIOLDM_MEL.hop_length
    wavs = {"real audio": np.stack([fit_length(load_audio(manifest.audio_path(it)), n) for it in items])}
    decoder = first.decoder
    real = torch.from_numpy(wavs["real audio"])
    wavs["decoder ceiling"] = decoder.vocode(decoder.decode(decoder.encode(mels_of(real)))).numpy()
    for mode, pipe in pipes.items():
        out = pipe([it.caption for it in items], melody=None if mode == "text" else notes, seed=seed,
                   progress=progress, **generation)
        wavs[mode] = out.waveforms
    rows = [{"source": name, "id": it.id, "chroma": chroma_similarity(w, n), "chroma_other_melody": chroma_similarity(w, o)}
            for name, ws in wavs.items() for it, w, n, o in zip(items, ws, notes, others)]
    return pd.DataFrame(rows)
