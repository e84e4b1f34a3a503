"""musicnn MTT_musicnn (Pons & Serra 2019) ported to PyTorch — the offline classifier for FAD/KL/IS.

The weights are the TF1 checkpoint shipped in the ``musicnn`` wheel (ISC licence), read with our own
reader (:mod:`.tf1_checkpoint`), so no TensorFlow is needed. The front end follows musicnn's extractor:
16 kHz, |STFT|² (n_fft 512, hop 256), 96 Slaney mels, stored as float16 as in training, log10(10000·x+1),
cut into 3 s patches of 187 frames. Outputs: 50 MagnaTagATune tag probabilities and the 200-d
penultimate layer, per patch and averaged per clip. Checked against the TensorFlow original on the
same input patches (tests/data/make_musicnn_fixture.py): tag probabilities agree to 2e-6."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.evaluation.backbones.base import Backbone, ClipFeatures, prepare_clips
from mmgen_core.evaluation.backbones.tf1_checkpoint import load_checkpoint

MUSICNN_SR = 16000
N_FFT, HOP, N_MELS = 512, 256, 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, musicnn's training input length
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
MTT_LABELS = ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
              "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
              "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
              "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance",
              "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal",
              "female voice", "choral")


LAYERS = ("penultimate", "mean_pool", "max_pool")


def musicnn_checkpoint_dir(model: str = "MTT_musicnn") -> Path:
    """The checkpoint folder inside the installed ``musicnn`` wheel (found via importlib)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the musicnn wheel is not installed; run `pip install --no-deps musicnn==0.1.0`")
    path = Path(next(iter(spec.submodule_search_locations))) / model
    if not (path / ".index").exists():
        raise FileNotFoundError(f"{path}: no musicnn checkpoint here; reinstall `musicnn==0.1.0`")
    return path


