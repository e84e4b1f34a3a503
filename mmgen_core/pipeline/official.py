"""The authors' released MMGen checkpoints (and LAION-CLAP's audio branch) mapped onto our models.

What the release holds (read from the authors' code, commit in ``tests/fixtures/official_checkpoints/README.md``):

- ``mg2-clmp.pt`` (``mmgen-clmp.pt`` in their quick-start script): their CLMP, an open_clip-style ``CLAP``: HTS-AT
  audio branch (LAION's HTSAT-base, reading LAION's 48 kHz log-mel), RoBERTa text branch (pooler output), melody
  branch (``Embedding(655,1024)`` → zero-padded mean → ``pooler.dense`` → LayerNorm → Linear(1024,768) → GELU →
  ``fc1`` → GELU), an extra Linear(768,768) (``melody_mlp_1024_to_768``), three projections, two logit scales.
- ``mg2-diffusion-checkpoint.ckpt`` (``mmgen-diffusion-checkpoint.ckpt``): a Lightning checkpoint of AudioLDM's
  ``LatentDiffusion``: the UNet (``model.diffusion_model.*``, and its EMA ``model_ema.*`` that their sampler uses),
  the VAE with its HiFi-GAN (``first_stage_model.*``), two frozen copies of the CLMP (``cond_stage_models.0.*``,
  ``clap.*``), the noise schedule buffers and the latent ``scale_factor``. The UNet takes [q, r] through FiLM:
  ``film_emb`` Linear(1024, 768) whose output is concatenated to the time embedding = diffusers'
  ``class_embed_type="simple_projection"`` with ``class_embeddings_concat=True``.
- ``melody.npy`` (N, 512) melody embeddings and ``melody.faiss`` their L2 index: the database r is retrieved from.

Every converter maps keys explicitly, leaves out only the keys it names (front-end filters, classifier heads,
training-only MLPs and losses), and raises :class:`CheckpointError` naming the file and the first key that is
missing, unexpected or of the wrong shape."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import faiss
import numpy as np
import torch
from diffusers import DDPMScheduler
from transformers import ClapAudioConfig, ClapFeatureExtractor

from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.model import CLMP
from mmgen_core.checkpoints import CheckpointError, load_weights
from mmgen_core.diffusion.config import DiffusionConfig, noise_schedule

StateDict = dict[str, torch.Tensor]
# each part of the release by its names: as published on their checkpoint page first, then as their quick-start
# script names it
RELEASE_FILES = {"clmp": ("mg2-clmp.pt", "mmgen-clmp.pt"),
                 "ldm": ("mg2-diffusion-checkpoint.ckpt", "mmgen-diffusion-checkpoint.ckpt"),
                 "vectors": ("melody.npy",), "index": ("melody.faiss",)}
MELODY_LAYOUT = "official"  # the converted melody table keeps the authors' row order (mmgen_core.melody.tokens)
HTSAT_SPEC_SIZE = 256  # LAION's create_htsat_model fixes it for tiny, base and large; no weight shape records it
LAION_MEL = dict(sampling_rate=48000, feature_size=64, fft_window_size=1024, hop_length=480, frequency_min=50,
                 frequency_max=14000, max_length_s=10)  # HTSAT-*.json audio_cfg of their model_configs

# keys a converter leaves out on purpose (regex on the source key), and why
HTSAT_UNUSED = {
    r"^(spectrogram|logmel)_extractor\.": "torchlibrosa's fixed STFT/mel filters: ClapFeatureExtractor computes them",
    r"^(tscam_conv|head)\.": "the AudioSet classifier head; the embedding is taken before it",
    r"\.attn_mask$": "shifted-window masks, recomputed from the config",
}
CLMP_UNUSED = {
    r"^(audio|text|melody)_transform\.": "MLPs used only by the training loss with mlp_loss=True",
    r"^logit_scale_t$": "the second temperature; audio–text logits use logit_scale_a",
    r"^text_branch\.embeddings\.position_ids$": "a buffer older transformers saved; recomputed",
}
LDM_UNUSED = {
    r"^(cond_stage_models|clap)\.": "frozen copies of the CLMP (loaded from mg2-clmp.pt)",
    r"^first_stage_model\.loss\.": "the VAE's training loss (LPIPS, discriminator)",
    r"^model_ema\.(decay|num_updates)$": "EMA bookkeeping",
    r"^(logvar|alphas_cumprod(_prev)?|sqrt_.*|log_one_minus_alphas_cumprod|posterior_.*)$":
        "schedule buffers derived from betas",
}


def _strip_module(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """Drop the ``module.`` prefix that DistributedDataParallel checkpoints carry on every key."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def read_checkpoint(path: str | Path) -> StateDict:
    """A torch checkpoint's flat state dict (``state_dict`` unwrapped, ``module.`` stripped), read with
    ``weights_only=True``: a foreign file is never unpickled."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises several types for files it will not load safely
        raise CheckpointError(f"{path}: not readable as a weights-only torch checkpoint ({exc}); if you trust the "
                              "file, re-save just its state_dict with torch.save and point at that") from exc
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return _strip_module(sd)


def _sub(sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _get(sd: Mapping[str, torch.Tensor], key: str, source: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{source}: missing key {key!r}; not a checkpoint of the expected model")
    return sd[key]


def _ignored(key: str, rules: Mapping[str, str]) -> bool:
    return any(re.search(r, key) for r in rules)


def _check_used(sd: Mapping[str, torch.Tensor], used: set[str], rules: Mapping[str, str], source: str) -> None:
    """Every source key is mapped or named in ``rules``; else the first one is reported."""
    extra = [k for k in sd if k not in used and not _ignored(k, rules)]
    if extra:
        raise CheckpointError(f"{source}: unexpected key {extra[0]!r} ({len(extra)} in all); this checkpoint holds "
                              "parts the converter does not know, so it is not the expected release")


def _root(t: torch.Tensor) -> torch.Tensor:
    return t if t._base is None else t._base  # torch keeps _base at the root of a chain of views


def _mapped_by_identity(sd: Mapping[str, torch.Tensor], out: Mapping[str, torch.Tensor]) -> set[str]:
    """Source keys whose tensor (or a view of it) is in ``out``: what a renaming converter consumed."""
    roots = {id(_root(v)) for v in out.values()}
    return {k for k, v in sd.items() if id(_root(v)) in roots}


# ---------------------------------------------------------------- HTS-AT (LAION-CLAP, CLMP audio branch)

_HTSAT_RENAMES = (("bn0.", "batch_norm."), (".attn.proj.", ".attention.output.dense."), (".attn.", ".attention.self."),
                  (".norm1.", ".layernorm_before."), (".norm2.", ".layernorm_after."),
                  (".mlp.fc1.", ".intermediate.dense."), (".mlp.fc2.", ".output.dense."))


def convert_htsat(audio: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """LAION's HTS-AT (``audio_branch.*`` without the prefix) → transformers' ``ClapAudioModel`` keys:
    the same modules renamed, each fused ``qkv`` split into query/key/value (the mapping of transformers'
    former ``convert_clap_original_pytorch_to_hf.py``, which no longer ships with the package)."""
    if any(k.startswith(("fusion_model.", "mel_conv2d.", "mel_conv1d.")) for k in audio):
        raise CheckpointError(f"{source}: a fused CLAP checkpoint (enable_fusion=True); its 4-crop input is not "
                              "supported, use an unfused one")
    out, used = {}, set()
    for key, value in audio.items():
        if _ignored(key, HTSAT_UNUSED):
            continue
        new = "audio_encoder." + key
        for old, repl in _HTSAT_RENAMES:
            new = new.replace(old, repl)
        if ".qkv." in new:
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                out[new.replace("qkv", name)] = part
        else:
            out[new] = value
        used.add(key)
    _check_used(audio, used, HTSAT_UNUSED, source)
    return out


def clap_audio_config(audio: Mapping[str, torch.Tensor], source: str,
                      spec_size: int = HTSAT_SPEC_SIZE) -> ClapAudioConfig:
    """The ClapAudioConfig of an HTS-AT state dict, read off its shapes (width, depths, heads, window);
    ``spec_size`` (the input image side) leaves no trace in the weights."""
    patch = _get(audio, "patch_embed.proj.weight", source)
    depths, heads, window = [], [], 0
    while f"layers.{len(depths)}.blocks.0.attn.qkv.weight" in audio:
        i = len(depths)
        depths.append(len({k.split(".")[3] for k in audio if k.startswith(f"layers.{i}.blocks.")}))
        table = audio[f"layers.{i}.blocks.0.attn.relative_position_bias_table"]
        heads.append(int(table.shape[1]))
        window = (math.isqrt(int(table.shape[0])) + 1) // 2
    if not depths:
        raise CheckpointError(f"{source}: missing key 'layers.0.blocks.0.attn.qkv.weight'; not an HTS-AT audio branch")
    width = int(patch.shape[0])
    return ClapAudioConfig(spec_size=spec_size, num_mel_bins=int(_get(audio, "bn0.weight", source).shape[0]),
                           patch_size=int(patch.shape[-1]), patch_stride=[int(patch.shape[-1])] * 2,
                           window_size=window, patch_embeds_hidden_size=width, depths=depths,
                           num_attention_heads=heads, hidden_size=width * 2 ** (len(depths) - 1))


def laion_feature_extractor() -> ClapFeatureExtractor:
    """LAION's HTS-AT front end (48 kHz, 64 mels, 50–14000 Hz, librosa/Slaney filters on the unfused path)."""
    return ClapFeatureExtractor(**LAION_MEL)


