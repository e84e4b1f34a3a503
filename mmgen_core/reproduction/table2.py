"""Table 2 (cross-modal retrieval) in the paper's layout, our runs beside the paper's MusicCaps numbers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmgen_core.alignment.metrics import DIRECTIONS, RECALL_AT, chance_recall, ranks_from_similarity
from mmgen_core.alignment.stage import AlignmentRun
from mmgen_core.evaluation.intervals import Effect, leave_one_out, run_level_interval
from mmgen_core.reproduction.paper import PAPER_TABLE2
from mmgen_core.stages import Stages

METRICS = tuple(f"R@{k}" for k in RECALL_AT) + ("mAP@10",)
CLAIM_METRICS = ("R@1", "mAP@10")  # per clip: the alignment claim's measure, then its exploratory one
PAPER_DATA, PAPER_HARDWARE = "MusicCaps (paper)", "GPU (paper)"
CLAIM_ALIGNERS = ("bimodal", "trimodal-select-at")  # two-modal, tri-modal: both chosen by A↔T validation mAP@10
TOWER_NAMES = {"official": "official melody tower (zero-padded mean)", "mean": "masked-mean melody tower",
               "transformer": "note-transformer melody tower"}


def variant_label(run: AlignmentRun) -> str:
    """A readable model name: two-modal, or tri-modal with its melody tower."""
    if not run.config.uses_melody:
        return "CLAP-style (two-modal)"
    chosen = ", chosen on A↔T" if run.config.select_by == "audio_text" else ""
    return f"CLMP tri-modal, {TOWER_NAMES[run.config.melody_tower]}{chosen}"


def choose_tower(runs: dict[str, AlignmentRun]) -> str:
    """The melody tower of the tri-modal run (chosen over all directions) with the best validation mAP@10: the
    choice is made on validation clips, never on the test split Table 2 reports."""
    tri = [r for r in runs.values() if r.config.uses_melody and r.config.select_by == "all"]
    if not tri:
        raise ValueError("no tri-modal aligner among the runs: nothing to choose a melody tower from")
    return max(tri, key=lambda r: r.log.best).config.melody_tower


def table2(runs: dict[str, AlignmentRun], data_label: str) -> pd.DataFrame:
    """Wide table: one row per model, R@1/5/10 and mAP@10 per direction, chance R@10, data and hardware."""
    rows = [{"model": name, "data": PAPER_DATA, "hardware": PAPER_HARDWARE, **vals}
            for name, vals in PAPER_TABLE2.items()]
    for run in runs.values():
        row = {"model": variant_label(run), "data": data_label, "hardware": run.log.hardware,
               "chance R@10": chance_recall(10, run.n_test)}
        for direction, scores in run.test.items():
            row.update({f"{direction} {m}": scores[m] for m in METRICS})
        rows.append(row)
    cols = ["model", "data", "hardware", "chance R@10"] + [f"{d} {m}" for d in DIRECTIONS for m in METRICS]
    return pd.DataFrame(rows).reindex(columns=cols)


def table2_long(runs: dict[str, AlignmentRun]) -> pd.DataFrame:
    """Long table: one row per (model, direction) with chance R@10 beside R@10, and mean/median rank."""
    rows = []
    for run in runs.values():
        for direction, s in run.test.items():
            rows.append({"model": variant_label(run), "direction": direction, "R@1": s["R@1"], "R@5": s["R@5"],
                         "R@10": s["R@10"], "chance R@10": chance_recall(10, run.n_test), "mAP@10": s["mAP@10"],
                         "mean rank": s["mean_rank"], "median rank": s["median_rank"], "N test": run.n_test})
    return pd.DataFrame(rows)


def per_clip_retrieval(run: AlignmentRun, metric: str = "R@1") -> np.ndarray:
    """Each test clip's ``R@1`` hit (or ``mAP@10`` term), averaged over its A2T and T2A queries, from the run's
    exported test embeddings (the same ranks as its Table 2 row)."""
    emb = run.embeddings("test")
    sim = emb.audio.astype(np.float64) @ emb.text.astype(np.float64).T
    terms = []
    for r in (ranks_from_similarity(sim), ranks_from_similarity(sim.T)):
        if metric == "R@1":
            terms.append((r < 1).astype(float))
        elif metric == "mAP@10":
            terms.append(np.where(r < 10, 1.0 / (r + 1), 0.0))
        else:
            raise ValueError(f"metric must be 'R@1' or 'mAP@10', not {metric!r}")
    return (terms[0] + terms[1]) / 2


@dataclass
class ModelRuns:
    """One model's audio↔text retrieval per training seed: each test clip's R@1 hit and mAP@10 term (mean of A2T
    and T2A), on the dataset's test split or, k-fold, on every clip (each fold's test clips, concatenated: every clip
    is a test clip of one fold, scored by the runs that did not train on it)."""
    label: str
    per_clip: dict[str, np.ndarray]  # metric → (training seeds, 1, clips)
    folds: int = 0  # 0: the dataset's own split

    @classmethod
    def of(cls, runs: Sequence[AlignmentRun | Sequence[AlignmentRun]], folds: int = 0) -> "ModelRuns":
        """From each training seed's run, or each seed's runs of every fold (in fold order)."""
        seeds = [list(r) if isinstance(r, (list, tuple)) else [r] for r in runs]
        return cls(variant_label(seeds[0][0]), _stacked([[_scores(r) for r in group] for group in seeds]), folds)

    @property
    def n(self) -> str:
        x = self.per_clip["R@1"]
        where = f"{x.shape[2]} clips ({self.folds}-fold: each a test clip once)" if self.folds else \
            f"{x.shape[2]} test clips"
        return f"{where} × {len(x)} training seed{'s' * (len(x) > 1)}"


def _scores(run: AlignmentRun) -> dict[str, np.ndarray]:
    return {m: per_clip_retrieval(run, m) for m in CLAIM_METRICS}


def _stacked(seeds: list[list[dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """metric → (training seeds, 1, clips): each seed's per-clip scores, its folds' concatenated in order."""
    return {m: np.stack([np.concatenate([fold[m] for fold in folds]) for folds in seeds])[:, None]
            for m in CLAIM_METRICS}


def _model_runs(runs: ModelRuns | Sequence[AlignmentRun]) -> ModelRuns:
    return runs if isinstance(runs, ModelRuns) else ModelRuns.of(runs)


def claim_aligners(stages: Stages, seeds: Sequence[int], folds: int = 0,
                   variants: Sequence[str] = CLAIM_ALIGNERS) -> dict[str, ModelRuns]:
    """The alignment claim's models (:data:`CLAIM_ALIGNERS`), one run per training seed: on the dataset's split
    (``folds`` 0), or ``folds``-fold over every clip (:meth:`~mmgen_core.stages.Stages.with_fold`; each fold's
    aligners trained, or loaded, scored on its test clips and let go before the next fold)."""
    if not folds:
        return {v: ModelRuns.of([stages.alignment(v, seed=s) for s in seeds]) for v in variants}
    per_clip: dict[str, list[list[dict[str, np.ndarray]]]] = {v: [[] for _ in seeds] for v in variants}
    labels = {}
    with tqdm(total=folds * len(variants) * len(seeds), desc=f"alignment claim: {folds}-fold aligners",
              disable=not stages.progress) as bar:
        for i in range(folds):
            view = stages.with_fold(i, folds)
            for v in variants:
                for j, s in enumerate(seeds):
                    run = view.alignment(v, seed=s)
                    labels[v] = variant_label(run)
                    per_clip[v][j].append(_scores(run))
                    bar.update()
    return {v: ModelRuns(labels[v], _stacked(per_clip[v]), folds) for v in variants}


def alignment_effect(two_modal: ModelRuns | Sequence[AlignmentRun], tri_modal: ModelRuns | Sequence[AlignmentRun],
                     metric: str = "R@1", margin: float = float("nan"), confidence: float = 0.95) -> Effect:
    """Tri-modal minus two-modal audio↔text retrieval (mean of A2T and T2A ``metric``), paired by aligner training
    seed (run i of each model: the same seed) and by clip, with its interval over training runs and clips
    (:func:`~mmgen_core.evaluation.intervals.run_level_interval`)."""
    tri, two = _model_runs(tri_modal), _model_runs(two_modal)
    a, b = tri.per_clip[metric], two.per_clip[metric]
    if a.shape != b.shape:
        raise ValueError(f"the two models need the same training seeds and test clips, got {a.shape} vs {b.shape}")
    est, low, high, _ = run_level_interval(leave_one_out(a) - leave_one_out(b), confidence)
    return Effect(f"{metric}(tri-modal) − {metric}(two-modal), mean of A2T and T2A", est, low, high,
                  f"{tri.n} per model", margin, runs=len(a))


def retrieval_summary(runs: dict[str, ModelRuns | Sequence[AlignmentRun]], confidence: float = 0.95) -> pd.DataFrame:
    """Per model: audio↔text R@1 and mAP@10 (mean of A2T and T2A) with 95% intervals over its training runs and
    clips."""
    rows = []
    for group in map(_model_runs, runs.values()):
        row = {"model": group.label}
        for metric in CLAIM_METRICS:
            est, low, high, _ = run_level_interval(leave_one_out(group.per_clip[metric]), confidence)
            row[f"A↔T {metric}"] = f"{est:.3f} [{low:.3f}, {high:.3f}]"
        rows.append({**row, "n": group.n})
    return pd.DataFrame(rows)


def melody_effect(two_modal: ModelRuns | Sequence[AlignmentRun], tri_modal: ModelRuns | Sequence[AlignmentRun],
                  margin: float = float("nan")) -> str:
    """A computed sentence: did adding the melody tower change audio↔text retrieval on this data? By the
    repository's one outcome rule on the interval of the R@1 effect."""
    r1 = alignment_effect(two_modal, tri_modal, "R@1", margin)
    m10 = alignment_effect(two_modal, tri_modal, "mAP@10")
    said = {"reproduced": "improved", "contradicted": "lowered", "equivalent": "did not change (within the margin)",
            "inconclusive": "did not measurably change"}
    return (f"Adding melody {said[r1.verdict]} audio↔text retrieval here ({r1.verdict}): {r1.text()}; "
            f"{m10.text()}. The paper reports A2T R@1 0.5232 (CLAP) → 0.7414 (tri-modal) on MusicCaps.")
