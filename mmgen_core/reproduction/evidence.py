"""Intervals for Table 1 and the claims: one bootstrap over clips and training seeds, shared by every system.

Each system's generations are measured per clip (:class:`Measured`): per-clip values (chroma to the target
melody, text–audio score, embedding distance to the reference clip, …) and the evaluation backbone's features,
for every training seed × sampling seed. One resampling plan draws clips (with all their sampling seeds) and,
per system, training seeds, with replacement; every statistic — a per-clip mean, or a set distance such as FAD∞
and KID against the resampled clips' references — is recomputed on each draw. The same clip draws serve every
system, so the interval of a *difference* is paired over clips."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from mmgen_core.evaluation.audio_metrics import fad_inf, kid_value
from mmgen_core.evaluation.intervals import Effect, bootstrap_draws, centred_interval, seed_draws

SET_METRICS = ("fad_inf", "kid")  # distances of a whole set of clips to its references


@dataclass
class Measured:
    """One system's clips: ``values[metric]`` of shape (training seeds, sampling seeds, clips) and
    ``frames[t][k][c]`` the backbone's rows (patches × d) of clip c, training seed t, sampling seed k."""
    values: dict[str, np.ndarray]
    frames: list[list[list[np.ndarray]]]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(training seeds, sampling seeds, clips)."""
        return len(self.frames), len(self.frames[0]), len(self.frames[0][0])

    def describe(self) -> str:
        """``60 clips × 2 sampling seeds × 1 training seed``."""
        t, k, c = self.shape
        return f"{c} clips × {k} sampling seed{'s' * (k > 1)} × {t} training seed{'s' * (t > 1)}"


def statistic(m: Measured, metric: str, refs: Sequence[np.ndarray], clips: np.ndarray, seeds: np.ndarray,
              fad_seed: int = 0) -> float:
    """One statistic of a system on the clips ``clips`` and training seeds ``seeds`` (indices, repeats allowed):
    a per-clip mean, or FAD∞/KID of the pooled rows against the references of those clips."""
    if metric in SET_METRICS:
        gen = np.concatenate([m.frames[t][k][c] for t in seeds for k in range(m.shape[1]) for c in clips])
        ref = np.concatenate([refs[c] for c in clips])
        return fad_inf(gen, ref, seed=fad_seed) if metric == "fad_inf" else kid_value(gen, ref)
    v = m.values[metric][seeds][:, :, clips]
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


@dataclass
class Bootstrap:
    """Point estimates and bootstrap replicates of every (system, metric)."""
    point: dict[tuple[str, str], float]
    replicates: dict[tuple[str, str], np.ndarray]
    n: dict[str, str]
    confidence: float = 0.95

    def interval(self, system: str, metric: str) -> tuple[float, float, float]:
        """(estimate, low, high) of one system's metric."""
        p = self.point[system, metric]
        if not np.isfinite(p):
            return p, float("nan"), float("nan")
        return (p, *centred_interval(p, self.replicates[system, metric], self.confidence))

    def difference(self, better: str, worse: str, metric: str, lower_is_better: bool) -> Effect:
        """The effect ``metric(worse) − metric(better)`` (or the reverse when higher is better): positive when
        ``better`` is better, as claimed; paired over the same clip draws."""
        sign = 1.0 if lower_is_better else -1.0
        d = sign * (self.replicates[worse, metric] - self.replicates[better, metric])
        p = sign * (self.point[worse, metric] - self.point[better, metric])
        low, high = centred_interval(p, d, self.confidence)
        b, w = (s.split(" (")[0] for s in (better, worse))  # "text only (AudioLDM-style)" → "text only"
        name = f"{metric}({w}) − {metric}({b})" if lower_is_better else f"{metric}({b}) − {metric}({w})"
        return Effect(name, p, low, high, self.n[better])


def bootstrap(systems: dict[str, Measured], refs: Sequence[np.ndarray], metrics: Sequence[str], n_boot: int = 200,
              seed: int = 0, confidence: float = 0.95, progress: bool = True) -> Bootstrap:
    """Resample clips (shared by all systems) and training seeds (per system) ``n_boot`` times; recompute every
    metric of every system on each draw. Systems must be measured on the same clips (``refs``)."""
    n_clips = len(refs)
    bad = [name for name, m in systems.items() if m.shape[2] != n_clips]
    if bad:
        raise ValueError(f"systems {bad} are not measured on the {n_clips} reference clips")
    clip_draws = bootstrap_draws(n_clips, n_boot, seed)
    rng = np.random.default_rng(seed + 1)
    point, reps = {}, {}
    for name, m in tqdm(systems.items(), desc="bootstrap", disable=not progress):
        n_train = m.shape[0]
        seeds = seed_draws(rng, n_train, n_boot)
        for metric in metrics:
            if metric not in SET_METRICS and metric not in m.values:
                continue
            point[name, metric] = statistic(m, metric, refs, np.arange(n_clips), np.arange(n_train))
            reps[name, metric] = np.array([statistic(m, metric, refs, c, s) for c, s in zip(clip_draws, seeds)])
    return Bootstrap(point, reps, {name: m.describe() for name, m in systems.items()}, confidence)
