"""K-fold splits over every clip of a dataset: the alignment claim measured on all its clips, not one test split
(docs/method.md §2.8).

One seeded permutation of the dataset's groups (the works, or recordings, its own split keeps together) is cut into
``k`` near-equal folds at group boundaries. Fold ``i`` is the test split of :class:`FoldSplit` ``i``; its validation
split holds the groups that follow fold ``i`` in the permutation (circularly) until it has as many clips as the
dataset's own validation split; the rest is its training split. Every clip is a test clip of exactly one fold and
no group straddles two splits of a fold. Stages trained on a fold key their artifact folders by it
(:func:`~mmgen_core.data.fractions.subset_key`)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mmgen_core.data.manifest import SPLITS, Item, Manifest, ManifestView

GROUP_KEYS = ("work", "file")  # what a dataset's own split keeps together: a score (music21), a recording (records)


def group_key_of(manifest: Manifest) -> str | None:
    """The meta field that groups a dataset's clips (:data:`GROUP_KEYS`: the first every item has), or None."""
    items = manifest.items()
    return next((k for k in GROUP_KEYS if items and all(k in it.meta for it in items)), None)


def _ranked(items: list[Item], seed: int, group_key: str | None) -> list[tuple[str, list[Item]]]:
    """The groups (sorted by name, then seeded permutation) with their items."""
    groups: dict[str, list[Item]] = {}
    for it in sorted(items, key=lambda it: it.id):
        groups.setdefault(str(it.meta.get(group_key, it.id)) if group_key else it.id, []).append(it)
    names = sorted(groups)
    return [(names[j], groups[names[j]]) for j in np.random.default_rng(seed).permutation(len(names))]


def fold_splits(manifest: Manifest, k: int, seed: int = 0, group_key: str | None = None) -> list[dict[str, str]]:
    """For each of the ``k`` folds, every clip id's split in it (``train``/``valid``/``test``), as described above.
    Raises when ``k`` is below 2 or leaves a fold without a test or training clip."""
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k-fold needs k ≥ 2 folds, not {k!r}")
    items = manifest.items()
    ranked = _ranked(items, seed, group_key)
    fold_of, seen = [], 0
    for _, members in ranked:  # a group's fold: where its first clip falls among k equal cuts
        fold_of.append(min(k - 1, seen * k // len(items)))
        seen += len(members)
    n_valid = len(manifest.items("valid"))
    out = []
    for i in range(k):
        split = {it.id: "test" for (_, members), f in zip(ranked, fold_of) if f == i for it in members}
        after = [j for j in range(len(ranked)) if fold_of[j] != i]
        start = next((p for p, j in enumerate(after) if fold_of[j] == (i + 1) % k), 0)
        valid = 0
        for j in after[start:] + after[:start]:
            where = "valid" if valid < n_valid else "train"
            valid += len(ranked[j][1]) if where == "valid" else 0
            split.update({it.id: where for it in ranked[j][1]})
        counts = {s: sum(v == s for v in split.values()) for s in ("train", "test")}
        if min(counts.values()) == 0:
            raise ValueError(f"{manifest.root}: {k} folds over {len(items)} clips ({len(ranked)} groups) leave fold "
                             f"{i} with {counts['test']} test and {counts['train']} training clips; use fewer folds")
        out.append(split)
    return out


class FoldSplit(ManifestView):
    """A read-only view of a dataset with fold ``fold`` of ``folds`` as its test split (:func:`fold_splits`)."""

    def __init__(self, base: Manifest, fold: int, folds: int, seed: int = 0, group_key: str | None = None):
        super().__init__(base)
        if not 0 <= fold < folds:
            raise ValueError(f"fold must lie in 0..{folds - 1}, not {fold}")
        self.fold, self.folds, self.seed, self.group_key = fold, folds, seed, group_key
        self.split_of = fold_splits(base, folds, seed, group_key)[fold]

    @property
    def key_extra(self) -> dict[str, Any]:
        return {"fold": self.fold, "folds": self.folds, "fold_seed": self.seed, "fold_group": self.group_key}

    def items(self, split: str | None = None) -> list[Item]:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        items = [replace(it, split=self.split_of[it.id]) for it in self.base.items()]
        return items if split is None else [it for it in items if it.split == split]

    def __repr__(self) -> str:
        return f"FoldSplit({self.root.name}, fold {self.fold} of {self.folds}, seed={self.seed})"
