"""Writing results: tables (Markdown + CSV), figures and shared plots."""
from .browser import audio_durations
from .listen import SYSTEM_NOTES, loudness_match, write_listening_page
from .plots import (
    MEL_FPS,
    plot_generation,
    plot_isr_latency,
    plot_caption_deltas,
    plot_isr_quality,
    plot_melody_moves,
    plot_mel,
    plot_piano_roll,
    plot_roll,
    plot_scaling,
)
from .tables import save_figure, save_table

__all__ = [
    "MEL_FPS",
    "SYSTEM_NOTES",
    "audio_durations",
    "loudness_match",
    "plot_generation",
    "plot_isr_latency",
    "plot_caption_deltas",
    "plot_isr_quality",
    "plot_melody_moves",
    "plot_mel",
    "plot_piano_roll",
    "plot_roll",
    "plot_scaling",
    "save_figure",
    "save_table",
    "write_listening_page",
]
