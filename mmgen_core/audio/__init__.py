"""Audio: files, the AudioLDM mel front end."""
from .frontend import (
    AUDIOLDM_MEL,
    HOP,
    MelConfig,
    clip_frames,
    griffin_lim,
    log_mel,
    mel_filters,
    mel_to_magnitude,
    mels_of,
)
from .io import SAMPLE_RATE, AudioError, check_not_silent, fit_length, load_audio, normalize_peak, save_audio

__all__ = [
    "AUDIOLDM_MEL",
    "AudioError",
    "HOP",
    "MelConfig",
    "SAMPLE_RATE",
    "check_not_silent",
    "clip_frames",
    "fit_length",
    "griffin_lim",
    "load_audio",
    "log_mel",
    "mel_filters",
    "mel_to_magnitude",
    "mels_of",
    "normalize_peak",
    "save_audio",
]
