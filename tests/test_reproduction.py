"""Table 1 intervals, the alignment effect and the claims verdicts (the logic behind notebook 08)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import measured_set

from mmgen_core.alignment.embeddings import EmbeddingSet
from mmgen_core.evaluation import EvaluationConfig
from mmgen_core.evaluation.harness import Margins, Measurements
from mmgen_core.evaluation.intervals import Effect
from mmgen_core.reproduction import (
    PAPER_TABLE1,
    SYSTEMS,
    ResultsConfig,
    Table1Run,
    alignment_effect,
    claims,
    generation_effects,
    paper_table1,
    per_clip_retrieval,
    rank_correlation,
    scope_note,
    summarize,
)

BASE, MM = "text only (AudioLDM-style)", "MMGen"
D = 6


def _run(base_shift: float, mm_shift: float, n_clips: int = 30, runs: int = 3, seed: int = 0) -> Table1Run:
    """The baseline and MMGen over ``runs`` training seeds × 2 sampling seeds, their rows ``*_shift`` away from the
    references (a larger shift: a worse FAD∞), each run moving both alike (paired by seed)."""
    rng = np.random.default_rng(seed)
    refs = [rng.normal(0.0, 1.0, (2, D)) for _ in range(n_clips)]
    m = Measurements([f"c{i}" for i in range(n_clips)], EvaluationConfig())
    for t in range(runs):
        drift = 0.1 * t
        for k in range(2):
            base = {"text_audio": 0.1, "emb_dist": 1.0 + base_shift, "chroma_cond": np.nan}
            m.add(BASE, t, k, measured_set(rng, base_shift + drift, refs, base))
            m.add(MM, t, k, measured_set(rng, mm_shift + drift, refs, {**base, "emb_dist": 1.0 + mm_shift,
                                                                       "chroma_cond": 0.3}))
    return Table1Run(m, list(range(runs)), 0.95)


def test_table1_cells_and_per_set_diagnostics():
    run = _run(2.0, 0.0)
    e = run.harness.interval(BASE, "fad_inf")
    assert e.low < e.estimate < e.high and e.n == "30 clips × 2 sampling seeds × 3 training seeds"
    t = summarize(run)
    assert list(t.system) == [BASE, MM] and t.loc[0, "chroma_cond"] == "n/a"  # the text-only system follows no melody
    assert t.loc[0, "fad"] == "3.100 ± 0.089" and t.loc[1, "fad_inf"].count("[") == 1
    assert len(run.sets) == 2 * 3 * 2 and len(run.clips) == 2 * 3 * 2 * 30


@pytest.mark.parametrize("base, mm, runs, verdict", [(2.0, 0.0, 3, "reproduced"), (0.0, 2.0, 3, "contradicted"),
                                                     (0.0, 0.0, 3, "equivalent"), (2.0, 0.0, 1, "inconclusive")])
def test_generation_claim_follows_the_rule_on_the_fad_effect(base, mm, runs, verdict):
    effects = generation_effects(_run(base, mm, runs=runs), Margins({"fad_inf": 10.0}, ("fad_inf",)))
    assert effects[0].name == "fad_inf(text only) − fad_inf(MMGen)" and effects[0].verdict == verdict
    assert [e.name.split("(")[0] for e in effects] == ["fad_inf", "kid", "text_audio", "emb_dist"]
    assert effects[0].margin > 0 and all(np.isnan(e.margin) for e in effects[1:])  # the others are exploratory
    c = claims(effects[:3], [Effect("R@1", 0.1, 0.05, 0.15, "60 test clips")], 480)
    assert list(c.verdict) == [verdict, "reproduced", "inconclusive", "inconclusive"]
    assert "95% interval" in c.evidence[0] and "(exploratory)" in c.evidence[0] and c.n[0].startswith("30 clips")
    assert ("ONE training run" in c.evidence[0]) == (runs == 1)


def _alignment_run(hits: np.ndarray) -> SimpleNamespace:
    """A run whose exported test embeddings make audio i retrieve text i exactly where ``hits`` is true."""
    n = len(hits)
    audio = np.eye(n, 2 * n)
    text = np.where(hits[:, None], audio, np.eye(n, 2 * n, n))  # a miss: text i points nowhere
    emb = EmbeddingSet("test", [f"c{i}" for i in range(n)], audio, text, None)
    return SimpleNamespace(embeddings=lambda split: emb, config=SimpleNamespace(uses_melody=False))


def test_per_clip_retrieval_and_alignment_effect():
    n = 40
    worse = _alignment_run(np.arange(n) % 4 == 0)  # R@1 0.25 both ways
    better = _alignment_run(np.arange(n) % 4 != 3)  # 0.75
    assert per_clip_retrieval(worse).mean() == pytest.approx(0.25)
    e = alignment_effect([worse, worse], [better, better], margin=0.05)
    assert e.estimate == pytest.approx(0.5) and e.verdict == "reproduced" and e.n.startswith("40 test clips × 2")
    assert alignment_effect([better, better], [worse, worse]).verdict == "contradicted"
    assert alignment_effect([worse, worse], [worse, worse], margin=0.05).verdict == "equivalent"
    assert alignment_effect([worse], [better]).verdict == "inconclusive"  # one aligner per model


def test_table1_systems_and_what_the_intervals_cover():
    full = ResultsConfig(seeds=[0, 1], unet_seeds=[0, 1, 2], aligner_seeds=[0, 1, 2])
    assert full.systems == list(SYSTEMS) and "oracle" not in " ".join(ResultsConfig(oracle=False).systems)
    assert len(ResultsConfig(oracle=False).systems) == 3
    note = scope_note(full)
    assert "2 sampling seeds and 3 UNet training seeds" in note and "NOT" not in note and "make evidence" not in note
    assert "Sequential" in scope_note(ResultsConfig(unet_seeds=[0, 1], max_unet_seeds=4))
    with pytest.raises(ValueError, match="max_unet_seeds"):
        ResultsConfig(unet_seeds=[0, 1, 2], max_unet_seeds=2)
    quick = scope_note(ResultsConfig(seeds=[0], unet_seeds=[0], aligner_seeds=[0]))
    assert "ONE sampling seed" in quick and "NOT UNet training seeds" in quick
    assert "NOT aligner training seeds" in quick and "make evidence" in quick


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])[0] == pytest.approx(-1.0)
    assert np.isnan(rank_correlation([0.5, 0.5, 0.5], [1, 2, 3])[0])  # no variance: nothing to rank


def test_paper_table1_is_the_papers_numbers():
    t = paper_table1()
    assert len(t) == 2 * len(PAPER_TABLE1)
    row = t[(t.system == "MMGen") & (t.data == "MusicBench")].iloc[0]
    assert (row.fad, row.kl, row["is"]) == (1.36, 1.08, 2.55)
