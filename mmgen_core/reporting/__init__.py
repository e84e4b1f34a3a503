"""Writing results: tables (Markdown + CSV), figures and shared plots."""
from .plots import plot_isr_latency, plot_mel, plot_piano_roll
from .tables import save_figure, save_table

__all__ = ["plot_isr_latency", "plot_mel", "plot_piano_roll", "save_figure", "save_table"]
