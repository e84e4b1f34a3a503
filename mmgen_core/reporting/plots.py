"""Plots the notebooks share: piano rolls and log-mel spectrograms."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmgen_core.audio.frontend import AUDIOLDM_MEL, MelConfig
from mmgen_core.melody.notes import Note, piano_roll

MEL_FPS = AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.hop_length  # log-mel frames per second (100)


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


def plot_roll(notes: Sequence[Note], ax=None, seconds: float | None = None, fps: float = MEL_FPS,
              title: str | None = None, pad: tuple[int, int] = (3, 4), cmap: str = "Greys"):
    """Notes as a binary piano-roll image (time in seconds × MIDI pitch), on the frame grid the UNet's
    roll uses (``fps`` frames per second), cropped to the melody's range ± ``pad`` semitones.
    ``seconds``: the time axis' length (default: the last note's end). No notes: an empty axis."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3))[1]
    notes = list(notes)
    seconds = seconds if seconds is not None else max((n.end for n in notes), default=0.0)
    if notes and seconds > 0:
        lo, hi = min(n.pitch for n in notes) - pad[0], max(n.pitch for n in notes) + pad[1]
        frames = max(1, round(seconds * fps))
        ax.imshow(piano_roll(notes, frames, fps, max(lo, 0), min(hi, 128)), origin="lower", aspect="auto",
                  cmap=cmap, extent=(0, frames / fps, max(lo, 0), min(hi, 128)), interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_mel(logmel, ax=None, title: str | None = None, cfg: MelConfig = AUDIOLDM_MEL, **imshow: Any):
    """A (frames, n_mels) log-mel (array or tensor) as an image with time in seconds; ``imshow``: extra
    arguments for ``Axes.imshow`` (``vmin``/``vmax`` to share a colour scale, ``cmap``)."""
    import matplotlib.pyplot as plt

    m = np.asarray(logmel.detach().cpu() if hasattr(logmel, "detach") else logmel)
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    ax.imshow(m.T, **{"origin": "lower", "aspect": "auto", "cmap": "magma",
                      "extent": (0, m.shape[0] * cfg.hop_length / cfg.sample_rate, 0, m.shape[1]), **imshow})
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_generation(gen: Any, titles: Sequence[str], melody_titles: Sequence[str] | None = None):
    """One row per generated clip: the melody it followed (piano roll) beside its generated log-mel.

    ``gen``: a pipeline ``Generation`` (``mels``, ``melodies``, ``melody_ids``); ``titles``: one per clip
    for the log-mel panel; ``melody_titles``: for the roll panel (default: the melody's id, or
    'none (text mode)'). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(titles), 2, figsize=(13, 2.6 * len(titles)), squeeze=False)
    seconds = gen.mels.shape[1] / MEL_FPS
    for i, title in enumerate(titles):
        mt = melody_titles[i] if melody_titles is not None else f"melody: {gen.melody_ids[i] or 'none (text mode)'}"
        plot_roll(gen.melodies[i], axes[i, 0], seconds=seconds, title=mt)
        axes[i, 0].set_xlim(0, seconds)
        plot_mel(gen.mels[i], axes[i, 1], title=title[:90])
    fig.tight_layout()
    return fig


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
