"""Conditional latent diffusion (DESIGN §2.4): a diffusers UNet with FiLM conditioning on [q, r].

Three conditioning modes share one code path:

* ``text`` — class label q (the caption's text embedding): the AudioLDM-style baseline;
* ``mmgen`` — class label [q, r], r the melody embedding (the paper);
* ``mmgen+roll`` — [q, r] plus the melody itself, time-aligned on the latent grid and fed to the
  UNet as extra input channels (ours), so the music can follow the melody's notes.

The condition enters as diffusers' AudioLDM does: ``class_embed_type="simple_projection"`` with
``class_embeddings_concat=True`` (a Linear of [q, r] concatenated to the time embedding = FiLM).
Classifier-free guidance drops q, r and the roll together (p = 0.1) and replaces them by one null
condition — zeros — used identically in training and sampling (the official code does not).

Which melody conditions training: the official code queries its melody database with the CLMP
*audio* embedding of the training clip and uses the top-1 retrieved melody (re-reading the index
every batch); its query at inference is the text. Our default (``train_query: text``,
``train_melody: own``) trains on the caption's text embedding and the clip's own melody embedding,
which is what the roll must match anyway; ``train_query: audio`` + ``train_melody: retrieved`` is
the official recipe (``paper`` profile).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from tqdm.auto import tqdm

from .audio import AUDIOLDM_MEL
from .checkpoints import CheckpointError, seed_everything
from .melody import Note, chroma_roll
from .trainloop import LoopConfig, apply_ema, train

MODES = ("text", "mmgen", "mmgen+roll")
ROLL_KINDS = ("mel", "chroma")
SAMPLERS = ("ddim", "dpm")
GUIDANCE_FORMS = ("official", "paper")
LATENT_BINS = AUDIOLDM_MEL.n_mels // 4
FPS = AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.hop_length  # mel frames per second (100)
FORMAT = 1  # bump when saved diffusion artifacts change meaning (it is part of the artifact key)


@dataclass
class DiffusionConfig:
    """Profile section ``diffusion``: UNet size, schedule, conditioning and training.

    ``pretrained``: a local diffusers folder with ``unet/`` (e.g. AudioLDM-M) to start from; its
    class-embedding and input convolutions are widened with zeros for [q, r] and the roll channels.
    """

    modes: list[str] = field(default_factory=lambda: list(MODES))
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    layers_per_block: int = 1
    attention: list[bool] = field(default_factory=lambda: [False, False, True])
    head_channels: int = 32
    norm_num_groups: int = 16
    embed_dim: int = 512
    roll: str = "mel"  # mel: the notes' harmonics on the latent grid; chroma: 12 pitch classes
    num_train_timesteps: int = 1000
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    cond_drop: float = 0.1
    train_query: str = "text"  # text | audio (official)
    train_melody: str = "own"  # own | retrieved (official)
    steps: int = 600
    batch_size: int = 16
    crop_frames: int = 64  # latent frames per training crop (the UNet is convolutional); 0 = whole clips
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    ema_decay: float = 0.999
    checkpoint_every: int = 200
    pretrained: str | None = None

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"diffusion.modes: unknown {bad}; choose from {MODES}")
        if self.roll not in ROLL_KINDS:
            raise ValueError(f"diffusion.roll must be one of {ROLL_KINDS}, not {self.roll!r}")
        if len(self.attention) != len(self.block_out_channels):
            raise ValueError("diffusion.attention needs one flag per entry of block_out_channels")
        if self.train_query not in ("text", "audio") or self.train_melody not in ("own", "retrieved"):
            raise ValueError("diffusion.train_query must be text|audio and train_melody own|retrieved")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"conditioning mode must be one of {MODES}, not {mode!r}")
    return mode


# ---------------------------------------------------------------- melody on the latent grid


def roll_channels(kind: str) -> int:
    """Extra UNet input channels of the melody features."""
    return {"mel": 16, "chroma": 12}[kind]


@lru_cache(maxsize=2)
def _pitch_templates(n_harmonics: int = 8) -> np.ndarray:
    """(128, 64): each MIDI pitch's harmonics (amplitude 1/h) seen through the mel filter bank, max 1."""
    from .audio import mel_filters

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


