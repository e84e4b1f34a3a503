"""Metrics of generated music: FAD (with bootstrap CI and FAD∞), KL, IS, chroma similarity, note F1.

FAD/KL/IS follow the AudioLDM evaluation package the paper used (docs/method.md §2.6); they take embeddings
or class distributions, so any backbone (:mod:`.backbones`, :mod:`.musicnn`) can feed them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_limits

from mmgen_core.evaluation.intervals import centred_interval


def _matrix(x: np.ndarray, name: str, min_rows: int = 1) -> np.ndarray:
    """A finite float64 (N, D) matrix with at least ``min_rows`` rows, or a clear error."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (items, dims) array, got shape {a.shape}")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} items, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of an embedding set (at least 2 items), in float64."""
    e = _matrix(embeddings, "embeddings", min_rows=2)
    return e.mean(axis=0), np.cov(e, rowvar=False)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: |μ1−μ2|² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^½.

    tr (Σ1 Σ2)^½ is the sum of square roots of the eigenvalues of the symmetric PSD matrix
    Σ1^½ Σ2 Σ1^½ (same spectrum), which stays real and stable when the covariances are singular
    (fewer items than dimensions), where ``scipy.linalg.sqrtm(Σ1 Σ2)`` can return complex noise.
    BLAS runs single-threaded here: multi-threaded OpenBLAS beside torch's OpenMP threads made each
    eigendecomposition 10–100× slower on 2-core machines.
    """
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"embedding sizes differ: {mu1.shape} vs {mu2.shape}")
    with threadpool_limits(1, user_api="blas"):
        s1 = _psd_sqrt(sigma1)
        eig = linalg.eigvalsh(s1 @ sigma2 @ s1)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean))


def fad(generated: np.ndarray, reference: np.ndarray) -> float:
    """Fréchet audio distance between two embedding sets (rows = items or frames)."""
    g, r = _matrix(generated, "generated", 2), _matrix(reference, "reference", 2)
    return frechet_distance(*gaussian_stats(g), *gaussian_stats(r))


@dataclass(frozen=True)
class FadResult:
    """FAD on the full sets and a clip-bootstrap confidence interval centred on it."""
    value: float
    low: float
    high: float
    confidence: float
    n_boot: int


def _members(groups: np.ndarray) -> list[np.ndarray]:
    """The row indices of each group (a clip's rows, e.g. its patches, travel together when resampled)."""
    return [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]


def fad_bootstrap(generated: np.ndarray, reference: np.ndarray, n_boot: int = 200, confidence: float = 0.95,
                  seed: int = 0, generated_groups: np.ndarray | None = None,
                  reference_groups: np.ndarray | None = None) -> FadResult:
    """FAD with a bootstrap interval over *clips*: a clip's rows (``*_groups`` labels; default one row per clip)
    are resampled together, paired clips (as many groups on both sides) with the same draw. The interval is
    centred on the estimate (:func:`~mmgen_core.evaluation.intervals.centred_interval`): resampled sets repeat
    clips, which inflates FAD when N < d, so the raw percentile interval would sit above the estimate."""
    g, r = _matrix(generated, "generated", 2), _matrix(reference, "reference", 2)
    if n_boot < 2 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 2 and 0 < confidence < 1 (got {n_boot}, {confidence})")
    gx, gy = _groups(len(g), generated_groups, "generated_groups"), _groups(len(r), reference_groups, "reference_groups")
    mx, my = _members(gx), _members(gy)
    kx, ky = len(mx), len(my)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        px = rng.integers(0, kx, kx)
        py = px if kx == ky else rng.integers(0, ky, ky)
        boots.append(fad(g[np.concatenate([mx[i] for i in px])], r[np.concatenate([my[i] for i in py])]))
    value = fad(g, r)
    low, high = centred_interval(value, boots, confidence)
    return FadResult(value, low, high, confidence, n_boot)


