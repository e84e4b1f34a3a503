"""Nested, seeded fractions of a dataset's training split: the data of the small-data experiment (docs/method.md §2.7).

One seeded permutation of the training items is cut at ``ceil(f·N)`` for every fraction ``f``, so the items of
a smaller fraction are a subset of every larger one's and the same seed gives the same sets. A
:class:`TrainFraction` is the dataset with its training split so cut (validation and test untouched, so every
fraction is scored on the same clips); stages trained on it key their artifact folders by the fraction
(:func:`subset_key`), and the full dataset keeps the keys it always had."""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from mmgen_core.data.manifest import Item, Manifest, ManifestView

MIN_ITEMS = 2  # a contrastive batch needs two clips: no fraction keeps fewer (unless the split has fewer)


def check_fraction(fraction: float) -> float:
    """``fraction`` as a float in (0, 1], or a clear error."""
    f = float(fraction)
    if not 0.0 < f <= 1.0 or not math.isfinite(f):
        raise ValueError(f"a data fraction must lie in (0, 1] (1 = the whole training split), not {fraction!r}")
    return f


def fraction_size(fraction: float, n_items: int) -> int:
    """How many of ``n_items`` training items a fraction keeps: ``ceil(f·N)``, at least :data:`MIN_ITEMS`."""
    f = check_fraction(fraction)
    return min(n_items, max(MIN_ITEMS, math.ceil(f * n_items - 1e-9)))


def _train_items(source: Manifest | Iterable[Item]) -> list[Item]:
    items = source.items("train") if isinstance(source, Manifest) else [it for it in source if it.split == "train"]
    if not items:
        raise ValueError("the dataset has no training items to take fractions of")
    return items


def fraction_ids(source: Manifest | Iterable[Item], fractions: Sequence[float], seed: int = 0,
                 group_key: str | None = None) -> dict[float, list[str]]:
    """The training item ids of each fraction: the first ``ceil(f·N)`` items of one permutation seeded by ``seed``.

    Nested by construction: a smaller fraction's ids are a prefix of a larger one's. With ``group_key`` (a meta
    field, e.g. the work a clip was cut from) whole groups are drawn, so a fraction holds every clip of the
    works it holds (it then keeps at least ``ceil(f·N)`` clips, whole groups). Ids come back sorted."""
    fs = [check_fraction(f) for f in fractions]
    items = sorted(_train_items(source), key=lambda it: it.id)
    group = (lambda it: str(it.meta.get(group_key, it.id))) if group_key else (lambda it: it.id)
    groups = sorted({group(it) for it in items})
    order = {groups[j]: rank for rank, j in enumerate(np.random.default_rng(seed).permutation(len(groups)))}
    ranked = sorted(items, key=lambda it: (order[group(it)], it.id))
    out = {}
    for f in fs:
        n = fraction_size(f, len(ranked))
        if group_key:  # extend to the end of the last group taken
            last = order[group(ranked[n - 1])]
            n = sum(1 for it in ranked if order[group(it)] <= last)
        out[f] = sorted(it.id for it in ranked[:n])
    return out


def subset_key(manifest: Any) -> dict[str, Any]:
    """What a stage's artifact key adds for a training fraction: ``{}`` for a whole dataset (its keys unchanged),
    ``{"train_fraction": f, "fraction_seed": s, "fraction_group": g}`` for a :class:`TrainFraction`."""
    return dict(getattr(manifest, "key_extra", {}) or {})


class TrainFraction(ManifestView):
    """A read-only view of a dataset whose training split holds only ``train_ids``; validation and test are the
    dataset's."""

    def __init__(self, base: Manifest, train_ids: Iterable[str], fraction: float, seed: int,
                 group_key: str | None = None):
        super().__init__(base)
        self.fraction, self.seed, self.group_key = check_fraction(fraction), seed, group_key
        self.train_ids = frozenset(train_ids)
        known = {it.id for it in base.items("train")}
        unknown = sorted(self.train_ids - known)
        if unknown:
            raise ValueError(f"{len(unknown)} ids are not training items of {base.root} (first: {unknown[0]!r})")

    @property
    def key_extra(self) -> dict[str, Any]:
        key = {"train_fraction": self.fraction, "fraction_seed": self.seed}
        return {**key, "fraction_group": self.group_key} if self.group_key else key

    def items(self, split: str | None = None) -> list[Item]:
        return [it for it in self.base.items(split) if it.split != "train" or it.id in self.train_ids]

    def __repr__(self) -> str:
        return f"TrainFraction({self.root.name}, fraction={self.fraction:g}, seed={self.seed}, " \
               f"{len(self.train_ids)} train items)"


def train_fraction(manifest: Manifest, fraction: float, seed: int = 0, group_key: str | None = None) -> Manifest:
    """The dataset with its training split cut to ``fraction`` (:func:`fraction_ids`); 1 gives ``manifest``
    itself, so the whole-data stages keep their artifacts."""
    f = check_fraction(fraction)
    if f == 1.0:
        return manifest
    base = manifest.base if isinstance(manifest, TrainFraction) else manifest
    return TrainFraction(base, fraction_ids(base, [f], seed, group_key)[f], f, seed, group_key)


def fraction_table(manifest: Manifest, fractions: Sequence[float], seed: int = 0,
                   group_key: str | None = None) -> list[dict[str, Any]]:
    """One row per fraction (ascending): its training clips, and whether it holds every smaller fraction's
    clips (the nesting the experiment relies on, checked on the sets themselves)."""
    sets = fraction_ids(manifest, sorted(fractions), seed, group_key)
    rows, previous = [], set()
    for f, ids in sets.items():
        rows.append({"fraction": f, "train_clips": len(ids), "contains_smaller": previous <= set(ids)})
        previous = set(ids)
    return rows