def musicnn_logmel(wav: np.ndarray) -> np.ndarray:
    """musicnn's input representation of a 16 kHz clip: (frames, 96) log10(10000·mel+1).

    musicnn's extractor also evaluates the log in float16, which overflows to inf for loud bins
    (mel power > 6.55); we keep the float16 rounding of the mel (as the training data was stored)
    but take the log in float32.
    """
    import librosa

    mel = librosa.feature.melspectrogram(y=wav, sr=MUSICNN_SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T
    mel = np.minimum(mel, np.finfo(np.float16).max)  # a louder bin would round to inf
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def patch_starts(n_frames: int, hop: int = PATCH_FRAMES) -> list[int]:
    """Patch start frames every ``hop``; unlike musicnn's extractor, which drops the tail, a last
    patch aligned to the clip's end covers it, so every frame counts."""
    starts = list(range(0, n_frames - PATCH_FRAMES + 1, hop))
    if starts[-1] + PATCH_FRAMES < n_frames:
        starts.append(n_frames - PATCH_FRAMES)
    return starts


def clip_patches(logmel: np.ndarray, hop: int = PATCH_FRAMES) -> np.ndarray:
    """(n_patches, 187, 96) patches of one clip; a clip under 3 s is repeat-padded (musicnn's training)."""
    if logmel.shape[0] < PATCH_FRAMES:
        logmel = np.tile(logmel, (-(-PATCH_FRAMES // logmel.shape[0]), 1))[:PATCH_FRAMES]
    return np.stack([logmel[s:s + PATCH_FRAMES] for s in patch_starts(logmel.shape[0], hop)])


class _FrontBlock(nn.Module):
    """conv → ReLU → batch norm → max over frequency; 'same' padding in time only (musicnn's blocks)."""
    def __init__(self, filters: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)
        k = kernel[0] - 1
        self.pad = (0, 0, k // 2, k - k // 2)  # TF 'same': the extra row goes after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(F.pad(x, self.pad)))).amax(dim=3)  # (B, filters, T)


class _MidBlock(nn.Module):
    """conv over all features × 7 frames ('same' in time) → ReLU → batch norm."""
    def __init__(self, channels: int, filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, filters, 7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusicnnNet(nn.Module):
    """MTT_musicnn: timbral (7×38, 7×67) and temporal (128/64/32×1) front end, three dense-connected
    1-D conv layers, max+mean temporal pooling, a 200-unit dense layer and 50 tag logits."""

    def __init__(self, n_mels: int = N_MELS, n_classes: int = 50, midend_filters: int = 64,
                 backend_units: int = 200) -> None:
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(_FrontBlock(timbral, (7, int(r * n_mels))) for r in (0.4, 0.7))
        self.temporal = nn.ModuleList(_FrontBlock(temporal, (k, 1)) for k in (128, 64, 32))
        front = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(_MidBlock(c, midend_filters) for c in (front, midend_filters, midend_filters))
        pooled = 2 * (front + 3 * midend_filters)
        self.bn_pool = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, backend_units)
        self.bn_dense = nn.BatchNorm1d(backend_units, eps=BN_EPS)
        self.out = nn.Linear(backend_units, n_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 187, 96) log-mel patches -> logits, probs, penultimate (200), mean_pool/max_pool (753)."""
        x = self.bn_input(x.unsqueeze(1))
        front = torch.cat([b(x) for b in (*self.timbral, *self.temporal)], dim=1)  # (B, 561, T)
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        max_pool, mean_pool = feats.amax(dim=2), feats.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's interleaved [max, mean] order
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(flat))))
        logits = self.out(penultimate)
        return {"logits": logits, "probs": torch.sigmoid(logits), "penultimate": penultimate,
                "mean_pool": mean_pool, "max_pool": max_pool}


def _bn(prefix: str, tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"weight": tf[f"{prefix}/gamma"], "bias": tf[f"{prefix}/beta"],
            "running_mean": tf[f"{prefix}/moving_mean"], "running_var": tf[f"{prefix}/moving_variance"]}


def musicnn_state_dict(tf: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map MTT_musicnn's TF1 variables (auto-numbered in graph-building order) to :class:`MusicnnNet`."""
    sd: dict[str, np.ndarray] = {}
    bns = ["bn_input", "timbral.0.bn", "timbral.1.bn", "temporal.0.bn", "temporal.1.bn", "temporal.2.bn",
           "midend.0.bn", "midend.1.bn", "midend.2.bn", "bn_pool", "bn_dense"]
    for i, name in enumerate(bns):
        for k, v in _bn("batch_normalization" + (f"_{i}" if i else ""), tf).items():
            sd[f"{name}.{k}"] = v
    convs = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "midend.0", "midend.1", "midend.2"]
    for i, name in enumerate(convs):
        kernel = tf["conv2d" + (f"_{i}" if i else "") + "/kernel"]  # (kh, kw, in, out)
        if name.startswith("midend"):  # kw spans all features with in=1: a 1-D conv over time
            sd[f"{name}.conv.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:
            sd[f"{name}.conv.weight"] = kernel.transpose(3, 2, 0, 1)
        sd[f"{name}.conv.bias"] = tf["conv2d" + (f"_{i}" if i else "") + "/bias"]
    for tf_name, name in (("dense", "dense"), ("dense_1", "out")):
        sd[f"{name}.weight"] = tf[f"{tf_name}/kernel"].T
        sd[f"{name}.bias"] = tf[f"{tf_name}/bias"]
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in sd.items()}


@lru_cache(maxsize=2)
def load_musicnn_net(model: str = "MTT_musicnn") -> MusicnnNet:
    """The pretrained network in eval mode (cached: the checkpoint is read once per process)."""
    net = MusicnnNet()
    missing, unexpected = net.load_state_dict(musicnn_state_dict(load_checkpoint(musicnn_checkpoint_dir(model))),
                                              strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"musicnn checkpoint mapping is incomplete: missing {missing}, unexpected {unexpected}")
    return net.eval()


class Musicnn(Backbone):
    """musicnn as an evaluation backbone: per-patch embeddings (``layer``) and per-clip tag outputs.

    Per clip, tag probabilities are the mean of the patch probabilities (musicnn's own taggram
    averaging) and logits the mean of the patch logits.
    """

    name = "musicnn"
    sample_rate = MUSICNN_SR

    def __init__(self, layer: str = "penultimate", patch_hop: int = PATCH_FRAMES, batch_size: int = 32) -> None:
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, not {layer!r}")
        if patch_hop < 1:
            raise ValueError(f"patch_hop must be a positive number of frames, not {patch_hop}")
        self.net = load_musicnn_net()
        self.layer, self.patch_hop, self.batch_size = layer, patch_hop, batch_size

    @torch.inference_mode()
    def patch_outputs(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """All network outputs per 3 s patch, and the clip index of each patch."""
        clips = prepare_clips(wavs, sample_rate, self.sample_rate)
        patches = [clip_patches(musicnn_logmel(w), self.patch_hop) for w in clips]
        clip_of = np.repeat(np.arange(len(patches)), [len(p) for p in patches])
        flat = torch.from_numpy(np.concatenate(patches))
        outs = [self.net(b) for b in flat.split(self.batch_size)]
        return {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}, clip_of

    def features(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> ClipFeatures:
        out, clip_of = self.patch_outputs(wavs, sample_rate)
        n = int(clip_of.max()) + 1
        per_clip = {k: np.stack([out[k][clip_of == i].mean(axis=0) for i in range(n)]) for k in ("logits", "probs")}
        return ClipFeatures([out[self.layer][clip_of == i] for i in range(n)], per_clip["logits"], per_clip["probs"])
