"""The paper's claims, one row each: the effect that tests it, its 95% interval, n, its margin and the outcome of the
one rule (:data:`~mmgen_core.evaluation.intervals.VERDICT_RULE`); the margins, fixed before the run; and the sizes
of the two claims experiments (notebook 09).

Notebook 08 measures the generation and alignment claims; notebook 09 the ISR and small-data claims, whose rows it
writes to ``tables/claims_experiments.csv`` and merges into ``tables/claims.csv`` (:func:`update_claims_table`).
Notebook 08 reads those rows back when they exist (:func:`load_experiment_claims`), so either order of the two
notebooks ends with every claim in one table."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mmgen_core.data.config import DataConfig
from mmgen_core.diffusion.config import MODES
from mmgen_core.evaluation.harness import Margins
from mmgen_core.evaluation.intervals import Effect
from mmgen_core.reporting import save_table
from mmgen_core.reporting.melody import move_sentences
ISR_CLAIM = "A higher Intersection Rate gives better generation (paper §4.2.1)"
SMALL_DATA_CLAIM = "Small data suffices: MMGen trained on little data rivals models trained on far more"
GENERATION_CLAIM = ("Melody guidance improves generation: lower FAD than the text-only baseline (MMGen vs "
                    "AudioLDM-style)")
COLUMNS = ("claim", "effect", "estimate", "low", "high", "margin", "n", "evidence", "verdict")
MELODY_TEST_TABLE = "09_melody_counterfactual"  # notebook 09's counterfactual, cited by the generation claim
MELODY_MARK = " | Does the melody reach the music? (notebook 09, counterfactual) "
EXPERIMENTS_TABLE = "claims_experiments"  # notebook 09's two rows


@dataclass
class ClaimsConfig:
    """Profile section ``claims``: every claim's margin, fixed before the run (notebooks 08 and 09), and the sizes of
    the ISR-vs-quality and small-data experiments (notebook 09). Sampling (sampler, steps, clip_x0) is Table 1's
    (``results``); re-ranking is off (one candidate)."""
    margins: dict[str, float] = field(default_factory=lambda: dict(Margins().values))  # per measure of a claim
    relative_margins: list[str] = field(default_factory=lambda: list(Margins().relative))  # × the baseline's value
    seeds: list[int] = field(default_factory=lambda: [0])  # sampling seeds of both experiments
    # does the melody reach the music? (the counterfactual and the probes, docs/method.md §2.9)
    melody_seeds: list[int] = field(default_factory=lambda: [0])  # UNet training seeds of the counterfactual
    caption_sets: list[str] = field(default_factory=lambda: ["detailed"])  # data.captions it runs under
    # ISR vs quality
    isr_clips: int = 32  # test captions generated with every retrieval configuration (0 = the whole test split)
    isr_modes: list[str] = field(default_factory=lambda: ["mmgen", "mmgen+roll"])
    isr_grid: str | list[dict[str, Any]] = "claims"  # "claims" = retrieval.isr.claims_grid(N, d), or IndexConfig fields
    isr_by: str = "isr"  # the ISR on the x axis: isr (eq. 8, the test captions as queries) | isr_per_item
    isr_k: int = 0  # K of both ISR forms (0 = retrieval.k); generation always follows the top-1 melody
    isr_seeds: list[int] = field(default_factory=lambda: [0])  # UNet training seeds ρ is measured on (one ρ each)
    isr_caption_seeds: list[int] = field(default_factory=list)  # sampling seeds of the claim per caption ([]: not run)
    # small data
    fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])  # of the training split, nested
    fraction_steps: int = 400  # UNet training steps of every run of the experiment (the text baseline's too)
    fraction_seeds: list[int] = field(default_factory=lambda: [0, 1])  # UNet training seeds per point
    fraction_modes: list[str] = field(default_factory=lambda: ["mmgen"])  # trained on each fraction; text: all data
    fraction_clips: int = 32  # test clips every UNet of the experiment is scored on (0 = the whole test split)
    small_data: bool = True  # run the small-data experiment (false: its row says it was not run in this pass)

    def __post_init__(self) -> None:
        if not (self.seeds and self.fraction_seeds and self.fractions and self.isr_modes and self.isr_seeds
                and self.melody_seeds and self.caption_sets):
            raise ValueError("claims: seeds, fraction_seeds, fractions, isr_modes, isr_seeds, melody_seeds and "
                             "caption_sets each need an entry")
        if not set(self.caption_sets) <= set(DataConfig.CAPTION_STYLES):
            raise ValueError(f"claims.caption_sets must be among {DataConfig.CAPTION_STYLES}, not {self.caption_sets}")
        bad = {k: v for k, v in self.margins.items() if not (isinstance(v, (int, float)) and v > 0)}
        if bad or not set(self.relative_margins) <= set(self.margins):
            raise ValueError(f"claims.margins must be positive numbers ({bad}) and relative_margins a subset of their "
                             f"names ({self.relative_margins})")
        bad = [f for f in self.fractions if not (isinstance(f, (int, float)) and 0 < f <= 1)]
        if bad:
            raise ValueError(f"claims.fractions must lie in (0, 1] (1 = the whole training split), not {bad}")
        if sorted(set(self.fractions)) != list(self.fractions):
            raise ValueError(f"claims.fractions must be increasing and distinct, not {self.fractions}")
        if not set(self.isr_modes) <= {"mmgen", "mmgen+roll"}:
            raise ValueError(f"claims.isr_modes: only modes that follow a retrieved melody (mmgen, mmgen+roll), "
                             f"not {self.isr_modes}")
        if not set(self.fraction_modes) <= set(MODES) or not self.fraction_modes:
            raise ValueError(f"claims.fraction_modes must be a non-empty subset of {MODES}, not {self.fraction_modes}")
        if self.isr_by not in ("isr", "isr_per_item"):
            raise ValueError(f"claims.isr_by must be 'isr' or 'isr_per_item', not {self.isr_by!r}")
        if isinstance(self.isr_grid, str) and self.isr_grid != "claims":
            raise ValueError(f"claims.isr_grid must be 'claims' or a list of IndexConfig fields, not {self.isr_grid!r}")
        if self.fraction_steps < 1 or min(self.isr_clips, self.fraction_clips, self.isr_k) < 0:
            raise ValueError("claims: fraction_steps >= 1, isr_clips, fraction_clips and isr_k >= 0")

    def margin_rule(self) -> Margins:
        """The margins as the harness applies them."""
        return Margins(dict(self.margins), tuple(self.relative_margins))


def claims(generation: Sequence[Effect], alignment: Sequence[Effect], n_train: int,
           experiments: Sequence[Mapping[str, Any]] = (), melody_note: str = "") -> pd.DataFrame:
    """One row per claim of the paper. ``generation`` and ``alignment``: the claim's effect first (its outcome),
    exploratory effects after (no outcome). The ISR and small-data claims need notebook 09's experiments:
    ``experiments`` holds its rows (:func:`load_experiment_claims`), each replacing the "not measured" row of its
    claim; ``melody_note`` (:func:`melody_test_note`) is the counterfactual the generation claim cites."""
    rows = [_row(GENERATION_CLAIM, generation),
            _row("Adding melody improves audio↔text alignment (Table 2: CLMP tri-modal vs CLAP-style two-modal)",
                 alignment),
            empty_row(ISR_CLAIM, "not measured here: notebook 09 generates with a grid of retrieval configurations "
                                 "whose retrieved melodies differ and tests this claim"),
            empty_row(SMALL_DATA_CLAIM,
                      f"not measured here: every model of this table trains on the same {n_train} clips; notebook 09 "
                      "trains on nested fractions of them and tests this claim")]
    return cite_melody_test(merge_claims(pd.DataFrame(rows), experiments), melody_note)


def small_data_not_run(cfg: ClaimsConfig) -> dict:
    """The small-data row of a pass that did not run the experiment (``claims.small_data: false``)."""
    return empty_row(SMALL_DATA_CLAIM,
                     "not run in this pass (claims.small_data: false: it trains an aligner and a UNet per fraction "
                     f"below 1 and training seed, {cfg.fraction_steps} steps each); `make evidence` runs it")


def merge_claims(table: pd.DataFrame, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``table`` with each row of ``rows`` in place of the row of the same claim (appended when new)."""
    out = table.reset_index(drop=True).copy()
    for row in rows:
        row = {c: row.get(c) for c in COLUMNS}
        row["n"] = str(row["n"])
        hit = out.index[out["claim"] == row["claim"]]
        if len(hit):
            for c in COLUMNS:
                out.at[hit[0], c] = row[c]
        else:
            out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
    return out


