"""A listening page: the same captions through every system, playable, with their melodies and spectrograms.

``results/<profile>/listen.html`` (open it in a browser: GitHub does not play audio in Markdown) holds one
section per caption: a row of players (real clip, decoder ceiling, each generator), then one figure with, per
system, the melody it followed as a piano roll above the log-mel of its clip, so a reader hears and sees where a
generator stands between the real clip and what its decoder can reproduce, and whether it kept to its melody.
Every clip is loudness-matched first (:func:`loudness_match`), so differences heard are not level differences.
``listen.md`` repeats the players and figures for Markdown viewers that play HTML audio."""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from mmgen_core.audio.frontend import mels_of
from mmgen_core.audio.io import SAMPLE_RATE, save_audio
from mmgen_core.melody.notes import Note
from mmgen_core.reporting.plots import MEL_FPS, add_colorbar, plot_mel, plot_roll
from mmgen_core.reporting.tables import save_figure

SYSTEM_NOTES: dict[str, str] = {
    "real clip": "the rendered recording from the dataset",
    "decoder ceiling": "the real clip through our VAE and vocoder — the best any generator here can sound",
    "text": "text-only UNet: the caption alone, no melody",
    "mmgen": "MMGen: caption plus the melody embedding retrieved for it",
    "mmgen+roll": "ours: MMGen plus the retrieved melody drawn as a chroma roll the UNet sees frame by frame",
}
TARGET_DBFS = -20.0
LOUDNESS_NOTE = (f"Every clip scaled to {TARGET_DBFS:g}".replace("-", "−") + " dBFS RMS, peaks kept below 0 dBFS (a "
                 "clip whose peaks would pass it is scaled down further and plays quieter); the files and spectrograms "
                 "are of the scaled copies.")
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 1.5em auto; padding: 0 1em; color: #222;
       line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-top: 1px solid #ccc; padding-top: 1em; }
