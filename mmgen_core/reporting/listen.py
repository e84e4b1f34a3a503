"""A listening page: the same captions through every system, playable, with their spectrograms.

``results/<profile>/listen.md`` holds one section per caption: a row of players (real clip, decoder
ceiling, each generator) and one figure of their log-mels side by side, so a reader hears and sees
where a generator stands between the real clip and what its decoder can reproduce."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from mmgen_core.audio.frontend import mels_of
from mmgen_core.audio.io import SAMPLE_RATE, save_audio
from mmgen_core.reporting.plots import plot_mel
from mmgen_core.reporting.tables import save_figure


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_listening_page(results_dir: str | Path, captions: Sequence[str], columns: Mapping[str, Sequence[np.ndarray]],
                         name: str = "listen", intro: str = "", sample_rate: int = SAMPLE_RATE) -> Path:
    """Write ``<results_dir>/<name>.md`` with audio under ``audio/<name>/`` and spectrograms under ``figures/``.

    ``columns`` maps a system's name to one waveform per caption (the same captions, in order).
    """
    import matplotlib.pyplot as plt

    results_dir = Path(results_dir)
    bad = {k: len(v) for k, v in columns.items() if len(v) != len(captions)}
    if not columns or bad:
        raise ValueError(f"every column needs one clip per caption ({len(captions)}); got {bad or 'no columns'}")
    lines = [f"# Listening page ({results_dir.name})", "", intro.strip(), ""] if intro else \
        [f"# Listening page ({results_dir.name})", ""]
    for i, caption in enumerate(captions):
        lines += [f"## {i + 1}. “{caption}”", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        cells = []
        for system, wavs in columns.items():
            rel = Path("audio") / name / f"{i + 1:02d}_{_slug(system)}.wav"
            save_audio(results_dir / rel, wavs[i], sample_rate)
            cells.append(f'<audio controls src="{rel.as_posix()}"></audio><br>[wav]({rel.as_posix()})')
        lines.append("| " + " | ".join(cells) + " |")
        mels = mels_of(torch.from_numpy(np.stack([np.asarray(w[i], dtype=np.float32) for w in columns.values()])))
        fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.6), squeeze=False)
        lo, hi = float(mels.amin()), float(mels.amax())  # one colour scale: loudness compares across systems
        for ax, system, mel in zip(axes[0], columns, mels):
            plot_mel(mel, ax, title=system, vmin=lo, vmax=hi)
        fig.tight_layout()
        png = save_figure(fig, results_dir, f"{name}_{i + 1:02d}", dpi=80)
        plt.close(fig)
        lines += ["", f"![log-mel spectrograms]({png.relative_to(results_dir).as_posix()})", ""]
    page = results_dir / f"{name}.md"
    page.write_text("\n".join(lines) + "\n")
    return page