def convert_laion_clap(state_dict: Mapping[str, torch.Tensor], source: str = "LAION-CLAP checkpoint") -> StateDict:
    """A LAION-CLAP (or MMGen CLMP) checkpoint's audio branch → a ``ClapAudioModel`` state dict; build the model
    with :func:`clap_audio_config` of ``audio_branch.*`` and feed it :func:`laion_feature_extractor` features."""
    audio = _sub(_strip_module(state_dict), "audio_branch.")
    if not audio:
        raise CheckpointError(f"{source}: no 'audio_branch.*' keys; not a LAION-CLAP checkpoint")
    return convert_htsat(audio, source)


# ---------------------------------------------------------------- CLMP


def official_alignment_config(base: AlignmentConfig, audio: ClapAudioConfig) -> AlignmentConfig:
    """``base`` turned into the authors' CLMP: tri-modal, official melody tower, RoBERTa pooler (max 512 tokens,
    their tokenizer's), the HTS-AT of ``audio`` (built from scratch, weights loaded after)."""
    return replace(base, modalities="atm", melody_tower="official", melody_layout=MELODY_LAYOUT, text_pooling="pooler", text_max_tokens=512,
                   audio_pretrained=None, audio_spec_size=audio.spec_size, audio_patch=audio.patch_size,
                   audio_window=audio.window_size, audio_width=audio.patch_embeds_hidden_size,
                   audio_depths=list(audio.depths), audio_heads=list(audio.num_attention_heads))


