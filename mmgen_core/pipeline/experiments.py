"""Generation experiments of notebook 07: generation time, guidance and sampler sweeps."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmgen_core.data.manifest import require_selection_split
from mmgen_core.evaluation.harness import reference_free
from mmgen_core.evaluation.intervals import paired_interval
from mmgen_core.melody.notes import Note
from mmgen_core.pipeline.pipeline import MMGenPipeline

LONG_CLIP_SECONDS = 10.24  # the audio length generation speed is quoted for (AudioLDM's clip length)


def time_generation(pipe: MMGenPipeline, text: str, melody: Sequence[Note] | None = None, *,
                    seconds: float = LONG_CLIP_SECONDS, seed: int = 0, warmup: bool = True, **generation: Any) -> float:
    """Wall-clock seconds to generate one clip of ``seconds`` audio (UNet steps, VAE decode and vocoder),
    one candidate. ``generation``: the pipeline's call arguments (``sampler``, ``steps``, ``eta``, ...).
    With ``warmup`` a 2-step call of the same shape runs first, untimed, so that one-off costs (kernel
    selection, allocator growth, lazy loading) are not counted. The one timing of notebook 07 and
    ``make bench``."""
    generation = {**generation, "candidates": 1, "seconds": seconds, "progress": False}
    if warmup:
        pipe(text, melody=melody, seed=seed, **{**generation, "steps": 2})
    t0 = time.perf_counter()
    pipe(text, melody=melody, seed=seed, **generation)
    return time.perf_counter() - t0


def guidance_sweep(pipe: MMGenPipeline, items: Sequence[Any], notes: Sequence[Sequence[Note]],
                   weights: Sequence[float], *, seed: int = 0, **generation: Any) -> pd.DataFrame:
    """Classifier-free guidance weight against melody adherence and text fit: for each weight, generate
    every item's caption with its own melody (``notes``, one list per item) and report the mean chroma
    similarity with that melody and the mean audio–text cosine similarity (the pipeline's aligner). It chooses
    the weight, so test-split items are refused."""
    require_selection_split(items, "guidance_sweep")
    captions = [it.caption for it in items]
    rows = []
    for w in weights:
        out = pipe(captions, melody=list(notes), seed=seed, guidance=w,
                   **{"candidates": 1, "progress": False, **generation})
        m = reference_free(list(out.waveforms), captions, notes, pipe.embedder)
        rows.append({"guidance w": float(w), "chroma": float(m["chroma"].mean()),
                     "audio-text similarity": float(m["text_audio"].mean())})
    return pd.DataFrame(rows)


def sampler_sweep(pipe: MMGenPipeline, items: Sequence[Any], notes: Sequence[Sequence[Note]],
                  settings: Sequence[tuple], *, seconds: float = LONG_CLIP_SECONDS,
                  seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Speed and quality per sampler setting ``(sampler, steps, eta[, clip_x0])``, the first the baseline
    (``clip_x0`` defaults to the pipeline's).

    Quality: the chroma similarity of the clips generated for the ``items``' captions with their ``notes`` and their
    audio–text similarity (the pipeline's aligner), each with its paired difference from the baseline
    (same clips, same seed) and a ``confidence`` t-interval; the loudest generated log-mel value (a
    sampler that overshoots gives over-loud mels). Speed: the time
    of one ``seconds`` clip (:func:`time_generation`) and its real-time factor. ``eta``: DDIM only. It chooses
    the sampler, so test-split items are refused."""
    require_selection_split(items, "sampler_sweep")
    captions = [it.caption for it in items]
    rows, base = [], None
    for sampler, steps, eta, *clip in settings:
        knobs = {"sampler": sampler, "steps": steps, "eta": eta,
                 "clip_x0": clip[0] if clip else pipe.generation.clip_x0}
        out = pipe(captions, melody=list(notes), seed=seed, candidates=1, progress=False, **knobs)
        m = reference_free(list(out.waveforms), captions, notes, pipe.embedder)
        chroma, sim = m["chroma"], m["text_audio"]
        base = (chroma, sim) if base is None else base
        d, lo, hi = paired_interval(chroma, base[0], confidence)
        ds, slo, _ = paired_interval(sim, base[1], confidence)
        dt = time_generation(pipe, captions[0], notes[0], seconds=seconds, seed=seed, **knobs)
        rows.append({"sampler": sampler, "steps": steps, "η": f"{eta:g}" if sampler == "ddim" else "—",
                     "clip x0": knobs["clip_x0"],
                     f"seconds per {seconds:g} s clip": dt, "RTF": dt / seconds,
                     f"chroma ({len(captions)} clips)": float(np.mean(chroma)), "Δ chroma": d,
                     "Δ low": lo, "Δ high": hi, "audio-text similarity": float(np.mean(sim)), "Δ similarity": ds,
                     "Δ sim low": slo, "mel peak": float(out.mels.amax())})
    return pd.DataFrame(rows)


def choose_sampler(sweep: pd.DataFrame, margin: float = 0.02) -> pd.Series:
    """The fastest setting of a :func:`sampler_sweep` that is no worse than its baseline (first row):
    the lower ends of its Δ chroma and Δ audio–text similarity intervals are above ``−margin``, and its
    loudest log-mel is no louder than the baseline's. Fastest = fewest UNet steps, then the lower
    measured RTF (steps are exact; a single timing on a shared CPU is not)."""
    ok = (sweep["Δ low"] >= -margin) & (sweep["Δ sim low"] >= -margin)
    ok &= sweep["mel peak"] <= sweep["mel peak"].iloc[0]
    ok.iloc[0] = True
    return sweep[ok].sort_values(["steps", "RTF"]).iloc[0]
