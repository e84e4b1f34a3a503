"""The evaluation harness (docs/method.md §2.8): intervals at the level of the training run and their coverage,
the both-sides FAD∞, the paired KID jackknife, measured sets, paired effects, margins and sequential looks."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import measured_set

from mmgen_core.evaluation import EvaluationConfig
from mmgen_core.evaluation.audio_metrics import (
    clip_orders,
    fad_inf,
    fad_inf_paired,
    kid_leave_one_out,
    kid_value,
)
from mmgen_core.evaluation.harness import (
    METRICS,
    Margins,
    Measurements,
    Projection,
    SetMeasure,
    lower_is_better,
    signed_name,
)
from mmgen_core.evaluation.intervals import (
    Effect,
    leave_one_out,
    run_level_interval,
    sequential_confidence,
    verdict,
)

# sizes measured on tiny (make evidence's per-clip emb_dist differences MMGen vs text only, 3 seeds × 2 × 60 clips)
SEED_SD, CLIP_SD, RESIDUAL_SD = 0.09, 0.40, 0.60


def _experiment(rng, effect: float, runs: int, clips: int = 60, sampling: int = 2, seed_sd: float = SEED_SD):
    """Per-clip differences of two systems: effect + training-run shift + clip-by-system shift + residual."""
    return (effect + rng.normal(0, seed_sd, runs)[:, None, None] + rng.normal(0, CLIP_SD, clips)[None, None, :]
            + rng.normal(0, RESIDUAL_SD, (runs, sampling, clips)))


@pytest.mark.parametrize("runs", [3, 4])
def test_run_level_intervals_cover_a_known_effect_about_95_percent_of_the_time(runs):
    rng = np.random.default_rng(runs)
    hits = [lo <= 0.3 <= hi for _ in range(1500)
            for _, lo, hi, _ in [run_level_interval(leave_one_out(_experiment(rng, 0.3, runs)))]]
    assert 0.935 <= np.mean(hits) <= 0.985


def test_intervals_that_ignore_the_spread_between_runs_would_not_cover():
    """With a large seed spread, the clip jackknife alone (one run's view) covers far less than 95%: the reason the
    rule needs two runs per arm."""
    rng = np.random.default_rng(1)
    hits = []
    for _ in range(800):
        x = leave_one_out(_experiment(rng, 0.3, 1, seed_sd=0.5))
        _, lo, hi, df = run_level_interval(x)
        hits.append(lo <= 0.3 <= hi)
    assert df == 59 and np.mean(hits) < 0.8


def test_leave_one_out_means_skip_missing_values():
    v = np.array([[[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]]])  # 1 run, 2 sampling seeds, 3 clips
    out = leave_one_out(v)
    assert out.shape == (1, 4) and out[0, 0] == pytest.approx(3.0)
    assert out[0, 1:] == pytest.approx([np.mean([2, 4, 5]), np.mean([1, 3, 5]), np.mean([1, 2, 3, 4])])


@pytest.mark.parametrize("low, high, margin, kind, expected", [
    (0.1, 2.0, 1.0, "superiority", "reproduced"), (-2.0, -0.1, 1.0, "superiority", "contradicted"),
    (-0.5, 0.5, 1.0, "superiority", "equivalent"), (-0.5, 1.5, 1.0, "superiority", "inconclusive"),
    (-0.5, 0.5, np.nan, "superiority", "inconclusive"), (0.0, 1.0, 2.0, "superiority", "equivalent"),
    (-0.5, 2.0, 1.0, "non-inferiority", "reproduced"), (-3.0, -1.5, 1.0, "non-inferiority", "contradicted"),
    (-1.5, 0.5, 1.0, "non-inferiority", "inconclusive")])
def test_outcome_rule_on_hand_made_intervals(low, high, margin, kind, expected):
    assert verdict(low, high, margin, kind) == expected
    assert Effect("x", (low + high) / 2, low, high, "3 clips", margin, kind).verdict == expected
    assert Effect("x", (low + high) / 2, low, high, "3 clips", margin, kind, runs=1).verdict == "inconclusive"


def test_outcome_rule_rejects_what_it_cannot_judge():
    for args, match in (((1.0, -1.0), "low <= high"), ((0.0, 1.0, -0.1), "positive"),
                        ((0.0, 1.0, np.nan, "non-inferiority"), "needs a margin"), ((0.0, 1.0, 1.0, "better"), "kind")):
        with pytest.raises(ValueError, match=match):
            verdict(*args)


def test_sequential_looks_share_the_error_and_margins_scale_with_the_baseline():
    assert sequential_confidence(0.95, 1) == pytest.approx(0.95)
    assert sequential_confidence(0.95, 5) == pytest.approx(0.99)
    m = Margins()
    assert m.of("fad_inf", -30.0) == pytest.approx(3.0) and m.of("R@1", 0.4) == 0.05 and np.isnan(m.of("richness"))


def test_both_sides_fad_inf_is_zero_for_two_real_sets_where_the_one_sided_form_is_not():
    rng = np.random.default_rng(1)
    orders = clip_orders(60, 3, 0)
    both, one, shifted = [], [], []
    for _ in range(12):
        g, r = ([rng.normal(size=(2, 32)) for _ in range(60)] for _ in range(2))
        both.append(fad_inf_paired(g, r, orders))
        one.append(fad_inf(np.concatenate(g), np.concatenate(r)))
        shifted.append(fad_inf_paired([x + 0.3 for x in g], r, orders))
    assert abs(np.mean(both)) < 0.4 and np.mean(one) > 1.5  # the one-sided form keeps the reference's bias
    assert np.mean(shifted) == pytest.approx(32 * 0.3 ** 2, rel=0.25)  # the true Fréchet distance |Δμ|²


def test_paired_kid_jackknife_is_kid_without_the_clip_on_both_sides():
    rng = np.random.default_rng(2)
    g, r = [rng.normal(size=(2, 8)) for _ in range(10)], [rng.normal(size=(2, 8)) + 0.2 for _ in range(10)]
    v = kid_leave_one_out(g, r)
    assert v[0] == pytest.approx(kid_value(np.concatenate(g), np.concatenate(r)))
    assert v[4] == pytest.approx(kid_value(np.concatenate(g[:3] + g[4:]), np.concatenate(r[:3] + r[4:])))


def _measurements(seed_shifts: list[float], gap: float) -> Measurements:
    """Two systems over training runs whose quality moves with the seed (both alike: paired), ``gap`` apart."""
    rng = np.random.default_rng(0)
    refs = [rng.normal(0, 1, (2, 6)) for _ in range(16)]
    m = Measurements([f"c{i}" for i in range(16)], EvaluationConfig())
    for t, s in enumerate(seed_shifts):
        for k in range(2):
            m.add("base", t, k, measured_set(rng, s + gap, refs, {"text_audio": 0.2 + s, "chroma_cond": np.nan}))
            m.add("new", t, k, measured_set(rng, s, refs, {"text_audio": 0.3 + s, "chroma_cond": np.nan}))
    return m


def test_measured_sets_give_paired_effects_over_training_runs():
    m = _measurements([0.0, 0.6, 1.2], gap=0.8)
    assert m.run_values("new", "text_audio").shape == (3, 17)
    assert m.describe("new") == "16 clips × 2 sampling seeds × 3 training seeds"
    e = m.effect("new", "base", "text_audio")
    assert e.name == "text_audio(new) − text_audio(base)" and e.estimate == pytest.approx(0.1, abs=0.01)
    assert e.runs == 3 and e.verdict == "reproduced" and e.high - e.low < 0.05  # paired: the seed shift cancels
    f = m.effect("new", "base", "fad_inf", margin=0.1)
    assert f.name == "fad_inf(base) − fad_inf(new)" and f.estimate > 0 and f.low <= f.estimate <= f.high
    single = m.interval("new", "text_audio")
    assert single.high - single.low > e.high - e.low  # one system alone carries the seed spread
    assert np.isnan(m.interval("new", "chroma_cond").estimate)  # a measure the system does not have
    table = m.intervals(["text_audio", "kid"])
    assert len(table) == 4 and (table["runs"] == 3).all()
    assert len(m.clips_table()) == 2 * 3 * 2 * 16 and set(m.runs_table()["system"]) == {"base", "new"}
    with pytest.raises(ValueError, match="one clip per evaluation clip"):
        m.add("x", 0, 0, SetMeasure([], {}, {}))


def test_a_set_measure_survives_the_cache(tmp_path):
    rng = np.random.default_rng(3)
    refs = [rng.normal(0, 1, (2, 6)) for _ in range(6)]
    s = measured_set(rng, 0.5, refs, {"text_audio": 0.3})
    s.save(tmp_path / "x.npz")
    back = SetMeasure.load(tmp_path / "x.npz")
    assert np.allclose(back.clips[2].frames, s.clips[2].frames)
    assert back.clips[1].values.keys() == s.clips[1].values.keys()
    assert np.allclose(back.loo["kid"], s.loo["kid"]) and back.scores == s.scores


def test_metric_registry_and_projection():
    assert lower_is_better("fad_inf") and not lower_is_better("text_audio") and METRICS["kid"].per_clip is False
    assert signed_name("kid", "MMGen", "text only (AudioLDM-style)") == "kid(text only) − kid(MMGen)"
    rows = np.random.default_rng(4).normal(size=(50, 10)) * np.arange(1, 11)
    p = Projection.fit(rows, 3)
    assert p(rows).shape == (50, 3) and p(rows).var(0)[0] > p(rows).var(0)[2]
    with pytest.raises(ValueError, match="3-d projection"):
        Projection.fit(rows[:2], 3)