def convert_clmp(state_dict: Mapping[str, torch.Tensor], cfg: AlignmentConfig,
                 source: str = "CLMP checkpoint") -> StateDict:
    """The authors' CLMP → ``CLMP(cfg).state_dict()`` keys (``cfg`` from :func:`official_alignment_config`).

    1:1: HTS-AT (:func:`convert_htsat`), RoBERTa, the melody tower's layers, the audio/text projections, the
    logit scale (``logit_scale_a``). Adapted: their extra Linear(768,768) between the melody tower's last GELU and
    the projection has no activation after it, so it is folded into the projection's first Linear
    (W = P·M, b = P·m + p): the same function, exactly. The embedding rows stay in their id order
    (:data:`MELODY_LAYOUT`)."""
    if not cfg.uses_melody or cfg.melody_tower != "official" or cfg.text_pooling != "pooler":
        raise CheckpointError(f"{source}: the authors' CLMP needs modalities 'atm', melody_tower 'official' and "
                              "text_pooling 'pooler' (use official_alignment_config)")
    sd = _strip_module(state_dict)
    audio = _sub(sd, "audio_branch.")
    out = {"audio.encoder." + k: v for k, v in convert_htsat(audio, source).items()}
    out["scale.value"] = _get(sd, "logit_scale_a", source)
    used = {"logit_scale_a"} | {"audio_branch." + k for k in audio}
    text = _sub(sd, "text_branch.")
    out.update({"text.encoder." + k: v for k, v in text.items() if not _ignored("text_branch." + k, CLMP_UNUSED)})
    used |= {"text_branch." + k for k in text}
    renames = {"melody.embed.weight": "melody_branch.melody_embbedding_weight.weight",
              "melody.mlp.0": "melody_branch.pooler.dense", "melody.mlp.1": "melody_branch.LayerNorm",
              "melody.mlp.2": "melody_branch.mlp_1024_to_768", "melody.mlp.4": "melody_branch.fc1",
              "melody_proj.net.2": "melody_projection.2", "audio_proj.net.0": "audio_projection.0",
              "audio_proj.net.2": "audio_projection.2", "text_proj.net.0": "text_projection.0",
              "text_proj.net.2": "text_projection.2"}
    for ours, theirs in renames.items():
        for suffix in ([""] if ours.endswith(".weight") else [".weight", ".bias"]):
            out[ours + suffix] = _get(sd, theirs + suffix, source)
            used.add(theirs + suffix)
    m_w, m_b = _get(sd, "melody_mlp_1024_to_768.weight", source), _get(sd, "melody_mlp_1024_to_768.bias", source)
    p_w, p_b = _get(sd, "melody_projection.0.weight", source), _get(sd, "melody_projection.0.bias", source)
    out["melody_proj.net.0.weight"], out["melody_proj.net.0.bias"] = p_w @ m_w, p_w @ m_b + p_b
    used |= {"melody_mlp_1024_to_768.weight", "melody_mlp_1024_to_768.bias", "melody_projection.0.weight",
             "melody_projection.0.bias"}
    _check_used(sd, used, CLMP_UNUSED, source)
    return out


