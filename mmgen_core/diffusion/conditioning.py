"""What conditions the UNet: the class label q or [q, r], and the melody on the latent grid."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mmgen_core.audio.frontend import AUDIOLDM_MEL, clip_frames, mel_filters, mels_of
from mmgen_core.data.manifest import item_notes, load_clips, melody_text
from mmgen_core.diffusion.config import ROLL_KINDS, DiffusionConfig, check_mode
from mmgen_core.melody.notes import Note, chroma_roll

LATENT_BINS = AUDIOLDM_MEL.n_mels // 4
FPS = AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.hop_length  # mel frames per second (100)


def roll_channels(kind: str) -> int:
    """Extra UNet input channels of the melody features."""
    return {"mel": 16, "chroma": 12}[kind]


@lru_cache(maxsize=2)
def _pitch_templates(n_harmonics: int = 8) -> np.ndarray:
    """(128, 64): each MIDI pitch's harmonics (amplitude 1/h) seen through the mel filter bank, max 1."""
    fb = mel_filters(AUDIOLDM_MEL).numpy()
    hz_per_bin = AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.n_fft
    out = np.zeros((128, fb.shape[0]), dtype=np.float32)
    for p in range(128):
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        for h in range(1, n_harmonics + 1):
            k = int(round(h * f0 / hz_per_bin))
            if k < fb.shape[1] and h * f0 < AUDIOLDM_MEL.fmax:
                out[p] += fb[:, k] / h
        out[p] /= max(out[p].max(), 1e-8)
    return out


def harmonic_template(notes: Sequence[Note], frames: int) -> np.ndarray:
    """(frames, 64): the log-mel image the notes' harmonics would light up (1/h amplitudes, max 1)."""
    tpl = _pitch_templates()
    spec = np.zeros((frames, tpl.shape[1]), dtype=np.float32)
    for n in notes:
        a, b = max(0, int(np.floor(n.start * FPS))), min(frames, int(np.ceil(n.end * FPS)))
        if b > a and 0 <= n.pitch < 128:
            spec[a:b] = np.maximum(spec[a:b], tpl[n.pitch])
    return spec


def melody_features(notes: Sequence[Note], latent_frames: int, kind: str = "mel") -> np.ndarray:
    """The melody time-aligned on the latent grid, (C, latent_frames, 16).

    ``mel``: the notes' :func:`harmonic_template` on the 64 mel bins, folded 4×4 into 16 channels
    (space-to-depth), so every latent cell sees the spectrum the melody should put there.
    ``chroma``: the 12 pitch classes, max-pooled to latent frames, repeated along frequency.
    """
    frames = latent_frames * 4
    if kind == "chroma":
        c = chroma_roll(list(notes), frames, FPS).reshape(12, latent_frames, 4).max(-1)
        return np.repeat(c[:, :, None], LATENT_BINS, axis=2).astype(np.float32)
    if kind != "mel":
        raise ValueError(f"roll kind must be one of {ROLL_KINDS}, not {kind!r}")
    spec = harmonic_template(notes, frames)
    return spec.reshape(latent_frames, 4, LATENT_BINS, 4).transpose(1, 3, 0, 2).reshape(16, latent_frames, LATENT_BINS)


def cond_dim(cfg: DiffusionConfig, mode: str) -> int:
    """Width of the class label: q alone (text) or [q, r]."""
    return cfg.embed_dim * (1 if check_mode(mode) == "text" else 2)


def condition(mode: str, query: torch.Tensor, melody: torch.Tensor) -> torch.Tensor:
    """The class label of a mode: q, or [q, r]."""
    return query if check_mode(mode) == "text" else torch.cat([query, melody], dim=-1)


@dataclass
class ConditionData:
    """Training conditions: one row per (query, melody) pair, pointing at a clip (``item``).

    ``query``: q (caption text embedding, or the clip's audio embedding); ``melody``: r (the clip's
    own melody embedding, or the one retrieved for q); ``latents``/``rolls``: per clip; ``audio_query``:
    which rows' q is an audio embedding (None in files saved before it was recorded).
    """

    latents: torch.Tensor  # (N, C, T, 16), scaled
    rolls: torch.Tensor  # (N, R, T, 16)
    query: torch.Tensor  # (M, D)
    melody: torch.Tensor  # (M, D)
    item: torch.Tensor  # (M,) long, row → clip
    audio_query: torch.Tensor | None = None  # (M,) bool, row's q is audio (else text)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.contiguous() for k, v in asdict(self).items() if v is not None}, str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ConditionData":
        return cls(**load_file(str(path)))


def build_condition_data(cfg: DiffusionConfig, decoder, embedder, manifest, clip_seconds: float,
                         db=None, split: str = "train") -> ConditionData:
    """Latents, rolls and (q, r) rows of a split: every caption of a clip is one row (text query), or every
    clip (audio query), or both (``mix``: text rows first, each batch then draws from one kind)."""
    frames = clip_frames(clip_seconds)
    items = manifest.items(split)
    _, wavs = load_clips(manifest, split, frames)
    mels = mels_of(wavs)
    latents = torch.cat([decoder.encode(m) for m in tqdm(mels.split(16), desc="encode latents", leave=False)])
    rolls = torch.from_numpy(np.stack([melody_features(item_notes(manifest, it), latents.shape[2], cfg.roll)
                                       for it in items]))
    own = embedder.embed_melody([melody_text(it) for it in items]).float().cpu()
    kinds = []  # (row → clip, q, q is audio) of each query kind trained on
    if cfg.train_query != "audio":
        kinds.append((torch.tensor([i for i, it in enumerate(items) for _ in it.captions]),
                      embedder.embed_text([c for it in items for c in it.captions]).float().cpu(), False))
    if cfg.train_query != "text":
        kinds.append((torch.arange(len(items)), embedder.embed_audio(list(wavs.numpy())).float().cpu(), True))
    item, query = torch.cat([k[0] for k in kinds]), torch.cat([k[1] for k in kinds])
    audio_query = torch.cat([torch.full((len(k[0]),), k[2]) for k in kinds])
    if cfg.train_melody == "own":
        melody = own[item]
    else:
        if db is None:
            raise ValueError("diffusion.train_melody='retrieved' needs the melody database (db=...)")
        melody = torch.from_numpy(db.embeddings(db.search(query.numpy(), k=1).indices[:, 0])).float()
    return ConditionData(latents=latents, rolls=rolls, query=query, melody=melody, item=item, audio_query=audio_query)
