"""The decoder: mel VAE and vocoder, their stage and the decoder ceiling (notebook 05)."""
from .ceiling import decoder_ceiling
from .decoder import Decoder
from .stage import FORMAT, DecoderReport, decoder_dir, load_or_train_decoder
from .vae import VAE_DOWN, MelNorm, VAEConfig, build_vae, load_vae, measure_scaling_factor, train_vae, vae_loss_fn
from .vocoder import (
    MRSTFT_RES,
    Vocoder,
    VocoderConfig,
    build_hifigan,
    choose_vocoder,
    mrstft_loss,
    resynthesis_scores,
    smooth_log_mel,
    stft_mag,
    train_hifigan,
    vocoder_loss_fn,
)

__all__ = [
    "Decoder",
    "DecoderReport",
    "FORMAT",
    "MRSTFT_RES",
    "MelNorm",
    "VAEConfig",
    "VAE_DOWN",
    "Vocoder",
    "VocoderConfig",
    "build_hifigan",
    "build_vae",
    "choose_vocoder",
    "decoder_ceiling",
    "decoder_dir",
    "load_or_train_decoder",
    "load_vae",
    "measure_scaling_factor",
    "mrstft_loss",
    "resynthesis_scores",
    "smooth_log_mel",
    "stft_mag",
    "train_hifigan",
    "train_vae",
    "vae_loss_fn",
    "vocoder_loss_fn",
]
