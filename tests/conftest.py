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
