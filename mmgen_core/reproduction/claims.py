"""The paper's claims, one row each, with our evidence and a verdict."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmgen_core.reproduction.isr_quality import isr_fad_correlation


def claims(runs: pd.DataFrame, alignment: dict[str, dict[str, dict[str, float]]], isr: pd.DataFrame,
           n_train: int) -> pd.DataFrame:
    """One row per claim of the paper: our evidence and a plain verdict."""
    by = runs.groupby("system")
    fad = by["fad"].agg(["mean", "std"])
    base, mm = fad.loc["text only (AudioLDM-style)"], fad.loc["MMGen"]
    lower = mm["mean"] < base["mean"] and (base["mean"] - mm["mean"]) > max(base["std"], mm["std"])
    rows = [_claim("Melody guidance lowers FAD (MMGen vs the text-only baseline)",
                   f"FAD {mm['mean']:.3f} ± {mm['std']:.3f} vs {base['mean']:.3f} ± {base['std']:.3f} "
                   f"over {len(runs[runs.system == 'MMGen'])} seeds",
                   "reproduced" if lower else "not reproduced")]
    two, tri = alignment.get("bimodal"), alignment.get("trimodal")
    if two and tri:
        keys = [("A2T", "R@1"), ("T2A", "R@1"), ("A2T", "mAP@10"), ("T2A", "mAP@10")]
        diffs = [tri[d][m] - two[d][m] for d, m in keys]
        ev = ", ".join(f"{d} {m} {two[d][m]:.3f}→{tri[d][m]:.3f}" for d, m in keys)
        verdict = "reproduced" if np.mean(diffs) > 0 and sum(x > 0 for x in diffs) >= 3 else "not reproduced"
        rows.append(_claim("Adding melody improves audio↔text alignment (Table 2)", ev, verdict))
    else:
        rows.append(_claim("Adding melody improves audio↔text alignment (Table 2)", "alignment runs missing",
                           "not testable here"))
    rho, p, n_points, n_gen = isr_fad_correlation(isr)
    if np.isnan(rho) or n_gen < 4:
        rows.append(_claim("A higher Intersection Rate gives better generation (lower FAD)",
                           f"{len(isr)} retrieval configurations retrieved only {n_gen} distinct sets of melodies for "
                           f"the test captions ({n_gen} distinct generations): too few to rank",
                           "not testable here"))
    else:
        verdict = "reproduced" if rho < 0 and p < 0.05 else "not reproduced"
        rows.append(_claim("A higher Intersection Rate gives better generation (lower FAD)",
                           f"Spearman ρ(ISR, FAD) = {rho:.2f} (p = {p:.2f}) over {n_points} distinct (ISR, FAD) "
                           f"points from {n_gen} distinct generations", verdict))
    rows.append(_claim("Small data suffices: MMGen trained on little data rivals models trained on far more",
                       f"we train every model on {n_train} clips of one FluidSynth-rendered corpus; the paper's "
                       "comparison needs the large-data baselines' checkpoints and the real test sets",
                       "not testable here"))
    return pd.DataFrame(rows)


def _claim(claim: str, evidence: str, verdict: str) -> dict[str, Any]:
    return {"claim": claim, "evidence": evidence, "verdict": verdict}