def fad_inf(generated: np.ndarray, reference: np.ndarray, min_n: int | None = None, steps: int = 10,
            seed: int = 0) -> float:
    """FAD∞ (Gui et al. 2024, fadtk): FAD of random generated subsets of sizes ``min_n``…N against the
    full reference, fitted linearly in 1/n; the intercept is the FAD of an infinite set (less biased)."""
    g, r = _matrix(generated, "generated", 3), _matrix(reference, "reference", 2)
    min_n = max(2, len(g) // 2) if min_n is None else min_n
    if not 2 <= min_n < len(g):
        raise ValueError(f"min_n must be in [2, {len(g) - 1}], got {min_n}")
    rng = np.random.default_rng(seed)
    ref_stats = gaussian_stats(r)
    ns = np.unique(np.linspace(min_n, len(g), steps).astype(int))
    scores = [frechet_distance(*gaussian_stats(g[rng.choice(len(g), n, replace=False)]), *ref_stats) for n in ns]
    _, intercept = np.polyfit(1.0 / ns, scores, 1)
    return float(intercept)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of class logits (AudioLDM's class distribution for KL and IS)."""
    z = _matrix(logits, "logits")
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def normalise_tags(probs: np.ndarray) -> np.ndarray:
    """Multi-label sigmoid probabilities rescaled to sum to 1 per clip (a tag distribution)."""
    p = _matrix(probs, "probs")
    if np.any(p < 0):
        raise ValueError("probs: negative values")
    total = p.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("probs: a clip has all-zero tag probabilities")
    return p / total


def _distributions(p: np.ndarray, name: str) -> np.ndarray:
    p = _matrix(p, name)
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{name}: rows must be class distributions (non-negative, summing to 1); "
                         f"convert logits with softmax() or tag probabilities with normalise_tags()")
    return p


def kl_divergence(generated: np.ndarray, reference: np.ndarray, eps: float = 1e-12) -> float:
    """Mean over paired clips of KL(reference_i ‖ generated_i), in nats.

    Rows are class distributions (see :func:`softmax`, :func:`normalise_tags`); row i of both sets is
    the same prompt. As in AudioLDM, the reference is the target distribution; generated
    probabilities are floored at ``eps`` so a zero where the reference has mass stays finite.
    """
    g, r = _distributions(generated, "generated"), _distributions(reference, "reference")
    if g.shape != r.shape:
        raise ValueError(f"KL needs paired clips: generated {g.shape} vs reference {r.shape}")
    terms = np.where(r > 0, r * (np.log(np.where(r > 0, r, 1.0)) - np.log(np.maximum(g, eps))), 0.0)
    return float(terms.sum(axis=1).mean())


def inception_score(probs: np.ndarray, splits: int = 1, seed: int | None = 0) -> tuple[float, float]:
    """Inception score exp(E_x KL(p(y|x) ‖ p(y))) per split (items shuffled with ``seed`` first, as
    AudioLDM does; ``None`` keeps their order); returns the mean and standard deviation over splits."""
    p = _distributions(probs, "probs")
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be in [1, {len(p)}] (the number of clips), got {splits}")
    if splits > 1 and seed is not None:
        p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        safe = np.where(part > 0, part, 1.0)
        kl = np.where(part > 0, part * (np.log(safe) - np.log(np.where(marginal > 0, marginal, 1.0))), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


@dataclass(frozen=True)
class KidResult:
    """Unbiased squared MMD with the cubic polynomial kernel (KID), its jackknife standard error over
    clips, and how many clips (groups of rows) each set had."""
    value: float
    se: float
    n_generated: int
    n_reference: int


def _groups(n: int, groups: np.ndarray | None, name: str) -> np.ndarray:
    g = np.arange(n) if groups is None else np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"{name}: needs one group label per row ({n}), got shape {g.shape}")
    return np.unique(g, return_inverse=True)[1]


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's cubic polynomial kernel (a·b/d + 1)³."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def kid_value(generated: np.ndarray, reference: np.ndarray) -> float:
    """KID's unbiased MMD² alone (no standard error): the statistic a bootstrap recomputes per resample."""
    x, y = _matrix(generated, "generated", 2), _matrix(reference, "reference", 2)
    m, n = len(x), len(y)
    kxx, kyy = _kernel(x, x), _kernel(y, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * _kernel(x, y).mean())


def kid(generated: np.ndarray, reference: np.ndarray, generated_groups: np.ndarray | None = None,
        reference_groups: np.ndarray | None = None) -> KidResult:
    """Kernel inception distance (Bińkowski et al. 2018): the unbiased estimate of MMD² with the kernel
    k(x, y) = (x·y/d + 1)³. Unlike FAD it has no bias at small N, so two sets of different sizes compare fairly.

    The standard error is a delete-one-clip jackknife over both sets (a clip's rows, e.g. its musicnn
    patches, share a ``*_groups`` label and leave together): the spread of clips, not of patches.
    """
    x, y = _matrix(generated, "generated", 2), _matrix(reference, "reference", 2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"embedding sizes differ: {x.shape[1]} vs {y.shape[1]}")
    gx, gy = _groups(len(x), generated_groups, "generated_groups"), _groups(len(y), reference_groups, "reference_groups")
    kxx, kyy, kxy = (_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
    np.fill_diagonal(kxx, 0.0)
    np.fill_diagonal(kyy, 0.0)

    def mmd(keep_x: np.ndarray, keep_y: np.ndarray) -> float:
        m, n = keep_x.sum(), keep_y.sum()
        sxx = kxx[np.ix_(keep_x, keep_x)].sum() / (m * (m - 1))
        syy = kyy[np.ix_(keep_y, keep_y)].sum() / (n * (n - 1))
        return float(sxx + syy - 2 * kxy[np.ix_(keep_x, keep_y)].sum() / (m * n))

    all_x, all_y = np.ones(len(x), bool), np.ones(len(y), bool)
    value = mmd(all_x, all_y)
    var = 0.0
    for labels, other, is_x in ((gx, all_y, True), (gy, all_x, False)):
        k = labels.max() + 1
        if k < 3:
            return KidResult(value, float("nan"), int(gx.max() + 1), int(gy.max() + 1))
        loo = np.array([mmd(labels != g, other) if is_x else mmd(other, labels != g) for g in range(k)])
        var += (k - 1) / k * ((loo - loo.mean()) ** 2).sum()
    return KidResult(value, float(np.sqrt(var)), int(gx.max() + 1), int(gy.max() + 1))


def clip_orders(n_clips: int, n_orders: int = 3, seed: int = 0) -> np.ndarray:
    """``(n_orders, n_clips)`` fixed random orders of the clips, the nested subsets of :func:`fad_inf_paired`."""
    if n_clips < 4 or n_orders < 1:
        raise ValueError(f"FAD∞ needs at least 4 clips and 1 order, got {n_clips} clips, {n_orders} orders")
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_clips) for _ in range(n_orders)])


