"""Table 1 intervals, the alignment effect and the claims verdicts (the logic behind notebook 08)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mmgen_core.alignment.embeddings import EmbeddingSet
from mmgen_core.evaluation.intervals import Effect
from mmgen_core.reproduction import (
    PAPER_TABLE1,
    SYSTEMS,
    Measured,
    ResultsConfig,
    Table1Run,
    alignment_effect,
    bootstrap,
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


def _measured(rng, shift: float, n_clips: int, n_train: int = 1, n_seeds: int = 2, chroma: float = 0.3) -> Measured:
    frames = [[[rng.normal(shift, 1.0, (2, D)) for _ in range(n_clips)] for _ in range(n_seeds)] for _ in range(n_train)]
    values = {"text_audio": rng.normal(0.1, 0.05, (n_train, n_seeds, n_clips)),
              "emb_dist": rng.normal(1.0 + shift, 0.1, (n_train, n_seeds, n_clips)),
              "chroma_cond": np.full((n_train, n_seeds, n_clips), chroma)}
    return Measured(values, frames)


def _run(base_shift: float, mm_shift: float, n_clips: int = 30, seed: int = 0) -> Table1Run:
    rng = np.random.default_rng(seed)
    refs = [rng.normal(0.0, 1.0, (2, D)) for _ in range(n_clips)]
    systems = {BASE: _measured(rng, base_shift, n_clips, chroma=np.nan), MM: _measured(rng, mm_shift, n_clips)}
    boot = bootstrap(systems, refs, ("fad_inf", "kid", "text_audio", "emb_dist", "chroma_cond"), n_boot=60, progress=False)
    sets = pd.DataFrame([{"system": s, "train_seed": 0, "seed": k, "fad": 1.0 + k, "is": 2.0}
                         for s in systems for k in range(2)])
    return Table1Run(sets, pd.DataFrame(), systems, boot)


def test_bootstrap_shapes_points_and_intervals():
    run = _run(2.0, 0.0)
    est, low, high = run.boot.interval(BASE, "fad_inf")
    assert low < est < high and run.boot.replicates[BASE, "fad_inf"].shape == (60,)
    assert run.boot.n[MM] == "30 clips × 2 sampling seeds × 1 training seed"
    assert np.isnan(run.boot.interval(BASE, "chroma_cond")[0])  # the text-only system follows no melody
    t = summarize(run)
    assert list(t.system) == [BASE, MM] and t.loc[0, "chroma_cond"] == "n/a"
    assert t.loc[0, "fad"] == "1.500 ± 0.707" and t.loc[1, "fad_inf"].count("[") == 1


def test_bootstrap_rejects_systems_on_other_clips():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not measured on the 5 reference clips"):
        bootstrap({MM: _measured(rng, 0.0, 4)}, [np.zeros((2, D))] * 5, ("kid",), n_boot=5, progress=False)


@pytest.mark.parametrize("base, mm, verdict", [(2.0, 0.0, "reproduced"), (0.0, 2.0, "contradicted"),
                                               (0.0, 0.0, "inconclusive")])
def test_generation_claim_follows_the_interval_of_the_fad_effect(base, mm, verdict):
    effects = generation_effects(_run(base, mm))
    assert effects[0].name == "fad_inf(text only) − fad_inf(MMGen)" and effects[0].verdict == verdict
    assert [e.name.split("(")[0] for e in effects] == ["fad_inf", "kid", "text_audio", "emb_dist"]
    c = claims(effects[:3], [Effect("R@1", 0.1, 0.05, 0.15, "60 test clips")], 480)
    assert list(c.verdict) == [verdict, "reproduced", "inconclusive", "inconclusive"]
    assert "95% interval" in c.evidence[0] and "(supporting)" in c.evidence[0] and c.n[0].startswith("30 clips")
    assert set(c.verdict) <= {"reproduced", "contradicted", "inconclusive"}


def _alignment_run(hits: np.ndarray) -> SimpleNamespace:
    """A run whose exported test embeddings make audio i retrieve text i exactly where ``hits`` is true."""
    n = len(hits)
    audio = np.eye(n, 2 * n)
    text = np.where(hits[:, None], audio, np.eye(n, 2 * n, n))  # a miss: text i points nowhere
    emb = EmbeddingSet("test", [f"c{i}" for i in range(n)], audio, text, None)
    return SimpleNamespace(embeddings=lambda split: emb)


def test_per_clip_retrieval_and_alignment_effect():
    n = 40
    worse = _alignment_run(np.arange(n) % 4 == 0)  # R@1 0.25 both ways
    better = _alignment_run(np.arange(n) % 4 != 3)  # 0.75
    assert per_clip_retrieval(worse).mean() == pytest.approx(0.25)
    e = alignment_effect([worse], [better], n_boot=200)
    assert e.estimate == pytest.approx(0.5) and e.verdict == "reproduced" and e.n.startswith("40 test clips")
    assert alignment_effect([better], [worse], n_boot=200).verdict == "contradicted"
    assert alignment_effect([worse], [worse], n_boot=200).verdict == "inconclusive"


def test_table1_systems_and_what_the_intervals_cover():
    full = ResultsConfig(seeds=[0, 1], unet_seeds=[0, 1, 2], aligner_seeds=[0, 1, 2])
    assert full.systems == list(SYSTEMS) and "oracle" not in " ".join(ResultsConfig(oracle=False).systems)
    assert len(ResultsConfig(oracle=False).systems) == 3
    note = scope_note(full)
    assert "2 sampling seeds and 3 UNet training seeds" in note and "NOT" not in note and "make evidence" not in note
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
