"""Shared fixtures: synthetic audio and small manifests made on the fly (nothing downloaded)."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from mmgen_core.audio import SAMPLE_RATE
from mmgen_core.melody import Note


def synth(notes: list[Note], seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decaying harmonic tones for notes: a melody Basic Pitch can hear."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for n in notes:
        m = (t >= n.start) & (t < n.end)
        f = 440.0 * 2 ** ((n.pitch - 69) / 12)
        env = np.exp(-(t[m] - n.start) * 3)
        y[m] += sum(0.3 / h * np.sin(2 * np.pi * f * h * t[m]) for h in (1, 2, 3)) * env
    return y.astype(np.float32)


@pytest.fixture
def scale_notes() -> list[Note]:
    return [Note(60 + [0, 2, 4, 5, 7, 9, 11, 12][i], i * 0.4, i * 0.4 + 0.35) for i in range(8)]


def measured_set(rng: np.random.Generator, shift: float, refs: list[np.ndarray], values: dict[str, float | np.ndarray],
                 noise: float = 0.01):
    """A synthetic measured set: one clip per reference (rows drawn ``shift`` away from N(0, 1)), per-clip
    ``values`` (one number for all clips, or one per clip) plus ``noise`` (NaN stays NaN), and the set distances
    with their delete-one-clip values."""
    from mmgen_core.evaluation.audio_metrics import clip_orders, fad_inf_paired, kid_leave_one_out
    from mmgen_core.evaluation.harness import ClipMeasure, SetMeasure

    frames = [rng.normal(shift, 1.0, refs[0].shape) for _ in refs]
    orders, c = clip_orders(len(refs), 3, 0), len(refs)
    clips = [ClipMeasure(f, np.full(3, 1 / 3), {m: float(v[i] if np.ndim(v) else v) + rng.normal(0, noise)
                                                 for m, v in values.items()}) for i, f in enumerate(frames)]
    loo = {"fad_inf": np.array([fad_inf_paired(frames, refs, orders)]
                               + [fad_inf_paired(frames, refs, orders, 5, np.arange(c) != i) for i in range(c)]),
           "kid": kid_leave_one_out(frames, refs)}
    return SetMeasure(clips, loo, {"fad": 1.0 + shift, "fad_inf_full": 1.0, "is": 2.0})