def load_official_clmp(state_dict: Mapping[str, torch.Tensor], base: AlignmentConfig, clip_seconds: float,
                       source: str = "CLMP checkpoint") -> CLMP:
    """Our CLMP holding the authors' weights: HTS-AT sized from the checkpoint with LAION's 48 kHz front end,
    RoBERTa from ``base.text_model`` (its tokenizer and config; weights replaced), melody ids in
    :data:`MELODY_LAYOUT` (``model.cfg.melody_layout``)."""
    audio_cfg = clap_audio_config(_sub(_strip_module(state_dict), "audio_branch."), source)
    cfg = official_alignment_config(base, audio_cfg)
    model = CLMP(cfg, clip_seconds)
    load_weights(model, convert_clmp(state_dict, cfg, source), source)
    model.audio.extractor = laion_feature_extractor()
    return model.eval()


@torch.no_grad()
def official_null_condition(model: CLMP) -> torch.Tensor:
    """The authors' unconditional input for classifier-free guidance: [u, u], u = the CLMP embedding of the empty
    caption (their UNet never saw our zeros). Tokenized directly: our caption check refuses empty prompts."""
    tok = model.text.tokenizer([""], padding=True, truncation=True, max_length=model.text.max_tokens,
                               return_tensors="pt")
    u = model.text_proj(model.text(tok["input_ids"].to(model.device), tok["attention_mask"].to(model.device)))
    return torch.cat([u, u], dim=-1).float().cpu()


# ---------------------------------------------------------------- LDM: UNet, VAE, HiFi-GAN


