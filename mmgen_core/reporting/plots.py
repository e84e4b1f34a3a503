"""Plots the notebooks share: piano rolls, log-mel spectrograms (in Hz), ISR against latency and quality, data
scaling, Table 1's intervals; metric names in words (:data:`METRIC_LABELS`), with which way is better."""
from __future__ import annotations

import re
import textwrap
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmgen_core.audio.frontend import AUDIOLDM_MEL, MelConfig
from mmgen_core.melody.notes import Note, piano_roll

MEL_FPS = AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.hop_length  # log-mel frames per second (100)
MEL_TICKS_HZ = (250, 500, 1000, 2000, 4000, 8000)  # frequency ticks of a log-mel image (125 Hz would crowd 250)
LOG_MEL_LABEL = "log-mel magnitude (ln)"  # what a log-mel image's colour is: ln of the mel magnitude, floored at 1e-5

# The code's metric names in words, with which way is better (↓: lower, ↑: higher). Every plot that shows a metric
# name takes it from here (:func:`metric_label`); tables keep the code names their notes explain.
METRIC_LABELS: dict[str, str] = {
    "fad_inf": "FAD∞ (↓ better)",
    "fad": "FAD at this N (↓ better)",
    "kid": "KID (↓ better)",
    "kl": "KL of class distributions to the reference (↓ better)",
    "is": "Inception score (↑ better)",
    "emb_dist": "embedding distance to the target clip (↓ better)",
    "text_audio": "text–audio similarity (↑ better)",
    "chroma": "chroma similarity to its melody (↑ better)",
    "chroma_target": "chroma similarity to the target's melody (↑ better)",
    "chroma_cond": "chroma similarity to its conditioning melody (↑ better)",
    "note_f1_cond": "note F1 against its conditioning melody (↑ better)",
    "richness": "harmonic richness (↑ better)",
    "loudness_db": "loudness (dBFS)",
    "end_click_db": "end click (dB; ≈ 0 for real clips, ↓ better)",
    "vae_mel_l1": "VAE log-mel L1 (↓ better)",
    "mrstft": "multi-resolution STFT distance (↓ better)",
    "isr": "Intersection Rate, eq. 8 (↑ better)",
    "isr_per_item": "per-item ISR (↑ better)",
    "recall_at_k": "recall@K against exact search (↑ better)",
    "ms_per_query": "batched query latency (ms / query, ↓ better)",
    "R@1": "R@1 (↑ better)",
    "R@5": "R@5 (↑ better)",
    "R@10": "R@10 (↑ better)",
    "mAP@10": "mAP@10 (↑ better)",
}
LOWER_IS_BETTER = frozenset(k for k, v in METRIC_LABELS.items() if "↓" in v)


def metric_label(metric: str, width: int | None = None) -> str:
    """``metric`` in words (:data:`METRIC_LABELS`; an unknown name is returned as it is), wrapped at ``width``
    characters when given (for narrow panel titles)."""
    text = METRIC_LABELS.get(metric, metric)
    if not width:
        return text
    # keep a final "(↓ better)" on one line: no-break spaces inside it while wrapping
    keep = re.sub(r"\(([^)]*)\)$", lambda g: "(" + g.group(1).replace(" ", "\u00a0") + ")", text)
    return "\n".join(textwrap.wrap(keep, width)).replace("\u00a0", " ")


def _image(ax) -> Any:
    """The last image drawn on ``ax``."""
    images = ax.get_images()
    if not images:
        raise ValueError("no image on these axes to draw a colour bar for")
    return images[-1]