def load_experiment_claims(results_dir: str | Path) -> list[dict[str, Any]]:
    """Notebook 09's claim rows (``tables/claims_experiments.csv``) when it has run for this profile, else []."""
    path = Path(results_dir) / "tables" / f"{EXPERIMENTS_TABLE}.csv"
    if not path.exists():
        return []
    return pd.read_csv(path, dtype={"n": str}).to_dict("records")


def update_claims_table(results_dir: str | Path, rows: Sequence[Mapping[str, Any]], note: str) -> pd.DataFrame:
    """Write notebook 09's rows (``claims_experiments``) and merge them into notebook 08's ``claims`` table when that
    exists (else the claims table is these rows alone, until notebook 08 runs). Returns the claims table."""
    rows = [{c: r.get(c) for c in COLUMNS} for r in rows]
    save_table(pd.DataFrame(rows), results_dir, EXPERIMENTS_TABLE, note=note)
    path = Path(results_dir) / "tables" / "claims.csv"
    if not path.exists():
        return pd.DataFrame(rows)
    table = cite_melody_test(merge_claims(pd.read_csv(path, dtype={"n": str}), rows), melody_test_note(results_dir))
    save_table(table, results_dir, "claims", note=note)
    return table


def melody_test_note(results_dir: str | Path) -> str:
    """What notebook 09's counterfactual says for the generation claim (one clause per caption set, mode and swap),
    or "" when it has not run for this profile."""
    path = Path(results_dir) / "tables" / f"{MELODY_TEST_TABLE}.csv"
    if not path.exists():
        return ""
    table = pd.read_csv(path)
    return "; ".join(f"[{captions} captions] {system}: {text}"
                     for captions, part in table.groupby("captions", sort=False)
                     for system, text in move_sentences(part).items())


