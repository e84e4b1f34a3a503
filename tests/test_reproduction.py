"""Table 1 summaries, rank correlation and the claims verdicts (the logic behind notebook 08)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmgen_core.reproduction import (
    CEILING,
    PAPER_TABLE1,
    claims,
    isr_fad_correlation,
    paper_table1,
    rank_correlation,
    summarize,
)

BASE, MM = "text only (AudioLDM-style)", "MMGen"


def _runs(base_fad: list[float], mm_fad: list[float]) -> pd.DataFrame:
    rows = [{"system": s, "seed": i, "fad": f, "kl": 1.0, "is": 2.0, "text_audio": 0.1, "chroma_target": 0.2,
             "chroma_cond": np.nan if s == BASE else 0.3, "note_f1_cond": np.nan if s == BASE else 0.1}
            for s, fads in ((BASE, base_fad), (MM, mm_fad)) for i, f in enumerate(fads)]
    rows.append({"system": CEILING, "seed": np.nan, "fad": 0.5, "kl": 0.1, "is": 2.5, "text_audio": 0.2,
                 "chroma_target": 0.6, "chroma_cond": 0.6, "note_f1_cond": 0.5})
    return pd.DataFrame(rows)


def _alignment(a2t_bi: float, a2t_tri: float) -> dict:
    def scores(v: float) -> dict:
        return {d: {"R@1": v, "mAP@10": v} for d in ("A2T", "T2A")}

    return {"bimodal": scores(a2t_bi), "trimodal": scores(a2t_tri)}


ISR = pd.DataFrame({"isr": [0.2, 0.4, 0.6, 0.8, 0.9], "fad": [5.0, 4.0, 3.0, 2.0, 1.0], "generation": range(5)})


def test_summarize_mean_sd_and_missing():
    t = summarize(_runs([3.0, 5.0], [1.0, 1.0]))
    assert list(t.system) == [BASE, MM, CEILING] and list(t.seeds) == [2, 2, 1]
    assert t.loc[0, "fad"] == "4.000 ± 1.414" and t.loc[1, "fad"] == "1.000 ± 0.000"
    assert t.loc[0, "chroma_cond"] == "n/a" and t.loc[2, "fad"] == "0.500"  # one row: no spread


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])[0] == pytest.approx(-1.0)
    assert np.isnan(rank_correlation([0.5, 0.5, 0.5], [1, 2, 3])[0])  # no variance: nothing to rank


@pytest.mark.parametrize("mm, verdict", [([1.0, 1.1, 0.9], "reproduced"),
                                         ([4.0, 5.0, 6.0], "not reproduced"),
                                         ([4.2, 5.6, 4.9], "not reproduced")])  # lower, within the spread
def test_fad_claim_needs_a_gap_beyond_the_spread(mm, verdict):
    c = claims(_runs([5.0, 5.2, 4.8], mm), _alignment(0.3, 0.4), ISR, n_train=100)
    assert c.loc[0, "verdict"] == verdict and "seeds" in c.loc[0, "evidence"]


def test_alignment_and_isr_claims():
    c = claims(_runs([5.0, 5.0], [1.0, 1.0]), _alignment(0.3, 0.4), ISR, n_train=100).set_index("claim")
    verdicts = list(c.verdict)
    assert verdicts == ["reproduced", "reproduced", "reproduced", "not testable here"]
    worse = claims(_runs([5.0, 5.0], [1.0, 1.0]), _alignment(0.4, 0.3), ISR.assign(fad=ISR.fad[::-1].values), 100)
    assert list(worse.verdict[1:3]) == ["not reproduced", "not reproduced"]
    flat = claims(_runs([5.0, 5.0], [1.0, 1.0]), {}, ISR.assign(isr=0.5), 100)
    assert list(flat.verdict[1:3]) == ["not testable here", "not testable here"]


def test_repeated_generations_count_once():
    # 20 configurations, but only two distinct retrievals (hence generations): nothing to rank
    copies = pd.DataFrame({"isr": [0.43, 0.55] + [0.56] * 18, "fad": [84.7] + [84.1] * 19, "generation": [0] + [1] * 19})
    rho, p, n_points, n_gen = isr_fad_correlation(copies)
    assert (n_points, n_gen) == (3, 2)
    c = claims(_runs([5.0, 5.0], [1.0, 1.0]), {}, copies, 100)
    assert c.verdict[2] == "not testable here" and "2 distinct" in c.evidence[2]


def test_paper_table1_is_the_papers_numbers():
    t = paper_table1()
    assert len(t) == 2 * len(PAPER_TABLE1)
    row = t[(t.system == "MMGen") & (t.data == "MusicBench")].iloc[0]
    assert (row.fad, row.kl, row["is"]) == (1.36, 1.08, 2.55)