def add_colorbar(axes: Any, label: str = LOG_MEL_LABEL, mappable: Any = None, **kwargs: Any) -> Any:
    """One colour bar for an axes or for several (an array or list) sharing one colour scale, from ``mappable``
    (default: the last image on the last axes). Returns the colour bar."""
    flat = list(np.ravel(axes)) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
    mappable = mappable if mappable is not None else _image(flat[-1])
    cbar = flat[0].figure.colorbar(mappable, ax=flat if len(flat) > 1 else flat[0],
                                   **{"fraction": 0.046, "pad": 0.02, **kwargs})
    cbar.set_label(label, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    return cbar


def mel_ticks(n_bins: int | None = None, cfg: MelConfig = AUDIOLDM_MEL,
              freqs: Sequence[float] = MEL_TICKS_HZ) -> tuple[np.ndarray, list[str]]:
    """Where frequencies ``freqs`` (Hz) sit on a log-mel image's vertical axis (bin ``i`` spans ``[i, i+1)``), and
    their labels ("250", "1k" …). The bins are librosa's Slaney mel scale (``htk=False``) from ``cfg.fmin`` to
    ``cfg.fmax``: filter ``i`` peaks at the ``i+1``-th of ``n_mels + 2`` points evenly spaced in mel, so a frequency
    at mel ``m`` sits at ``(m − mel(fmin)) / Δ − 0.5`` with ``Δ = (mel(fmax) − mel(fmin)) / (n_mels + 1)``.
    ``n_bins``: the image's rows when not ``cfg.n_mels`` (the same range, resampled). Ticks outside the image
    (more than half a bin) are left out; those within half a bin of an edge sit on it."""
    import librosa

    n = cfg.n_mels if n_bins is None else n_bins
    lo, hi = librosa.hz_to_mel(np.array([cfg.fmin, cfg.fmax], dtype=float), htk=False)
    f = np.asarray([x for x in freqs if cfg.fmin <= x <= cfg.fmax], dtype=float)
    pos = ((librosa.hz_to_mel(f, htk=False) - lo) / ((hi - lo) / (cfg.n_mels + 1)) - 0.5) * n / cfg.n_mels
    keep = (pos >= -0.5) & (pos <= n + 0.5)
    labels = [f"{x / 1000:g}k" if x >= 1000 else f"{x:g}" for x in f[keep]]
    return np.clip(pos[keep], 0, n), labels


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


def plot_mel(logmel, ax=None, title: str | None = None, cfg: MelConfig = AUDIOLDM_MEL, colorbar: bool | str = False,
             **imshow: Any):
    """A (frames, n_mels) log-mel (array or tensor) as an image: time in seconds across, frequency in Hz up (ticks
    at 250 Hz … 8 kHz placed on their mel bins, :func:`mel_ticks`). ``colorbar``: draw one beside the image (True:
    labelled :data:`LOG_MEL_LABEL`; a string: that label). ``imshow``: extra arguments for ``Axes.imshow``
    (``vmin``/``vmax`` to share a colour scale, ``cmap``). The image spans mel bins 0…n_mels vertically."""
    import matplotlib.pyplot as plt

    m = np.asarray(logmel.detach().cpu() if hasattr(logmel, "detach") else logmel)
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    im = ax.imshow(m.T, **{"origin": "lower", "aspect": "auto", "cmap": "magma",
                           "extent": (0, m.shape[0] * cfg.hop_length / cfg.sample_rate, 0, m.shape[1]), **imshow})
    ticks, labels = mel_ticks(m.shape[1], cfg)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        add_colorbar(ax, colorbar if isinstance(colorbar, str) else LOG_MEL_LABEL, im)
    return ax


PITCH_CLASSES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")


def plot_chroma(chroma, ax=None, seconds: float | None = None, title: str | None = None,
                colorbar: bool | str = False, cmap: str = "Greys"):
    """A (12, frames) pitch-class roll (e.g. the ``chroma`` melody features on the latent grid) as an image: time in
    seconds across (``seconds``: the axis' length, default one frame per 1/MEL_FPS s), pitch classes up.
    ``colorbar``: True or a label ("note present" by default)."""
    import matplotlib.pyplot as plt

    c = np.asarray(chroma, dtype=float)
    ax = ax or plt.subplots(figsize=(8, 2.5))[1]
    seconds = seconds if seconds is not None else c.shape[1] / MEL_FPS
    im = ax.imshow(c, origin="lower", aspect="auto", cmap=cmap, extent=(0, seconds, -0.5, 11.5),
                   interpolation="nearest", vmin=0, vmax=max(1.0, float(c.max(initial=0))))
    ax.set_yticks(range(12), PITCH_CLASSES)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch class")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        add_colorbar(ax, colorbar if isinstance(colorbar, str) else "note present (1) / absent (0)", im)
    return ax


def plot_generation(gen: Any, titles: Sequence[str], melody_titles: Sequence[str] | None = None,
                    colorbar: bool = False):
    """One row per generated clip: the melody it followed (piano roll) beside its generated log-mel.

    ``gen``: a pipeline ``Generation`` (``mels``, ``melodies``, ``melody_ids``); ``titles``: one per clip
    for the log-mel panel; ``melody_titles``: for the roll panel (default: the melody's id, or
    'none (text mode)'); ``colorbar``: a colour bar beside each log-mel. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(titles), 2, figsize=(13, 2.6 * len(titles)), squeeze=False,
                             layout="constrained" if colorbar else None)
    seconds = gen.mels.shape[1] / MEL_FPS
    for i, title in enumerate(titles):
        mt = melody_titles[i] if melody_titles is not None else f"melody: {gen.melody_ids[i] or 'none (text mode)'}"
        plot_roll(gen.melodies[i], axes[i, 0], seconds=seconds, title=mt)
        axes[i, 0].set_xlim(0, seconds)
        plot_mel(gen.mels[i], axes[i, 1], title=title[:90], colorbar=colorbar)
    if not colorbar:
        fig.tight_layout()
    return fig


LABEL_OFFSETS = ((4, 3), (4, -10), (-4, 3), (-4, -10), (4, -19), (-4, -19))  # points from the point, tried in turn


def annotate_without_overlap(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                             fontsize: float = 7, offsets: Sequence[tuple[float, float]] = LABEL_OFFSETS,
                             **kwargs: Any) -> list[int]:
    """Annotate points in the order given (most important first) without overprinting: each label tries the
    ``offsets`` (points; a negative x puts the text left of its point) and takes the first whose box overlaps no label
    placed before (nor the axes' edge); a label that fits nowhere is left out. Boxes are estimated from the text's
    length at the figure's current size. Returns the indices of the labelled points."""
    ax.autoscale_view()
    fig = ax.figure
    px = fig.dpi / 72.0
    frame = ax.get_window_extent()
    placed: list[tuple[float, float, float, float]] = []
    done = []
    for i, (x, y, text) in enumerate(zip(xs, ys, labels)):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        X, Y = ax.transData.transform((x, y))
        w, h = 0.6 * fontsize * len(str(text)) * px, 1.2 * fontsize * px
        for dx, dy in offsets:
            x0 = X + dx * px - (w if dx < 0 else 0)
            y0 = Y + dy * px
            box = (x0, y0, x0 + w, y0 + h)
            inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
            if inside and not any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in placed):
                ax.annotate(str(text), (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                            ha="right" if dx < 0 else "left", va="bottom", **kwargs)
                placed.append(box)
                done.append(i)
                break
    return done


def _front(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices of the points no other point beats on both lower ``x`` and higher ``y`` (the trade-off front), by
    increasing ``x``; ties keep the first."""
    order = np.lexsort((-y, x))
    out, best = [], -np.inf
    for i in order:
        if y[i] > best:
            out.append(int(i))
            best = y[i]
    return out


def plot_isr_latency(df: pd.DataFrame, ax: Any = None, by: str = "isr", picked: Sequence[str] = (),
                     max_labels: int = 6) -> Any:
    """Scatter of ISR (``by``) against batched latency (log scale), one colour per index kind (the legend). Only a
    few points are named, without overprinting (:func:`annotate_without_overlap`): the ``picked`` configurations
    (ringed in red) first, then the trade-off front (no other point is both faster and higher), at most
    ``max_labels``; the full list is the grid table. ``df``: the grid (``label``, ``kind``, ``ms_per_query``,
    ``by``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    for kind, group in df.groupby("kind", sort=False):
        ax.scatter(group["ms_per_query"], group[by], label=kind, alpha=0.8)
    chosen = df[df["label"].isin(list(picked))]
    if len(chosen):
        ax.scatter(chosen["ms_per_query"], chosen[by], s=160, facecolors="none", edgecolors="red", label="picked")
    ax.set_xscale("log")
    ax.set_xlabel("batched query latency (ms / query, log scale; ↓ better)")
    ax.set_ylabel(metric_label(by))
    x, y = df["ms_per_query"].to_numpy(float), df[by].to_numpy(float)
    rows = [int(i) for i in np.flatnonzero(df["label"].isin(list(picked)).to_numpy())]
    rows += [i for i in _front(x, y) if i not in rows]
    rows = rows[:max_labels]
    annotate_without_overlap(ax, x[rows], y[rows], df["label"].to_numpy()[rows])
    ax.legend(title="index", fontsize=8)
    return ax


def _yerr(d: pd.DataFrame, est: str, low: str, high: str) -> np.ndarray:
    """Error-bar lengths (below, above) of estimates with their interval (NaN → no bar)."""
    return np.nan_to_num(np.vstack([d[est] - d[low], d[high] - d[est]]).clip(min=0))


def plot_isr_quality(table: pd.DataFrame, metric: str, ax: Any = None, by: str = "isr", label_points: bool = True,
                     title: str | None = None) -> Any:
    """The ISR claim's evidence: ISR (``by``) on x, a quality ``metric`` on y with its 95% interval, one point per
    retrieval configuration, one colour per index kind (the legend). ``label_points``: name a few configurations
    without overprinting — the best and worst on the metric, the lowest and highest ISR; the full list is the
    table.
    ``table``: rows of ``reproduction.isr_table`` for one mode (columns ``config``, ``kind``, ``by``, ``metric``,
    ``metric_low``, ``metric_high``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for kind, group in table.groupby("kind", sort=False):
        ax.errorbar(group[by], group[metric], yerr=_yerr(group, metric, f"{metric}_low", f"{metric}_high"),
                    fmt="o", capsize=3, alpha=0.85, label=kind)
    ax.set_xlabel(metric_label(by))
    ax.set_ylabel(metric_label(metric, 32))
    x, y = table[by].to_numpy(float), table[metric].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    if label_points and ok.any():
        xs, ys = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
        best, worst = (np.nanargmin, np.nanargmax) if metric in LOWER_IS_BETTER else (np.nanargmax, np.nanargmin)
        picks = ((best, ys), (worst, ys), (np.nanargmax, xs), (np.nanargmin, xs))
        rows = list(dict.fromkeys(int(f(v)) for f, v in picks))
        annotate_without_overlap(ax, x[rows], y[rows], table["config"].to_numpy()[rows], fontsize=6)
    ax.legend(title="index", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_caption_deltas(deltas: pd.DataFrame, metric: str, ax: Any = None, title: str | None = None) -> Any:
    """The ISR claim per caption: one point per (caption, approximate melody), its intersection minus exact
    search's on x and its quality minus the exact melody's on y (signed: up = better), the mean over training runs;
    the zero lines mark "as exact search". ``deltas``: rows of ``CaptionRun.deltas_table`` for one mode."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 4))[1]
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.scatter(deltas["d_intersection"], deltas[f"d_{metric}"], s=18, alpha=0.8)
    ax.set_xlabel("Δ intersection (approximate − exact), this caption")
    sign = "−" if metric in LOWER_IS_BETTER else ""
    name = re.sub(r"\s*\([↑↓] better\)$", "", metric_label(metric))  # the value is signed: up is better either way
    ax.set_ylabel("\n".join(textwrap.wrap(f"Δ {sign}{name} (up = better)", 28)))
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_scaling(curves: pd.DataFrame, metric: str, ax: Any = None, baseline: str | None = None,
                 title: str | None = None) -> Any:
    """A metric against the number of training clips with 95% intervals, one series per mode; ``baseline`` (a
    system name, e.g. ``text @ 1``) is drawn as a horizontal band. With three sizes or more the x axis is log₂ and
    each mode's points are joined; with fewer it is linear and the points stand alone (a line through two points
    says nothing about the shape). ``curves``: ``reproduction.scaling_curves``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    d = curves[curves["metric"] == metric]
    if baseline is not None and (d["system"] == baseline).any():
        b = d[d["system"] == baseline].iloc[0]
        ax.axhline(b["estimate"], color="grey", ls="--", lw=1, label=f"{baseline} (all data)")
        if np.isfinite(b["low"]) and np.isfinite(b["high"]):
            ax.axhspan(b["low"], b["high"], color="grey", alpha=0.15)
        d = d[d["system"] != baseline]
    sizes = sorted(set(curves["train_clips"].astype(int)))
    log = len(sizes) >= 3
    for mode, group in d.groupby("mode", sort=False):
        group = group.sort_values("train_clips")
        ax.errorbar(group["train_clips"], group["estimate"], yerr=_yerr(group, "estimate", "low", "high"),
                    fmt="o-" if log else "o", capsize=3, label=mode)
    if log:
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    else:
        ax.set_xlim(0, max(sizes, default=1) * 1.15)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("training clips" + (" (log scale)" if log else ""))
    ax.set_ylabel(metric_label(metric, 32))
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_intervals(ci: pd.DataFrame, metrics: Sequence[str], order: Sequence[str] | None = None,
                   title: str | None = None, width: int = 24):
    """One panel per metric: each system's estimate as a bar with its 95% interval, the metric named in words
    (:data:`METRIC_LABELS`, wrapped at ``width`` characters); a system without the metric reads "n/a".
    ``ci``: long form (``system``, ``metric``, ``estimate``, ``low``, ``high``), e.g. ``reproduction.intervals``;
    ``order``: the systems top to bottom (default: as they come). Returns the figure."""
    import matplotlib.pyplot as plt

    order = list(order) if order is not None else list(dict.fromkeys(ci["system"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 0.5 * len(order) + 2.0), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, m in zip(axes[0], metrics):
        d = ci[ci["metric"] == m].set_index("system").reindex(order)
        has = d["estimate"].notna().to_numpy()
        ax.barh(np.flatnonzero(has), d["estimate"][has], xerr=_yerr(d[has], "estimate", "low", "high"),
                color="tab:blue")
        for i in np.flatnonzero(~has):
            ax.text(0, i, " n/a", va="center", fontsize=8, color="grey")
        ax.set_title(metric_label(m, width), fontsize=9)
    axes[0, 0].set_yticks(range(len(order)), order)
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig


MOVE_LABELS = {"pcp_move": "pitch-class profile move (time-free)", "chroma_move": "frame-wise chroma move"}


def plot_melody_moves(table: pd.DataFrame, measure: str, ax: Any = None, title: str | None = None) -> Any:
    """The melody counterfactual (docs/method.md §2.9): per system, how far its output moves toward the melody it is
    given, one bar per melody change (and caption set, when the table has several), with its 95% interval."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.4))[1]
    groups = [c for c in ("captions", "swap") if c in table.columns and table[c].nunique() > 1] or ["swap"]
    keys = list(dict.fromkeys(map(tuple, table[groups].to_numpy())))
    systems = list(dict.fromkeys(table["system"]))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        d = table[(table[groups].apply(tuple, axis=1) == key)].set_index("system").reindex(systems)
        y = np.arange(len(systems)) + (j - (len(keys) - 1) / 2) * width
        ax.barh(y, d[measure], width, xerr=_yerr(d, measure, f"{measure} low", f"{measure} high"),
                label=" · ".join(map(str, key)), capsize=2)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(np.arange(len(systems)), [textwrap.fill(s, 28) for s in systems])
    ax.invert_yaxis()
    ax.set_xlabel(MOVE_LABELS.get(measure, measure) + " →  follows the melody given")
    ax.legend(fontsize=8, title=" · ".join(groups), title_fontsize=8)
    if title:
        ax.set_title(title)
    return ax
