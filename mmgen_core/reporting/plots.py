"""Plots the notebooks share: piano rolls, log-mel spectrograms, ISR against latency and quality, data scaling."""
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


def _yerr(d: pd.DataFrame, est: str, low: str, high: str) -> np.ndarray:
    """Error-bar lengths (below, above) of estimates with their interval (NaN → no bar)."""
    return np.nan_to_num(np.vstack([d[est] - d[low], d[high] - d[est]]).clip(min=0))


def plot_isr_quality(table: pd.DataFrame, metric: str, ax: Any = None, by: str = "isr", label_points: bool = True,
                     title: str | None = None) -> Any:
    """The ISR claim's evidence: ISR (``by``) on x, a quality ``metric`` on y with its 95% interval, one point per
    retrieval configuration, one colour per index kind. ``table``: rows of ``reproduction.isr_table`` for one mode
    (columns ``config``, ``kind``, ``by``, ``metric``, ``metric_low``, ``metric_high``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for kind, group in table.groupby("kind", sort=False):
        ax.errorbar(group[by], group[metric], yerr=_yerr(group, metric, f"{metric}_low", f"{metric}_high"),
                    fmt="o", capsize=3, alpha=0.85, label=kind)
        if label_points:
            for _, row in group.iterrows():
                ax.annotate(row["config"], (row[by], row[metric]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("Intersection Rate (eq. 8)" if by == "isr" else "per-item ISR")
    ax.set_ylabel(metric + (" (lower is better)" if metric in ("fad_inf", "kid", "kl", "emb_dist") else ""))
    ax.legend(title="index", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_scaling(curves: pd.DataFrame, metric: str, ax: Any = None, baseline: str | None = None,
                 title: str | None = None) -> Any:
    """A metric against the number of training clips with 95% intervals, one line per mode; ``baseline`` (a system
    name, e.g. ``text @ 1``) is drawn as a horizontal band. ``curves``: ``reproduction.scaling_curves``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    d = curves[curves["metric"] == metric]
    if baseline is not None and (d["system"] == baseline).any():
        b = d[d["system"] == baseline].iloc[0]
        ax.axhline(b["estimate"], color="grey", ls="--", lw=1, label=f"{baseline} (all data)")
        if np.isfinite(b["low"]) and np.isfinite(b["high"]):
            ax.axhspan(b["low"], b["high"], color="grey", alpha=0.15)
        d = d[d["system"] != baseline]
    for mode, group in d.groupby("mode", sort=False):
        group = group.sort_values("train_clips")
        ax.errorbar(group["train_clips"], group["estimate"], yerr=_yerr(group, "estimate", "low", "high"),
                    fmt="o-", capsize=3, label=mode)
    ax.set_xscale("log", base=2)
    sizes = sorted(set(curves["train_clips"].astype(int)))
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training clips (log scale)")
    ax.set_ylabel(metric + (" (lower is better)" if metric in ("fad_inf", "kid", "kl", "emb_dist") else ""))
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