def convert_hifigan(state_dict: Mapping[str, torch.Tensor], source: str = "HiFi-GAN checkpoint") -> StateDict:
    """AudioLDM's HiFi-GAN generator → ``SpeechT5HifiGan`` keys: ``ups`` → ``upsampler``, weight norm
    (``weight_g``/``weight_v`` of a raw generator checkpoint) folded into plain weights, and the identity input
    normalisation (mean 0, scale 1: AudioLDM's vocoder reads the raw log-mel)."""
    out, used = {}, set()
    for key, value in state_dict.items():
        new = re.sub(r"^ups\.", "upsampler.", key)
        if key.endswith(".weight_v"):
            g = _get(state_dict, key[:-1] + "g", source)
            norm = value.flatten(1).norm(dim=1).reshape(-1, *[1] * (value.dim() - 1))
            out[new[:-len("_v")]] = value * (g / norm)
            used |= {key, key[:-1] + "g"}
        elif not key.endswith(".weight_g"):
            out[new] = value
            used.add(key)
    _check_used(state_dict, used, {}, source)
    mels = _get(state_dict, "conv_pre.weight" if "conv_pre.weight" in state_dict else "conv_pre.weight_v",
                source).shape[1]
    out["mean"], out["scale"] = torch.zeros(mels), torch.ones(mels)
    return out


@dataclass
class OfficialLDM:
    """Converted parts of the authors' LDM checkpoint."""
    unet: StateDict
    vae: StateDict
    vocoder: StateDict
    scale_factor: float  # the VAE latents' scaling factor (AudioLDM's scale_by_std)


def _ema_unet(sd: Mapping[str, torch.Tensor], source: str) -> StateDict:
    """The EMA weights under the UNet's own names (LitEma stores ``model_ema.<name without dots>``)."""
    return {k: _get(sd, "model_ema." + k[len("model."):].replace(".", ""), source)
            for k in sd if k.startswith("model.diffusion_model.")}


def check_schedule(betas: torch.Tensor, cfg: DiffusionConfig, source: str) -> None:
    """The checkpoint's β schedule must be the one our samplers use (AudioLDM 'linear' = diffusers scaled_linear)."""
    ours = DDPMScheduler(**noise_schedule(cfg)).betas
    if betas.shape != ours.shape or not torch.allclose(betas.float(), ours, rtol=1e-4, atol=1e-7):
        raise CheckpointError(f"{source}: its noise schedule (betas, {tuple(betas.shape)}) is not the profile's "
                              f"({cfg.num_train_timesteps} steps, β {cfg.beta_start}→{cfg.beta_end} scaled_linear)")


def convert_ldm(state_dict: Mapping[str, torch.Tensor], cfg: DiffusionConfig, source: str = "LDM checkpoint",
                ema: bool = True) -> OfficialLDM:
    """AudioLDM-layout checkpoint → UNet, VAE and HiFi-GAN state dicts for ``build_unet(cfg, 'mmgen', 8)``,
    ``build_vae`` and ``build_hifigan``.

    UNet and VAE go through diffusers' own ``convert_ldm_unet_checkpoint`` / ``convert_ldm_vae_checkpoint``;
    adapted here: the UNet's ``film_emb`` (which diffusers' function does not know) becomes ``class_embedding``,
    the EMA weights (``ema``, what their sampler uses) are taken when present, and both functions' silence about
    keys they skip is replaced by a check that every source tensor was used. The schedule is checked against
    ``cfg``."""
    # imported here: the module pulls in Stable Diffusion's CLIP/safety-checker stack (slow, and it warns)
    from diffusers.pipelines.stable_diffusion.convert_from_ckpt import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    sd = _strip_module(state_dict)
    if "betas" in sd:
        check_schedule(sd["betas"], cfg, source)
    use_ema = ema and any(k.startswith("model_ema.diffusion_model") for k in sd)
    unet_src = _ema_unet(sd, source) if use_ema else {k: v for k, v in sd.items()
                                                       if k.startswith("model.diffusion_model.")}
    if not unet_src:
        raise CheckpointError(f"{source}: missing key 'model.diffusion_model.*'; not an AudioLDM-layout checkpoint")
    flat = {k[len("model.diffusion_model."):]: v for k, v in unet_src.items()}
    try:
        unet = convert_ldm_unet_checkpoint(dict(flat), {"layers_per_block": cfg.layers_per_block,
                                                        "class_embed_type": None, "addition_embed_type": None},
                                           skip_extract_state_dict=True)
    except KeyError as exc:
        raise CheckpointError(f"{source}: missing key 'model.diffusion_model.{exc.args[0]}'") from exc
    for w in ("weight", "bias"):
        unet[f"class_embedding.{w}"] = _get(flat, f"film_emb.{w}", source)
    used = {"model.diffusion_model." + k for k in _mapped_by_identity(flat, unet)}
    if use_ema:  # the EMA tensors were used; the raw weights they stand for are superseded
        used = {"model_ema." + k[len("model."):].replace(".", "") for k in used} | set(unet_src)
    else:
        used |= {k for k in sd if k.startswith("model_ema.")}

    vae_src = {k: v for k, v in _sub(sd, "first_stage_model.").items() if not k.startswith(("vocoder.", "loss."))}
    try:
        vae = convert_ldm_vae_checkpoint(vae_src, {})
    except KeyError as exc:
        raise CheckpointError(f"{source}: missing key 'first_stage_model.{exc.args[0]}'") from exc
    used |= {"first_stage_model." + k for k in _mapped_by_identity(vae_src, vae)}
    vocoder_src = _sub(sd, "first_stage_model.vocoder.")
    vocoder = convert_hifigan(vocoder_src, source + " (first_stage_model.vocoder)")
    used |= {"first_stage_model.vocoder." + k for k in vocoder_src} | {"betas", "scale_factor"}
    _check_used(sd, used, LDM_UNUSED, source)
    scale = float(sd["scale_factor"]) if "scale_factor" in sd else 1.0
    return OfficialLDM(unet, vae, vocoder, scale)


