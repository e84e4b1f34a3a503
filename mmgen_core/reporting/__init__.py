"""Writing results: tables (Markdown + CSV), figures and shared plots."""
from .listen import write_listening_page
from .plots import (
    MEL_FPS,
    plot_generation,
    plot_isr_latency,
    plot_isr_quality,
    plot_mel,
    plot_piano_roll,
    plot_roll,
    plot_scaling,
)
from .tables import save_figure, save_table

__all__ = [
    "MEL_FPS",
    "plot_generation",
    "plot_isr_latency",
    "plot_isr_quality",
    "plot_mel",
    "plot_piano_roll",
    "plot_roll",
    "plot_scaling",
    "save_figure",
    "save_table",
    "write_listening_page",
]
