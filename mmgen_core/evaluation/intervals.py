"""Intervals for compared numbers: the one verdict rule of this repository is the 95% interval of an effect."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``a − b`` (same clips, same seeds) with its Student-t interval.

    Returns ``(mean, low, high)``; with fewer than two pairs the interval is (−inf, inf).
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"paired_interval needs two equal-length 1-d sequences, got {np.shape(a)} and {np.shape(b)}")
    mean = float(d.mean())
    if len(d) < 2:
        return mean, -np.inf, np.inf
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return mean, mean - half, mean + half
