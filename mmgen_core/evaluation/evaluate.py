"""FAD, KL and IS of a generated set against its references, with the profile's backbones."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.evaluation.audio_metrics import (
    fad,
    fad_bootstrap,
    fad_inf,
    inception_score,
    kid,
    kl_divergence,
    normalise_tags,
    softmax,
)
from mmgen_core.evaluation.backbones.base import Backbone, ClipFeatures
from mmgen_core.evaluation.backbones.musicnn import Musicnn
from mmgen_core.evaluation.backbones.panns import CNN14_16K, CNN14_32K, PANNsCNN14
from mmgen_core.evaluation.backbones.vggish import VGGish

BACKBONES = ("musicnn", "panns", "vggish+panns")


@dataclass
class EvaluationConfig:
    """The profile's ``evaluation`` section."""
    backbone: str = "musicnn"  # musicnn | panns | vggish+panns (the paper's setup)
    musicnn_layer: str = "penultimate"  # musicnn embedding for FAD: penultimate | mean_pool | max_pool
    vggish_weights: str | None = None  # local torchvggish state dict (.pth)
    panns_weights: str | None = None  # local PANNs checkpoint (e.g. Cnn14_mAP=0.431.pth)
    panns_sample_rate: int = 32000  # 32000 (Cnn14_mAP=0.431) or 16000 (Cnn14_16k_mAP=0.438)
    class_distribution: str = "softmax"  # KL/IS on softmax(logits) (AudioLDM) or on normalised tag probs ("tags")
    is_splits: int = 10
    bootstrap: int = 200  # bootstrap resamples for the FAD interval; 0 = none
    confidence: float = 0.95
    fad_inf: bool = False
    seed: int = 0
    projection_dims: int = 32  # FAD∞ of the harness in a PCA of training audio (docs/method.md §2.8); 0 = full d
    projection_clips: int = 256  # training clips the projection is fitted on
    fad_sizes: int = 5  # subset sizes N/2…N of the both-sides FAD∞
    fad_orders: int = 3  # fixed clip orders the nested subsets follow (averaged)


@lru_cache(maxsize=4)
def load_backbone(name: str, weights: str | None = None, *, panns_sample_rate: int = 32000,
                  musicnn_layer: str = "penultimate") -> Backbone:
    """One backbone (``musicnn``, ``vggish`` or ``panns``), built once per process and cached."""
    if name == "musicnn":
        return Musicnn(layer=musicnn_layer)
    if name in ("vggish", "panns"):
        if not weights:
            raise ValueError(f"backbone {name!r} needs a local weight file: set evaluation.{name}_weights")
        if name == "vggish":
            return VGGish(weights)
        cfgs = {32000: CNN14_32K, 16000: CNN14_16K}
        if panns_sample_rate not in cfgs:
            raise ValueError(f"panns_sample_rate must be 32000 or 16000, not {panns_sample_rate}")
        return PANNsCNN14(weights, cfgs[panns_sample_rate])
    raise ValueError(f"unknown backbone {name!r}; choose musicnn, vggish or panns")


def _backbones(cfg: EvaluationConfig) -> tuple[Backbone, Backbone]:
    """(FAD backbone, KL/IS backbone) for a config."""
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"unknown evaluation backbone {cfg.backbone!r}; choose one of {BACKBONES}")
    if cfg.backbone == "musicnn":
        net = load_backbone("musicnn", musicnn_layer=cfg.musicnn_layer)
        return net, net
    panns = load_backbone("panns", cfg.panns_weights, panns_sample_rate=cfg.panns_sample_rate)
    return (load_backbone("vggish", cfg.vggish_weights) if cfg.backbone == "vggish+panns" else panns), panns


def class_distribution(f: ClipFeatures, kind: str) -> np.ndarray:
    """Each clip's class distribution for KL and IS: softmax of the logits (AudioLDM) or normalised tag probs."""
    if kind == "softmax":
        return softmax(f.logits)
    if kind == "tags":
        return normalise_tags(f.probs)
    raise ValueError(f"class_distribution must be 'softmax' or 'tags', not {kind!r}")