dl.systems { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1em; }
dl.systems dt { font-weight: 600; } dl.systems dd { margin: 0; }
.note { color: #555; font-size: .95em; }
.players { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: .6em; }
.player { border: 1px solid #ddd; border-radius: 6px; padding: .4em .5em; }
.player b { display: block; margin-bottom: .3em; }
.player audio { width: 100%; display: block; }
.player a { font-size: .85em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9em; }
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def loudness_match(wav: np.ndarray | torch.Tensor, target_dbfs: float = TARGET_DBFS, peak: float = 0.99,
                   silence_dbfs: float = -80.0) -> np.ndarray:
    """Scale a clip to ``target_dbfs`` RMS, then further down if needed so ``|x| ≤ peak`` (never clipped), so
    clips compared by ear differ in sound, not level. A clip quieter than ``silence_dbfs`` RMS is returned as is."""
    x = np.asarray(wav.detach().cpu() if isinstance(wav, torch.Tensor) else wav, dtype=np.float32).reshape(-1)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if not np.isfinite(rms) or rms <= 10 ** (silence_dbfs / 20):
        return x.copy()
    gain = 10 ** (target_dbfs / 20) / rms
    top = float(np.max(np.abs(x))) * gain
    if top > peak:
        gain *= peak / top
    return (x * gain).astype(np.float32)


def _figure(systems: Sequence[str], clips: Sequence[np.ndarray], melodies: Sequence[Sequence[Note] | None],
            sample_rate: int):
    """One column per system: the melody it followed (piano roll, when any system has one) above the log-mel of
    its clip, on one time axis in seconds and one colour scale with its colour bar."""
    import matplotlib.pyplot as plt

    mels = [mels_of(torch.from_numpy(c)[None])[0] for c in clips]
    seconds = max(len(c) for c in clips) / sample_rate
    lo, hi = min(float(m.amin()) for m in mels), max(float(m.amax()) for m in mels)  # loudness compares across systems
    rolls = any(m is not None for m in melodies)
    labelled = next((j for j, m in enumerate(melodies) if m), None)  # the one roll that keeps its pitch label
    fig, axes = plt.subplots(1 + rolls, len(systems), figsize=(3.2 * len(systems), 2.4 + 1.6 * rolls), squeeze=False,
                             height_ratios=[1, 1.6] if rolls else None, layout="constrained")
    for j, (system, mel, notes) in enumerate(zip(systems, mels, melodies)):
        if rolls:
            ax = axes[0, j]
            if notes:
                plot_roll(notes, ax, seconds=seconds, fps=MEL_FPS)
                ax.set_xlim(0, seconds)
                ax.set_xlabel("")
                if j != labelled:
                    ax.set_ylabel("")
            else:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no melody", ha="center", va="center", color="grey", transform=ax.transAxes)
        axes[0, j].set_title(system, fontsize=10, fontweight="bold")
        ax = axes[-1, j]
        image = plot_mel(mel, ax, vmin=lo, vmax=hi, extent=(0, mel.shape[0] / MEL_FPS, 0, mel.shape[1])).images[0]
        ax.set_xlim(0, seconds)
        if j:
            ax.set_ylabel("")
    add_colorbar(list(axes[-1]), mappable=image, shrink=0.9, pad=0.01)
    return fig


def write_listening_page(results_dir: str | Path, captions: Sequence[str], columns: Mapping[str, Sequence[np.ndarray]],
                         name: str = "listen", intro: str = "", sample_rate: int = SAMPLE_RATE,
                         melodies: Mapping[str, Sequence[Sequence[Note]] | None] | None = None,
                         notes: Mapping[str, str] | None = None) -> Path:
    """Write ``<results_dir>/<name>.html`` (and ``<name>.md``), loudness-matched audio under ``audio/<name>/`` and
    one figure per caption under ``figures/``; return the HTML page.

    ``columns`` maps a system's name to one waveform per caption (the same captions, in order); ``melodies`` maps
    a system to the melody each clip followed (one note list per caption; None or absent: no melody, e.g. text);
    ``notes`` adds to or overrides :data:`SYSTEM_NOTES`, the one line saying what each system is.
    """
    import matplotlib.pyplot as plt

    results_dir = Path(results_dir)
    melodies = {k: v for k, v in (melodies or {}).items() if v is not None}
    bad = {k: len(v) for k, v in columns.items() if len(v) != len(captions)}
    bad.update({f"melodies[{k}]": len(v) for k, v in melodies.items() if len(v) != len(captions)})
    if not columns or bad:
        raise ValueError(f"every column needs one clip per caption ({len(captions)}); got {bad or 'no columns'}")
    if set(melodies) - set(columns):
        raise ValueError(f"melodies for systems without clips: {sorted(set(melodies) - set(columns))}")
    described = {**SYSTEM_NOTES, **(notes or {})}
    title = f"Listening page ({results_dir.name})"
    md = [f"# {title}", "", f"The playable page is [{name}.html]({name}.html): open it in a browser.", "",
          *([intro.strip(), ""] if intro else []), LOUDNESS_NOTE, ""]
    body = [f"<h1>{html.escape(title)}</h1>", *([f"<p>{html.escape(intro.strip())}</p>"] if intro else []),
            f'<p class="note">{html.escape(LOUDNESS_NOTE)}</p>', '<dl class="systems">']
    body += [f"<dt>{html.escape(s)}</dt><dd>{html.escape(described.get(s, ''))}</dd>" for s in columns]
    body.append("</dl>")
    for i, caption in enumerate(captions):
        clips = [loudness_match(wavs[i]) for wavs in columns.values()]
        heading = f"{i + 1}. “{caption}”"
        md += [f"## {heading}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        body += [f"<section><h2>{html.escape(heading)}</h2>", '<div class="players">']
        cells = []
        for system, clip in zip(columns, clips):
            rel = (Path("audio") / name / f"{i + 1:02d}_{_slug(system)}.wav").as_posix()
            save_audio(results_dir / rel, clip, sample_rate)
            cells.append(f'<audio controls src="{rel}"></audio><br>[wav]({rel})')
            body.append(f'<div class="player"><b>{html.escape(system)}</b>'
                        f'<audio controls preload="metadata" src="{html.escape(rel)}"></audio>'
                        f'<a href="{html.escape(rel)}">wav</a></div>')
        md.append("| " + " | ".join(cells) + " |")
        fig = _figure(list(columns), clips, [melodies[s][i] if s in melodies else None for s in columns], sample_rate)
        png = save_figure(fig, results_dir, f"{name}_{i + 1:02d}", dpi=80).relative_to(results_dir).as_posix()
        plt.close(fig)
        md += ["", f"![log-mel spectrograms]({png})", ""]
        what = ("Top: the melody each system followed (piano roll, MIDI pitch). Bottom: " if melodies else "") + \
            "log-mel spectrograms of the clips above, on one colour scale; time in seconds."
        body += ["</div>", f'<figure><img src="{html.escape(png)}" alt="melodies and log-mel spectrograms of '
                 f'{html.escape(caption)}"><figcaption>{what}</figcaption></figure>', "</section>"]
    (results_dir / f"{name}.md").write_text("\n".join(md) + "\n")
    page = results_dir / f"{name}.html"
    page.write_text("\n".join(['<!doctype html>', '<html lang="en"><head><meta charset="utf-8">',
                               f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style></head><body>",
                               *body, "</body></html>"]) + "\n", encoding="utf-8")
    return page