# ---------------------------------------------------------------- the UNet


def cond_dim(cfg: DiffusionConfig, mode: str) -> int:
    """Width of the class label: q alone (text) or [q, r]."""
    return cfg.embed_dim * (1 if check_mode(mode) == "text" else 2)


def in_channels(cfg: DiffusionConfig, mode: str, latent_channels: int) -> int:
    return latent_channels + (roll_channels(cfg.roll) if check_mode(mode) == "mmgen+roll" else 0)


def build_unet(cfg: DiffusionConfig, mode: str, latent_channels: int = 8) -> UNet2DConditionModel:
    """A random UNet2DConditionModel with AudioLDM's FiLM conditioning, sized by ``cfg``."""
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention))
    ch = tuple(cfg.block_out_channels)
    return UNet2DConditionModel(
        sample_size=(64, LATENT_BINS), in_channels=in_channels(cfg, mode, latent_channels),
        out_channels=latent_channels, down_block_types=down, up_block_types=up, block_out_channels=ch,
        layers_per_block=cfg.layers_per_block, norm_num_groups=cfg.norm_num_groups,
        cross_attention_dim=ch,  # no text sequence: the attention blocks attend to themselves (as AudioLDM)
        attention_head_dim=tuple(max(1, c // cfg.head_channels) for c in ch),  # diffusers: number of heads
        class_embed_type="simple_projection", projection_class_embeddings_input_dim=cond_dim(cfg, mode),
        class_embeddings_concat=True)


def widen_unet(unet: UNet2DConditionModel, n_in: int, n_cond: int, source: str = "unet") -> UNet2DConditionModel:
    """Grow the input conv and the class projection of a pretrained UNet with zero weights.

    A zero-initialised extra input (roll channels, the r half of [q, r]) leaves the pretrained
    model's predictions unchanged at the start of fine-tuning.
    """
    if unet.config.class_embed_type != "simple_projection" or not unet.config.class_embeddings_concat:
        raise CheckpointError(f"{source}: needs class_embed_type='simple_projection' with class_embeddings_concat "
                              "(an AudioLDM UNet); this one has "
                              f"{unet.config.class_embed_type!r}/{unet.config.class_embeddings_concat}")
    old_in, old_cond = unet.conv_in.in_channels, unet.class_embedding.in_features
    if n_in < old_in or n_cond < old_cond:
        raise CheckpointError(f"{source}: takes {old_in} input channels and a {old_cond}-d condition; "
                              f"this mode needs {n_in} and {n_cond}: it cannot shrink")
    with torch.no_grad():
        if n_in > old_in:
            conv = torch.nn.Conv2d(n_in, unet.conv_in.out_channels, unet.conv_in.kernel_size, padding=unet.conv_in.padding)
            conv.weight.zero_()
            conv.weight[:, :old_in] = unet.conv_in.weight
            conv.bias.copy_(unet.conv_in.bias)
            unet.conv_in = conv
        if n_cond > old_cond:
            lin = torch.nn.Linear(n_cond, unet.class_embedding.out_features)
            lin.weight.zero_()
            lin.weight[:, :old_cond] = unet.class_embedding.weight
            lin.bias.copy_(unet.class_embedding.bias)
            unet.class_embedding = lin
    unet.register_to_config(in_channels=n_in, projection_class_embeddings_input_dim=n_cond)
    return unet


def load_unet(folder: str | Path) -> UNet2DConditionModel:
    """``folder/unet`` (diffusers layout) or a clear error."""
    path = Path(folder) / "unet"
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: no config.json; train the UNet (notebook 06) or point at a diffusers folder with unet/")
    return UNet2DConditionModel.from_pretrained(path).eval()


def init_unet(cfg: DiffusionConfig, mode: str, latent_channels: int) -> UNet2DConditionModel:
    """Random, or ``cfg.pretrained`` widened to this mode's inputs."""
    if not cfg.pretrained:
        return build_unet(cfg, mode, latent_channels)
    unet = load_unet(cfg.pretrained)
    if unet.config.out_channels != latent_channels:
        raise CheckpointError(f"{cfg.pretrained}/unet: predicts {unet.config.out_channels} latent channels; "
                              f"the VAE has {latent_channels}")
    return widen_unet(unet, in_channels(cfg, mode, latent_channels), cond_dim(cfg, mode), f"{cfg.pretrained}/unet")


def predict_noise(unet: UNet2DConditionModel, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor,
                  roll: torch.Tensor | None = None) -> torch.Tensor:
    """ε(x_t, t, c): the roll (if any) joins the latent as extra channels, c is the class label."""
    if roll is not None:
        x = torch.cat([x, roll.to(x)], dim=1)
    return unet(x, t, encoder_hidden_states=None, class_labels=cond.to(x)).sample


def guided_noise(unet: UNet2DConditionModel, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor,
                 roll: torch.Tensor | None, guidance: float, form: str = "official") -> torch.Tensor:
    """Classifier-free guidance against the null condition (zeros for c and roll).

    ``official``: ε_u + w(ε_c − ε_u) (the authors' code, AudioLDM). ``paper``: (w+1)ε_c − wε_u,
    which is the official form with w+1. A scale of 1 is the conditional prediction alone.
    """
    if form not in GUIDANCE_FORMS:
        raise ValueError(f"guidance form must be one of {GUIDANCE_FORMS}, not {form!r}")
    scale = guidance if form == "official" else guidance + 1.0
    if scale == 1.0:
        return predict_noise(unet, x, t, cond, roll)
    both_roll = None if roll is None else torch.cat([roll, torch.zeros_like(roll)])
    eps = predict_noise(unet, torch.cat([x, x]), t, torch.cat([cond, torch.zeros_like(cond)]), both_roll)
    eps_c, eps_u = eps.chunk(2)
    return eps_u + scale * (eps_c - eps_u)


# ---------------------------------------------------------------- schedules and sampling


def noise_schedule(cfg: DiffusionConfig) -> dict[str, Any]:
    """AudioLDM's 'linear' schedule = diffusers ``scaled_linear`` β 0.0015→0.0195, ε-prediction."""
    return dict(num_train_timesteps=cfg.num_train_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                beta_schedule="scaled_linear", prediction_type="epsilon")


def make_scheduler(cfg: DiffusionConfig, sampler: str = "ddim"):
    """DDIM (the paper's sampler) or DPM-Solver++ (2nd order, few steps), on the training schedule."""
    if sampler == "ddim":
        return DDIMScheduler(**noise_schedule(cfg), clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if sampler == "dpm":
        return DPMSolverMultistepScheduler(**noise_schedule(cfg), algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")


@torch.no_grad()
def sample_latents(unet: UNet2DConditionModel, cfg: DiffusionConfig, cond: torch.Tensor, roll: torch.Tensor | None,
                   latent_frames: int, *, sampler: str = "ddim", steps: int = 100, guidance: float = 3.0,
                   guidance_form: str = "official", eta: float = 1.0, generator: torch.Generator | None = None,
                   progress: bool = True) -> torch.Tensor:
    """Denoise Gaussian noise into (B, C, latent_frames, 16) latents under ``cond`` (and ``roll``)."""
    sched = make_scheduler(cfg, sampler)
    sched.set_timesteps(steps)
    dev = unet.device
    shape = (cond.shape[0], unet.config.out_channels, latent_frames, LATENT_BINS)
    x = torch.randn(shape, generator=generator).to(dev) * sched.init_noise_sigma
    cond, roll = cond.to(dev), None if roll is None else roll.to(dev)
    extra = {"eta": eta} if sampler == "ddim" else {}
    for t in tqdm(sched.timesteps, desc=f"{sampler} {steps}", disable=not progress, leave=False):
        eps = guided_noise(unet, sched.scale_model_input(x, t), t, cond, roll, guidance, guidance_form)
        noise = torch.randn(x.shape, generator=generator).to(dev)
        x = sched.step(eps, t, x, variance_noise=noise, **extra).prev_sample
    return x


# ---------------------------------------------------------------- training


@dataclass
class ConditionData:
    """Training conditions: one row per (query, melody) pair, pointing at a clip (``item``).

    ``query``: q (caption text embedding, or the clip's audio embedding); ``melody``: r (the clip's
    own melody embedding, or the one retrieved for q); ``latents``/``rolls``: per clip.
    """

    latents: torch.Tensor  # (N, C, T, 16), scaled
    rolls: torch.Tensor  # (N, R, T, 16)
    query: torch.Tensor  # (M, D)
    melody: torch.Tensor  # (M, D)
    item: torch.Tensor  # (M,) long, row → clip

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.contiguous() for k, v in asdict(self).items()}, str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ConditionData":
        from safetensors.torch import load_file

        return cls(**load_file(str(path)))


def condition(mode: str, query: torch.Tensor, melody: torch.Tensor) -> torch.Tensor:
    """The class label of a mode: q, or [q, r]."""
    return query if check_mode(mode) == "text" else torch.cat([query, melody], dim=-1)


def diffusion_loss_fn(data: ConditionData, cfg: DiffusionConfig, mode: str):
    """ε-prediction MSE on random (query, melody) rows, random latent crops, joint condition dropout."""
    sched = DDPMScheduler(**noise_schedule(cfg))
    use_roll = check_mode(mode) == "mmgen+roll"
    n_frames = data.latents.shape[2]
    crop = min(cfg.crop_frames or n_frames, n_frames)

    def loss_fn(unet: UNet2DConditionModel, gen: torch.Generator):
        b = cfg.batch_size
        rows = torch.randint(len(data.item), (b,), generator=gen)
        items = data.item[rows].tolist()
        starts = torch.randint(n_frames - crop + 1, (b,), generator=gen).tolist()
        x0 = torch.stack([data.latents[i, :, s:s + crop] for i, s in zip(items, starts)])
        keep = (torch.rand(b, generator=gen) >= cfg.cond_drop).float()
        cond = condition(mode, data.query[rows], data.melody[rows]) * keep[:, None]
        roll = None
        if use_roll:
            roll = torch.stack([data.rolls[i, :, s:s + crop] for i, s in zip(items, starts)]) * keep[:, None, None, None]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(sched.config.num_train_timesteps, (b,), generator=gen)
        dev = unet.device
        xt = sched.add_noise(x0, noise, t)
        eps = predict_noise(unet, xt.to(dev), t.to(dev), cond.to(dev), roll)
        return F.mse_loss(eps, noise.to(dev)), {}

    return loss_fn


def train_unet(data: ConditionData, cfg: DiffusionConfig, mode: str, ckpt_dir: Path, seed: int = 0,
               stop_at: int | None = None) -> tuple[UNet2DConditionModel, list[dict], float]:
    """Train (or resume) one mode's UNet; returns it with EMA weights, the loss history and samples/s."""
    seed_everything(seed)
    unet = init_unet(cfg, mode, data.latents.shape[1])
    loop = LoopConfig(steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
                      ema_decay=cfg.ema_decay, checkpoint_every=cfg.checkpoint_every)
    res = train(unet, diffusion_loss_fn(data, cfg, mode), loop, ckpt_dir, seed=seed, batch_size=cfg.batch_size,
                stop_at=stop_at, desc=f"UNet {mode}")
    return apply_ema(unet, res.ema).eval(), res.history, res.samples_per_s


# ---------------------------------------------------------------- the stage


def diffusion_config(profile) -> DiffusionConfig:
    return profile.section("diffusion", DiffusionConfig)


def item_notes(manifest, item) -> list[Note]:
    """A clip's melody with exact times: its score MIDI when the dataset has one, else its tokens."""
    from .melody import load_midi
    from .tokens import text_to_notes

    midi = item.meta.get("score_midi")
    if midi:
        return load_midi(Path(manifest.root) / midi)
    return text_to_notes(item.melody_gt or item.melody)


def melody_text(item) -> str:
    """The token text a clip's melody embedding is computed from (Basic Pitch's, as the paper's database)."""
    return item.melody or item.melody_gt


def build_condition_data(cfg: DiffusionConfig, decoder, embedder, manifest, clip_seconds: float,
                         db=None, split: str = "train") -> ConditionData:
    """Latents, rolls and (q, r) rows of a split: every caption of a clip is one row (text query)."""
    from .decoder import clip_frames, load_clips, mels_of

    frames = clip_frames(clip_seconds)
    items = manifest.items(split)
    _, wavs = load_clips(manifest, split, frames)
    mels = mels_of(wavs)
    latents = torch.cat([decoder.encode(m) for m in tqdm(mels.split(16), desc="encode latents", leave=False)])
    rolls = torch.from_numpy(np.stack([melody_features(item_notes(manifest, it), latents.shape[2], cfg.roll)
                                       for it in items]))
    own = embedder.embed_melody([melody_text(it) for it in items]).float().cpu()
    if cfg.train_query == "text":
        item = torch.tensor([i for i, it in enumerate(items) for _ in it.captions])
        query = embedder.embed_text([c for it in items for c in it.captions]).float().cpu()
    else:
        item = torch.arange(len(items))
        query = embedder.embed_audio(list(wavs.numpy())).float().cpu()
    if cfg.train_melody == "own":
        melody = own[item]
    else:
        if db is None:
            raise ValueError("diffusion.train_melody='retrieved' needs the melody database (db=...)")
        melody = torch.from_numpy(db.embeddings(db.search(query.numpy(), k=1).indices[:, 0])).float()
    return ConditionData(latents=latents, rolls=rolls, query=query, melody=melody, item=item)


def diffusion_dir(profile, manifest) -> Path:
    """Artifacts of the diffusion stage, keyed by dataset, decoder, alignment and diffusion configs."""
    from .decoder import decoder_dir

    return profile.stage_dir("diffusion", Path(manifest.root).name, decoder_dir(profile, manifest).name,
                             profile.section("alignment"), diffusion_config(profile), profile.seed, FORMAT)


def load_or_train_unet(profile, mode: str, decoder, embedder, manifest, *, db=None,
                       train_missing: bool = True, stop_at: int | None = None) -> tuple[UNet2DConditionModel, dict]:
    """One mode's UNet from the profile's artifacts, trained now (and saved) when missing.

    Returns the UNet (EMA weights) and its report: loss history and training samples/s.
    """
    cfg = diffusion_config(profile)
    out = diffusion_dir(profile, manifest)
    final = out / check_mode(mode).replace("+", "_")
    if (final / "report.json").exists():
        return load_unet(final), json.loads((final / "report.json").read_text())
    if not train_missing:
        raise CheckpointError(f"{final}: no trained {mode!r} UNet for profile {profile.name!r}; run notebook "
                              "06_diffusion (or `mmgen notebooks --only 06`) first")
    data_path = out / "conditions.safetensors"
    if data_path.exists():
        data = ConditionData.load(data_path)
    else:
        data = build_condition_data(cfg, decoder, embedder, manifest, float(profile.section("data")["clip_seconds"]), db)
        data.save(data_path)
    unet, history, sps = train_unet(data, cfg, mode, out / f"ckpt_{final.name}", profile.seed, stop_at)
    report = {"mode": mode, "history": history, "samples_per_s": sps, "steps": cfg.steps}
    if stop_at is None or stop_at >= cfg.steps:
        unet.save_pretrained(final / "unet")
        (final / "report.json").write_text(json.dumps(report))
    return unet, report