def _clip_of_row(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The clip index of every row of the concatenated per-clip frame embeddings."""
    return np.repeat(np.arange(len(frames)), [len(f) for f in frames])


def clip_features(wavs: Sequence[np.ndarray], config: EvaluationConfig,
                  sample_rate: int = SAMPLE_RATE) -> tuple[ClipFeatures, ClipFeatures]:
    """The FAD backbone's and the KL/IS backbone's features of clips (one object when one backbone does both):
    computed once, then scored as sets, per clip or resampled."""
    fad_net, cls_net = _backbones(config)
    feats = fad_net.features(wavs, sample_rate)
    return feats, feats if cls_net is fad_net else cls_net.features(wavs, sample_rate)


def set_scores(generated: tuple[ClipFeatures, ClipFeatures], reference: tuple[ClipFeatures, ClipFeatures],
               config: EvaluationConfig, paired: bool = True) -> dict[str, Any]:
    """FAD (with a clip-bootstrap interval; FAD∞ if configured), KID with its clip-jackknife standard error, KL
    and IS of generated clips' features (:func:`clip_features`) against the references'."""
    gen, ref = generated[0], reference[0]
    if paired and len(gen.frames) != len(ref.frames):
        raise ValueError(f"paired evaluation needs as many generated as reference clips "
                         f"({len(gen.frames)} vs {len(ref.frames)}); pass paired=False to skip KL")
    g_emb, r_emb = np.concatenate(gen.frames), np.concatenate(ref.frames)
    g_rows, r_rows = _clip_of_row(gen.frames), _clip_of_row(ref.frames)
    out: dict[str, Any] = {"backbone": config.backbone, "n_generated": len(gen.frames), "n_reference": len(ref.frames)}
    if config.bootstrap > 1 and len(gen.frames) > 1 and len(ref.frames) > 1:
        res = fad_bootstrap(g_emb, r_emb, config.bootstrap, config.confidence, config.seed, g_rows, r_rows)
        out.update(fad=res.value, fad_low=res.low, fad_high=res.high)
    else:
        out["fad"] = fad(g_emb, r_emb)
    if config.fad_inf:  # the extrapolation needs subsets of at least 2 of at least 4 rows
        out["fad_inf"] = fad_inf(g_emb, r_emb, seed=config.seed) if len(g_emb) >= 4 else float("nan")
    k = kid(g_emb, r_emb, g_rows, r_rows)
    out.update(kid=k.value, kid_se=k.se)
    p_gen = class_distribution(generated[1], config.class_distribution)
    if paired:
        out["kl"] = kl_divergence(p_gen, class_distribution(reference[1], config.class_distribution))
    out["is"], out["is_std"] = inception_score(p_gen, config.is_splits, config.seed)
    return out


def evaluate_set(generated_wavs: Sequence[np.ndarray], reference_wavs: Sequence[np.ndarray],
                 backbone: str | None = None, *, config: EvaluationConfig | None = None,
                 sample_rate: int = SAMPLE_RATE, paired: bool = True) -> dict[str, Any]:
    """FAD (with a clip-bootstrap CI; FAD∞ if configured), KID with its clip-jackknife standard error, KL and IS
    of generated clips against references.

    FAD compares the frame-level embeddings of the two sets (AudioLDM/VGGish style: every 0.96 s
    example or 3 s patch is an item); KL needs ``paired`` clips (generated i made for reference i's
    prompt); IS is of the generated set alone. ``backbone`` overrides ``config.backbone``.
    """
    cfg = dataclasses.replace(config or EvaluationConfig(), **({"backbone": backbone} if backbone else {}))
    return set_scores(clip_features(generated_wavs, cfg, sample_rate), clip_features(reference_wavs, cfg, sample_rate),
                      cfg, paired)