def fad_inf_paired(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray], orders: np.ndarray,
                   sizes: int = 5, keep: np.ndarray | None = None) -> float:
    """FAD∞ of two equal-sized, paired sets of clips (one rows array per clip; clip i made for reference i), both
    sides extrapolated: FAD of the first n clips of each fixed order on *both* sides (so each side's small-n bias
    is in every point), averaged over orders, for ``sizes`` values of n from N/2 to N, fitted linearly in 1/n; the
    intercept. ``keep``: a clip mask (leave-one-out); dropped clips leave the orders without reshuffling them, so
    the statistic moves only by what the clip carried. Two sets of real clips of one distribution give ≈ 0."""
    if len(generated) != len(reference):
        raise ValueError(f"paired FAD∞ needs as many generated as reference clips "
                         f"({len(generated)} vs {len(reference)})")
    keep = np.ones(len(generated), bool) if keep is None else np.asarray(keep, bool)
    seqs = [o[keep[o]] for o in np.asarray(orders)]
    n_all = len(seqs[0])
    ns = np.unique(np.linspace(max(2, n_all // 2), n_all, sizes).astype(int))
    if len(ns) < 2:
        raise ValueError(f"FAD∞ needs at least 2 subset sizes, {n_all} clips give {ns}")
    scores = [np.mean([fad(np.concatenate([generated[i] for i in s[:n]]), np.concatenate([reference[i] for i in s[:n]]))
                       for s in seqs]) for n in ns]
    _, intercept = np.polyfit(1.0 / ns, scores, 1)
    return float(intercept)


def kid_leave_one_out(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> np.ndarray:
    """``(C+1,)``: KID of paired sets of C clips (one rows array per clip), then KID without clip c on both sides
    for every c (the clip jackknife of :func:`~mmgen_core.evaluation.intervals.run_level_interval`)."""
    if len(generated) != len(reference) or len(generated) < 3:
        raise ValueError(f"paired KID needs equal sets of at least 3 clips ({len(generated)} vs {len(reference)})")
    x, y = _matrix(np.concatenate(generated), "generated", 2), _matrix(np.concatenate(reference), "reference", 2)
    gx = _groups(len(x), np.repeat(np.arange(len(generated)), [len(g) for g in generated]), "generated")
    gy = _groups(len(y), np.repeat(np.arange(len(reference)), [len(r) for r in reference]), "reference")
    c = len(generated)
    ix, iy = np.eye(c)[gx], np.eye(c)[gy]  # row → clip indicators
    kxx, kyy = _kernel(x, x), _kernel(y, y)
    np.fill_diagonal(kxx, 0.0)
    np.fill_diagonal(kyy, 0.0)
    axx, ayy, axy = ix.T @ kxx @ ix, iy.T @ kyy @ iy, ix.T @ _kernel(x, y) @ iy  # clip-by-clip block sums
    m, n = ix.sum(0), iy.sum(0)  # rows per clip

    def mmd(sxx, syy, sxy, mm, nn):
        return sxx / (mm * (mm - 1)) + syy / (nn * (nn - 1)) - 2 * sxy / (mm * nn)

    full = mmd(axx.sum(), ayy.sum(), axy.sum(), m.sum(), n.sum())
    loo = mmd(axx.sum() - 2 * axx.sum(1) + np.diag(axx), ayy.sum() - 2 * ayy.sum(1) + np.diag(ayy),
              axy.sum() - axy.sum(1) - axy.sum(0) + np.diag(axy), m.sum() - m, n.sum() - n)
    return np.concatenate([[full], loo])
