"""Plots the notebooks share: piano rolls and log-mel spectrograms."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmgen_core.audio.frontend import AUDIOLDM_MEL, MelConfig
from mmgen_core.melody.notes import Note


def plot_piano_roll(notes: Sequence[Note], ax=None, color: str = "tab:blue", label: str | None = None,
                    alpha: float = 0.8, title: str | None = None):
    """Notes as horizontal bars (time × MIDI pitch); call again on the same axes to overlay."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3))[1]
    for i, n in enumerate(notes):
        ax.barh(n.pitch, n.end - n.start, left=n.start, height=0.8, color=color, alpha=alpha,
                label=label if i == 0 else None)
    if notes:
        lo, hi = min(n.pitch for n in notes), max(n.pitch for n in notes)
        ax.set_ylim(min(lo - 2, ax.get_ylim()[0] if ax.has_data() and len(ax.patches) > len(notes) else lo - 2),
                    max(hi + 2, ax.get_ylim()[1] if len(ax.patches) > len(notes) else hi + 2))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title)
    if label:
        ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_mel(logmel, ax=None, cfg: MelConfig = AUDIOLDM_MEL, title: str | None = None):
    """A (frames, n_mels) log-mel as an image with time in seconds."""
    import matplotlib.pyplot as plt

    m = np.asarray(logmel)
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    ax.imshow(m.T, origin="lower", aspect="auto", cmap="magma",
              extent=(0, m.shape[0] * cfg.hop_length / cfg.sample_rate, 0, cfg.n_mels))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title)
    return ax


def plot_isr_latency(df: pd.DataFrame, ax: Any = None, by: str = "isr") -> Any:
    """Scatter of ISR against batched latency, one colour per index kind, each point labelled."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    for kind, group in df.groupby("kind", sort=False):
        ax.scatter(group["ms_per_query"], group[by], label=kind, alpha=0.8)
        for _, row in group.iterrows():
            ax.annotate(row["label"], (row["ms_per_query"], row[by]), fontsize=6,
                        xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("batched query latency (ms / query, log scale)")
    ax.set_ylabel("ISR" if by == "isr" else "per-item ISR")
    ax.legend(title="index")
    return ax
