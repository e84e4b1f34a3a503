"""Intervals for compared numbers and the one verdict rule of this repository: the 95% interval of an effect.

An *effect* is signed so that a positive value is the direction the paper claims (e.g. FAD∞ of the baseline
minus FAD∞ of MMGen). Its interval comes from a bootstrap over what varies (clips and training seeds; the
sampling seeds of a clip stay together with it) or, for paired per-clip differences, from Student's t."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

VERDICT_RULE = ("Verdict rule (one for every claim): each effect is signed so that a positive value is the paper's "
                "direction; *reproduced* when its 95% interval excludes zero above, *contradicted* when it excludes "
                "zero below, *inconclusive* otherwise.")


def verdict(low: float, high: float) -> str:
    """The verdict of an effect's interval (positive = the paper's direction), by :data:`VERDICT_RULE`."""
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    if low > 0:
        return "reproduced"
    if high < 0:
        return "contradicted"
    return "inconclusive"


@dataclass(frozen=True)
class Effect:
    """An effect in the paper's direction with its 95% interval and what it was measured over."""
    name: str  # e.g. "FAD∞(text only) − FAD∞(MMGen)"
    estimate: float
    low: float
    high: float
    n: str  # e.g. "60 clips × 2 sampling seeds × 1 training seed"

    @property
    def verdict(self) -> str:
        return verdict(self.low, self.high)

    def text(self, digits: int = 3) -> str:
        """``name +x.xxx, 95% interval [+a, +b], n = …`` for an evidence column."""
        f = f"+.{digits}f"
        return (f"{self.name} = {self.estimate:{f}}, 95% interval [{self.low:{f}}, {self.high:{f}}], "
                f"n = {self.n}")


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


def centred_interval(point: float, replicates: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The bootstrap percentile interval shifted to centre on the point estimate: ``point + quantiles(rep − mean)``.

    A resampled set holds duplicate clips, which biases a set statistic such as FAD (upward when N < d); the shift
    removes that bias of the bootstrap world and keeps the spread, so the interval brackets the estimate.
    """
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2 or not 0 < confidence < 1:
        raise ValueError(f"need at least 2 finite replicates and 0 < confidence < 1 (got {len(r)}, {confidence})")
    tail = (1 - confidence) / 2
    low, high = np.quantile(r - r.mean(), [tail, 1 - tail])
    return float(point + low), float(point + high)


def bootstrap_draws(n_clips: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``(n_boot, n_clips)`` clip indices drawn with replacement: one plan shared by every compared system, so
    their differences are paired over clips."""
    if n_clips < 2 or n_boot < 2:
        raise ValueError(f"a bootstrap needs >= 2 clips and >= 2 resamples (got {n_clips}, {n_boot})")
    return np.random.default_rng(seed).integers(0, n_clips, (n_boot, n_clips))


def seed_draws(rng: np.random.Generator, n_train: int, n_boot: int) -> np.ndarray:
    """``(n_boot, n_train)`` training-seed indices drawn with replacement: the second level of the bootstrap
    (independent per system: training runs of two systems are not paired)."""
    return rng.integers(0, n_train, (n_boot, n_train))