def cite_melody_test(table: pd.DataFrame, note: str) -> pd.DataFrame:
    """``table`` with the generation claim's evidence citing the counterfactual ``note`` (replacing an older one)."""
    out = table.copy()
    hit = out.index[out["claim"] == GENERATION_CLAIM]
    if len(hit) and note:
        old = str(out.at[hit[0], "evidence"]).split(MELODY_MARK)[0]
        out.at[hit[0], "evidence"] = old + MELODY_MARK + note
    return out


def _row(claim: str, effects: Sequence[Effect], note: str = "") -> dict:
    head = effects[0]
    runs = "" if head.runs > 1 else ("; ONE training run per arm: the spread between runs is not in the interval, so "
                                     "the rule reads inconclusive")
    evidence = "; ".join([head.text() + runs] + [f"(exploratory) {e.text()}" for e in effects[1:]]
                         + ([note] if note else []))
    return {"claim": claim, "effect": head.name + (" (non-inferiority)" if head.kind == "non-inferiority" else ""),
            "estimate": head.estimate, "low": head.low, "high": head.high, "margin": head.margin, "n": head.n,
            "evidence": evidence, "verdict": head.verdict}


def empty_row(claim: str, evidence: str) -> dict:
    """A row without a measured effect (not measured, not measurable): verdict inconclusive, n 0."""
    return {"claim": claim, "effect": "", "estimate": np.nan, "low": np.nan, "high": np.nan, "margin": np.nan, "n": "0",
            "evidence": evidence, "verdict": "inconclusive"}

