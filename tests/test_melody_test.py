"""The melody counterfactual and the probes of r (docs/method.md §2.9): the changed melodies keep what they should,
the moves see what each measure can see, a system that ignores its melody moves exactly 0, and the outcome of a
move follows the one rule."""
import numpy as np
import pandas as pd
import pytest

from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import ClipMeasure, Measurements, SetMeasure
from mmgen_core.evaluation.melody_metrics import chroma_similarity, melody_profile, pitch_class_agreement
from mmgen_core.melody.notes import Note
from mmgen_core.melody.tokens import notes_to_text, text_to_triplets
from mmgen_core.reporting.melody import explain, move_sentences
from mmgen_core.reproduction.melody_test import (
    FOLLOWER,
    MEASURES,
    CounterfactualRun,
    MelodyCase,
    measure_moves,
    move,
    probe,
    swap_notes,
    swap_tokens,
    tritone,
)

SR = 16000


def tune(pitches=(60, 64, 67, 72, 71, 67, 65, 62), step=0.3, inst=0) -> list[Note]:
    return [Note(p, i * step, (i + 1) * step - 0.02, inst) for i, p in enumerate(pitches)]


def play(notes, seconds=2.56) -> np.ndarray:
    """Harmonic tones of the notes: a perfect follower of the melody."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for n in notes:
        f0 = 440.0 * 2 ** ((n.pitch - 69) / 12)
        on = (t >= n.start) & (t < n.end)
        y[on] += sum(np.sin(2 * np.pi * h * f0 * t[on]) / h for h in range(1, 4))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def test_the_key_swap_moves_every_pitch_class_farthest_and_keeps_the_rhythm():
    a = tune()
    b = swap_notes(a, "key")
    assert tritone(a) == -6 and all(y.pitch - x.pitch == -6 for x, y in zip(a, b))  # mean pitch 66: down
    assert [(n.start, n.end) for n in a] == [(n.start, n.end) for n in b]
    assert np.allclose(np.roll(melody_profile(a), 6), melody_profile(b))
    assert tritone([Note(48, 0, 1)]) == 6  # low melodies go up


def test_the_contour_swap_keeps_each_voice_s_pitch_classes_and_rhythm():
    a = tune() + tune((48, 43, 45, 41), 0.6, inst=1)
    b = swap_notes(a, "contour")
    for inst in (0, 1):
        va = [n for n in a if n.instrument == inst]
        vb = sorted((n for n in b if n.instrument == inst), key=lambda n: n.start)
        assert [(n.start, n.end) for n in va] == [(n.start, n.end) for n in vb]
        assert [n.pitch for n in vb] == [n.pitch for n in va][::-1]
    with pytest.raises(ValueError, match="swap must be one of"):
        swap_notes(a, "tempo")


def test_token_swaps_change_r_as_the_notes_change_the_roll():
    a = tune()
    text = notes_to_text(a)
    assert swap_tokens(text, "key", 6) == notes_to_text(swap_notes(a, "key", 6))
    assert swap_tokens(text, "contour", 0) == notes_to_text(swap_notes(a, "contour"))
    assert [t[1:] for t in text_to_triplets(swap_tokens(text, "contour", 0))] == [t[1:] for t in text_to_triplets(text)]


def test_a_perfect_follower_moves_by_each_measure_a_deaf_system_moves_zero():
    a = tune()
    key, contour = swap_notes(a, "key"), swap_notes(a, "contour")
    y_a, y_key, y_contour = play(a), play(key), play(contour)
    assert pitch_class_agreement(y_a, a) > 0.8 > 0.0 > pitch_class_agreement(y_a, key)
    assert move(y_a, y_key, a, key, pitch_class_agreement) > 1.0  # both directions summed
    assert move(y_a, y_key, a, key, chroma_similarity) > 1.0
    assert abs(move(y_a, y_contour, a, contour, pitch_class_agreement)) < 0.05  # time-free: blind to contour
    assert move(y_a, y_contour, a, contour, chroma_similarity) > 0.5  # frame-wise chroma sees it
    for f in MEASURES.values():
        assert move(y_a, y_a, a, key, f) == 0.0  # the same audio for both melodies (mode text)


def _run(moves: dict[str, list[float]], follower: float = 2.0, clips: int = 12) -> CounterfactualRun:
    rng = np.random.default_rng(0)
    h = Measurements([f"c{i}" for i in range(clips)], EvaluationConfig())
    for system, per_seed in {FOLLOWER: [follower], **moves}.items():
        for t, m in enumerate(per_seed):
            values = m + rng.normal(0, 0.05, clips) if m else np.zeros(clips)
            s = SetMeasure([ClipMeasure(np.zeros((0, 1)), np.zeros(0), {"pcp_move": v, "chroma_move": v})
                            for v in values], {}, {})
            h.add(CounterfactualRun.name(system, "key"), t, 0, s)
    return CounterfactualRun(h, ["key"], [FOLLOWER, "text only (control)", "MMGen", "MMGen+roll"])


def test_the_outcome_of_a_move_follows_the_one_rule():
    run = _run({"text only (control)": [0.0, 0.0, 0.0], "MMGen": [0.6, 0.7, 0.65], "MMGen+roll": [0.5]})
    table = run.table().set_index("system")
    assert table.loc["text only (control)", "pcp_move"] == 0.0
    assert table.loc["text only (control)", "pcp_move outcome"] == "no move"
    assert table.loc["MMGen", "pcp_move outcome"] == "reaches the music"
    assert table.loc["MMGen", "pcp_move of follower"] == pytest.approx(0.325, abs=0.03)
    assert table.loc["MMGen+roll", "pcp_move outcome"].startswith("inconclusive (one training run)")
    assert table.loc[FOLLOWER, "pcp_move outcome"] == "reference"
    said = move_sentences(run.table())
    assert "reaches the music" in said["MMGen"] and "text only (control)" not in said  # the control: in the table


def test_the_explanation_follows_the_measurements():
    def moves(captions, mmgen_key, roll_key=(0.9, 0.8, 1.0)):
        rows = []
        for system, (est, low, high), swap in (("MMGen", mmgen_key, "key"), ("MMGen", (0.0, 0.0, 0.0), "contour"),
                                               ("MMGen+roll", roll_key, "key")):
            out = "reaches the music" if low > 0 else "no move"
            rows.append({"captions": captions, "system": system, "swap": swap, **{
                f"{m}{x}": v for m in ("pcp_move", "chroma_move")
                for x, v in (("", est), (" low", low), (" high", high), (" of follower", est / 2), (" outcome", out))}})
        return pd.DataFrame(rows)

    probes = pd.DataFrame([{"captions": "detailed", "variant": "trimodal", "target": "key", "input": i, "low": low,
                            "chance": 0.1} for i, low in (("r (melody)", 0.05), ("q (caption)", 0.6))])
    both = pd.concat([moves("detailed", (0.01, -0.01, 0.03)), moves("sound", (0.5, 0.3, 0.7))])
    said = explain(both, probes)
    assert "explanation 1" in said["MMGen"] and "explanation 2 supported" in said["MMGen"]
    assert "explanation 3" in said["MMGen"] and "not followed" not in said["MMGen+roll"]
    same = explain(pd.concat([moves("detailed", (0.01, -0.01, 0.03)), moves("sound", (0.02, -0.01, 0.05))]), probes)
    assert "explanation 2 not supported" in same["MMGen"]
    unused = explain(moves("detailed", (0.0, 0.0, 0.0), (0.01, -0.02, 0.04)), probes)
    assert "not followed" in unused["MMGen+roll"] and "sound" in unused["MMGen"]


def test_a_move_set_round_trips_through_the_harness_cache(tmp_path):
    case = MelodyCase(tune(), swap_notes(tune(), "key"), "", "", 6)
    y_a, y_b = play(case.a), play(case.b)
    s = measure_moves([y_a, y_a], [y_b, y_a], [case, case])
    s.save(tmp_path / "m.npz")
    back = SetMeasure.load(tmp_path / "m.npz")
    assert [c.values for c in back.clips] == [c.values for c in s.clips]
    assert back.clips[1].values["pcp_move"] == 0.0 and back.clips[0].values["pcp_move"] > 1.0
    assert set(back.row()) == {"pcp_move", "chroma_move"}


def test_probes_find_what_the_features_hold_and_only_that():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, 600)
    signal = np.eye(12)[y] @ rng.normal(size=(12, 32)) + 0.3 * rng.normal(size=(600, 32))
    noise = rng.normal(size=(600, 32))
    right, chance = probe(signal[:500], y[:500], signal[500:], y[500:], classes=True)
    assert right.mean() > 0.9 and chance < 0.2
    right, _ = probe(noise[:500], y[:500], noise[500:], y[500:], classes=True)
    assert right.mean() < 0.2
    bpm = signal[:, 0] * 10 + 100
    err, base = probe(signal[:500], bpm[:500], signal[500:], bpm[500:], classes=False)
    assert 1 - err.mean() / base > 0.95
    err, base = probe(noise[:500], bpm[:500], noise[500:], bpm[500:], classes=False)
    assert 1 - err.mean() / base < 0.1
