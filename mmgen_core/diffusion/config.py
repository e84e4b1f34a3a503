"""Profile section ``diffusion``: UNet size, noise schedule, conditioning and training."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

MODES = ("text", "mmgen", "mmgen+roll")
ROLL_KINDS = ("mel", "chroma")
SAMPLERS = ("ddim", "dpm", "dpm-sde")
GUIDANCE_FORMS = ("official", "paper")
PREDICTIONS = ("epsilon", "v_prediction")
LOSS_WEIGHTINGS = ("none", "min_snr")
LR_SCHEDULES = ("constant", "cosine")
TRAIN_QUERIES = ("text", "audio", "mix")
TRAIN_MELODIES = ("own", "retrieved")
NOISE_LEVELS = ("uniform", "log_normal")
OPTIMIZERS = ("adamw", "adam")


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
    prediction: str = "epsilon"  # what the UNet outputs: epsilon (AudioLDM, the paper) | v_prediction (Salimans & Ho)
    loss_weighting: str = "none"  # none: plain MSE | min_snr: min(SNR, γ)-weighted (Hang et al. 2023)
    min_snr_gamma: float = 5.0
    cond_drop: float = 0.1
    train_query: str = "text"  # text | audio | mix: text or audio per batch (official)
    text_query_prob: float = 0.6915  # mix: P(a batch's q is text); the authors' coin P(randn(1) < 0.5) = Φ(0.5)
    train_melody: str = "own"  # own | retrieved (official)
    steps: int = 600
    batch_size: int = 16
    crop_frames: int = 64  # latent frames per training crop (the UNet is convolutional); 0 = whole clips
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    lr_schedule: str = "constant"  # after the warm-up: constant | cosine (to 0 at the last step)
    optimizer: str = "adamw"  # adamw | adam
    beta2: float = 0.999  # Adam's second-moment decay
    noise_levels: str = "uniform"  # training timesteps: uniform (DDPM) | log_normal (EDM: ln σ ~ N(mean, std²))
    log_sigma_mean: float = -0.5  # log_normal: EDM's P_mean -1.2 at σ_data 0.5, shifted for unit-std latents
    log_sigma_std: float = 1.2
    ema_decay: float = 0.999
    checkpoint_every: int = 200
    pretrained: str | None = None

    UNKEYED: ClassVar[tuple[str, ...]] = ("modes", "checkpoint_every")  # each mode is its own artifact
    KEYED_UNLESS: ClassVar[dict[str, Any]] = {  # switches added after UNets were trained: keyed once set
        "optimizer": "adamw", "beta2": 0.999, "noise_levels": "uniform"}

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"diffusion.modes: unknown {bad}; choose from {MODES}")
        if self.roll not in ROLL_KINDS:
            raise ValueError(f"diffusion.roll must be one of {ROLL_KINDS}, not {self.roll!r}")
        if len(self.attention) != len(self.block_out_channels):
            raise ValueError("diffusion.attention needs one flag per entry of block_out_channels")
        for name, allowed in (("prediction", PREDICTIONS), ("loss_weighting", LOSS_WEIGHTINGS),
                              ("lr_schedule", LR_SCHEDULES), ("train_query", TRAIN_QUERIES),
                              ("train_melody", TRAIN_MELODIES), ("noise_levels", NOISE_LEVELS),
                              ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"diffusion.{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if not (0.0 < self.beta2 < 1.0 and self.log_sigma_std > 0):
            raise ValueError(f"diffusion.beta2 must be in (0, 1) and log_sigma_std > 0, not {self.beta2!r}, "
                             f"{self.log_sigma_std!r}")
        if not (isinstance(self.text_query_prob, (int, float)) and 0.0 <= self.text_query_prob <= 1.0):
            raise ValueError(f"diffusion.text_query_prob is a probability in [0, 1], not {self.text_query_prob!r}")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"conditioning mode must be one of {MODES}, not {mode!r}")
    return mode


def noise_schedule(cfg: DiffusionConfig) -> dict[str, Any]:
    """AudioLDM's 'linear' schedule = diffusers ``scaled_linear`` β 0.0015→0.0195. Samplers always step on
    ε (a v-predicting UNet's output is converted first, :func:`mmgen_core.diffusion.unet.to_epsilon`)."""
    return dict(num_train_timesteps=cfg.num_train_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                beta_schedule="scaled_linear", prediction_type="epsilon")