# ---------------------------------------------------------------- the release folder


@dataclass
class OfficialRelease:
    """The files of the authors' release in one folder (``RELEASE_FILES``); the CLMP file may be absent when the
    LDM checkpoint carries its copy (``cond_stage_models.0.model.*``)."""
    folder: Path

    def path(self, part: str) -> Path:
        """The file of ``part`` under whichever of its names the folder holds (the published one when none)."""
        names = RELEASE_FILES[part]
        return next((self.folder / n for n in names if (self.folder / n).is_file()), self.folder / names[0])

    @classmethod
    def find(cls, folder: str | Path) -> "OfficialRelease":
        """The release in ``folder``, or a :class:`CheckpointError` naming the missing files."""
        release = cls(Path(folder))
        missing = [" or ".join(RELEASE_FILES[p]) for p in ("ldm", "vectors", "index") if not release.path(p).is_file()]
        if missing:
            raise CheckpointError(f"{folder}: not the authors' MMGen release (missing {missing}); it needs "
                                  f"{[n[0] for n in RELEASE_FILES.values()]} from their checkpoint page")
        return release

    @staticmethod
    def holds(folder: str | Path) -> bool:
        """Whether ``folder`` looks like the authors' release (its LDM checkpoint is there, under either name)."""
        return OfficialRelease(Path(folder)).path("ldm").is_file()

    def clmp_state(self, ldm: Mapping[str, torch.Tensor]) -> tuple[StateDict, str]:
        """The CLMP weights: ``mg2-clmp.pt``, else the copy the LDM checkpoint conditions on."""
        if self.path("clmp").is_file():
            return read_checkpoint(self.path("clmp")), str(self.path("clmp"))
        copy = _sub(ldm, "cond_stage_models.0.model.")
        if not copy:
            raise CheckpointError(f"{self.folder}: no {' or '.join(RELEASE_FILES['clmp'])} and no CLMP inside "
                                  f"{self.path('ldm').name} (cond_stage_models.0.model.*)")
        return copy, f"{self.path('ldm')} (cond_stage_models.0.model)"

    def melody_vectors(self) -> np.ndarray:
        """The database's melody embeddings, checked against their faiss index (same count and width)."""
        vectors = np.load(self.path("vectors"))
        index = faiss.read_index(str(self.path("index")))
        if vectors.ndim != 2 or index.ntotal != len(vectors) or index.d != vectors.shape[1]:
            raise CheckpointError(f"{self.folder}: {self.path('vectors').name} {vectors.shape} and "
                                  f"{self.path('index').name} ({index.ntotal} × {index.d}) do not describe the same "
                                  "database")
        return vectors
