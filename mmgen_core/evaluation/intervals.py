"""Intervals for compared numbers and the one outcome rule of this repository (docs/method.md §2.8).

An *effect* is signed so that a positive value is the direction the paper claims (e.g. FAD∞ of the baseline
minus FAD∞ of MMGen). It is measured once per training run (training seed *t* gives both arms the same batches
and noise, so the arms are paired by seed) and, within a run, on the same test clips and sampling seeds. Its
interval (:func:`run_level_interval`) adds the spread between training runs (Student t over the seed-level
effects) to the spread over test clips (a delete-one-clip jackknife, all runs and both arms together)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

OUTCOMES = ("reproduced", "contradicted", "equivalent", "inconclusive")
VERDICT_RULE = (
    "Outcome rule (one for every claim; each margin is fixed in the profile before the run): an effect is signed so "
    "that a positive value is the paper's direction and its 95% interval holds at the level of the training run "
    "(docs/method.md §2.8). *Reproduced* when the interval excludes zero above, *contradicted* when it excludes zero "
    "below, *equivalent* when it lies inside ±margin, *inconclusive* otherwise. A non-inferiority claim (small data "
    "*rivals* all the data) is *reproduced* when the interval excludes a loss larger than the margin (low > −margin), "
    "*contradicted* when it lies wholly below −margin. An effect measured on one training run per arm cannot tell a "
    "retrained model from a lucky one: it stays *inconclusive* whatever its interval (which then covers clips and "
    "sampling seeds only). Exploratory effects are listed without an outcome.")
KINDS = ("superiority", "non-inferiority")


def verdict(low: float, high: float, margin: float = float("nan"), kind: str = "superiority") -> str:
    """The outcome of an effect's interval (positive = the paper's direction) and its margin, by
    :data:`VERDICT_RULE`. A NaN margin (none set) can never give *equivalent*."""
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not np.isnan(margin) and margin <= 0:
        raise ValueError(f"a margin must be positive, got {margin}")
    if kind == "non-inferiority":
        if np.isnan(margin):
            raise ValueError("a non-inferiority effect needs a margin")
        return "reproduced" if low > -margin else "contradicted" if high < -margin else "inconclusive"
    if low > 0:
        return "reproduced"
    if high < 0:
        return "contradicted"
    if -margin < low and high < margin:
        return "equivalent"
    return "inconclusive"


@dataclass(frozen=True)
class Effect:
    """An effect in the paper's direction with its interval, what it was measured over, its margin and kind.
    ``runs``: training runs per arm behind the interval (one: the spread between runs is not in it)."""
    name: str  # e.g. "fad_inf(text only) − fad_inf(MMGen)"
    estimate: float
    low: float
    high: float
    n: str  # e.g. "60 clips × 2 sampling seeds × 4 training seeds"
    margin: float = float("nan")
    kind: str = "superiority"
    runs: int = 2

    @property
    def verdict(self) -> str:
        """The outcome by :data:`VERDICT_RULE`; *inconclusive* for an effect of one training run per arm."""
        if self.runs < 2:
            return "inconclusive"
        return verdict(self.low, self.high, self.margin, self.kind)

    def text(self, digits: int = 3) -> str:
        """``name +x.xxx, 95% interval [+a, +b], n = …`` (and the margin when set) for an evidence column."""
        f = f"+.{digits}f"
        margin = "" if np.isnan(self.margin) else f", margin ±{abs(self.margin):.{digits}g}"
        kind = ", non-inferiority" if self.kind == "non-inferiority" else ""
        return (f"{self.name} = {self.estimate:{f}}, 95% interval [{self.low:{f}}, {self.high:{f}}]{margin}{kind}, "
                f"n = {self.n}")


def leave_one_out(values: np.ndarray) -> np.ndarray:
    """``(T, C+1)`` from per-clip values ``(T, K, C)`` (training runs, sampling seeds, clips): each run's mean over
    clips and sampling seeds, then its mean without each clip in turn. NaN values (a measure a clip lacks) are
    left out of every mean."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 3:
        raise ValueError(f"per-clip values must be (runs, sampling seeds, clips), got shape {v.shape}")
    ok = np.isfinite(v)
    s, n = np.where(ok, v, 0.0).sum(1), ok.sum(1)  # per run and clip: sums and counts over sampling seeds
    total_s, total_n = s.sum(-1, keepdims=True), n.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.concatenate([total_s / total_n, (total_s - s) / (total_n - n)], axis=-1)


def jackknife_variance(leave_one_out_values: np.ndarray) -> float:
    """The delete-one-clip jackknife variance ``(C−1)/C · Σ (θ₋c − θ̄₋)²`` of a statistic's values without each clip
    (NaN values, a clip the statistic lacks, are left out)."""
    loo = np.asarray(leave_one_out_values, dtype=float)
    loo = loo[np.isfinite(loo)]
    return (len(loo) - 1) / len(loo) * float(((loo - loo.mean()) ** 2).sum()) if len(loo) > 1 else 0.0


def run_level_interval(per_run: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Estimate, interval and degrees of freedom of a quantity measured per training run.

    ``per_run`` is ``(T, C+1)``: for each of T training runs (paired by seed across arms when it is a difference),
    the quantity on all C clips, then without each clip (:func:`leave_one_out`, or a set distance recomputed).
    The estimate is the mean over runs; its variance is the between-run part ``s²/T`` (s: the spread of the
    per-run values) plus the clip part (delete-one-clip jackknife of the mean over runs,
    ``(C−1)/C · Σ (θ₋c − θ̄₋)²``). Student t with Satterthwaite's degrees of freedom
    ``V² / ((s²/T)²/(T−1) + V_clip²/(C−1))``; with one run, the clip part alone and C − 1 degrees of freedom.
    Returns ``(estimate, low, high, df)``."""
    x = np.asarray(per_run, dtype=float)
    if x.ndim != 2 or x.shape[1] < 3:
        raise ValueError(f"per_run must be (runs, 1 + clips) with at least 2 clips, got shape {x.shape}")
    t_runs, c = x.shape[0], x.shape[1] - 1
    est = float(x[:, 0].mean())
    loo = x[:, 1:].mean(0)
    v_clip = jackknife_variance(loo)
    if t_runs >= 2:
        between = float(x[:, 0].var(ddof=1)) / t_runs
        v = between + v_clip
        df = v ** 2 / (between ** 2 / (t_runs - 1) + v_clip ** 2 / max(int(np.isfinite(loo).sum()) - 1, 1)) if v > 0 else float(c - 1)
    else:
        v, df = v_clip, float(c - 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, max(df, 1.0)) * np.sqrt(v))
    return est, est - half, est + half, float(df)


def sequential_confidence(confidence: float, looks: int) -> float:
    """The confidence of each look when a claim may be looked at up to ``looks`` times (training seeds added until
    the outcome is not inconclusive): Bonferroni, ``1 − (1 − confidence) / looks``, so that the chance of a false
    *reproduced* or *contradicted* over all looks stays within ``1 − confidence``."""
    if looks < 1 or not 0 < confidence < 1:
        raise ValueError(f"need looks >= 1 and 0 < confidence < 1, got {looks}, {confidence}")
    return 1 - (1 - confidence) / looks


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
