"""The decoder ceiling: real clips resynthesised by each decoder stage, which generation cannot beat."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from mmgen_core.audio.frontend import (
    mels_of,
)
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.vocoder import resynthesis_scores
from mmgen_core.evaluation.melody_metrics import chroma_similarity


@torch.no_grad()
def decoder_ceiling(decoder: Decoder, wavs: torch.Tensor, ids: Sequence[str] | None = None,
                    melodies: Sequence[Sequence] | None = None) -> pd.DataFrame:
    """Resynthesise real clips through each stage: vocoder only (true mel) and VAE + vocoder.

    The scores bound what generation can reach: generated audio cannot beat its own decoder. With
    ``melodies`` (notes per clip) the chroma similarity to the melody is reported for the real clip
    and both resyntheses: the ceiling of every chroma figure of the generated clips (Table 1, notebook 09).
    """

    mels = mels_of(wavs)
    resynth, rec = decoder.resynthesize(wavs, return_mel=True)
    stages = {"real": wavs, "vocoder": decoder.vocode(mels), "vae+vocoder": resynth}
    rows = []
    for i in range(len(wavs)):
        row = {"id": ids[i] if ids is not None else str(i), "vae_mel_l1": float((rec[i] - mels[i]).abs().mean())}
        for name in ("vocoder", "vae+vocoder"):
            row.update({f"{name}_{k}": v for k, v in resynthesis_scores(wavs[i:i + 1], stages[name][i:i + 1]).items()})
        if melodies is not None:
            row.update({f"{name}_chroma": chroma_similarity(w[i].numpy(), melodies[i]) for name, w in stages.items()})
        rows.append(row)
    return pd.DataFrame(rows)
