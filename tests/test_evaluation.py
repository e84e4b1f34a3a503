"""Evaluation metrics, the TF1 checkpoint reader, the musicnn port and the local-weight backbones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmgen_core.config import PROFILES, load_profile
from mmgen_core.evaluation import (
    CNN14_16K,
    CheckpointError,
    Cnn14Net,
    EvaluationConfig,
    Musicnn,
    PANNsCNN14,
    VGGish,
    VGGishNet,
    WeightError,
    chroma_similarity,
    end_click,
    evaluate_set,
    fad,
    fad_bootstrap,
    fad_inf,
    frechet_distance,
    harmonic_richness,
    inception_score,
    kid,
    kid_value,
    kl_divergence,
    load_checkpoint,
    loudness_db,
    musicnn_checkpoint_dir,
    musicnn_logmel,
    normalise_tags,
    patch_starts,
    read_index,
    softmax,
    vggish_examples,
)
from mmgen_core.evaluation.intervals import Effect, centred_interval, verdict
from mmgen_core.melody import Note, note_f1, transpose

SR = 16000
DATA = Path(__file__).parent / "data"


def fixture_signal() -> np.ndarray:
    """The deterministic clip of tests/data/make_musicnn_fixture.py (keep the two identical)."""
    t = np.arange(int(3.5 * SR)) / SR
    f0 = 196.0 * 2 ** (np.floor(t * 4) % 8 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(0.15 / k * np.sin(k * phase) for k in (1, 2, 3))
    return (tone + 0.02 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def render(notes: list[Note], seconds: float) -> np.ndarray:
    """Sine-with-harmonics rendering of notes, 10 ms fades."""
    wav = np.zeros(int(seconds * SR), dtype=np.float32)
    for n in notes:
        a, b = int(n.start * SR), int(n.end * SR)
        t = np.arange(b - a) / SR
        f = 440.0 * 2 ** ((n.pitch - 69) / 12)
        env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        wav[a:b] += env * sum(0.3 / k * np.sin(2 * np.pi * k * f * t) for k in (1, 2, 3))
    return wav


SCALE = [Note(p, 0.4 * i, 0.4 * (i + 1)) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


# ---------------------------------------------------------------- FAD

def test_fad_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((300, 32))
    assert fad(x, x) < 1e-8


def test_fad_grows_with_added_noise():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((400, 16))
    scores = [fad(ref + s * rng.standard_normal(ref.shape), ref) for s in (0.1, 0.5, 1.0, 2.0)]
    assert scores[0] > 0 and all(a < b for a, b in zip(scores, scores[1:]))


def test_frechet_distance_matches_closed_form_and_handles_singular_covariances():
    d, mu = 8, np.full(8, 0.5)
    # N(0, I) vs N(mu, 4I): |mu|^2 + d(1 + 4 - 2*2)
    assert frechet_distance(np.zeros(d), np.eye(d), mu, 4 * np.eye(d)) == pytest.approx(mu @ mu + d, rel=1e-10)
    few = np.random.default_rng(2).standard_normal((5, 40))  # rank-deficient covariances
    assert 0 <= fad(few, few) < 1e-8
    assert np.isfinite(fad(few, few + 1.0))


def test_fad_bootstrap_and_fad_inf():
    rng = np.random.default_rng(3)
    gen, ref = rng.standard_normal((300, 4)), rng.standard_normal((3000, 4)) + 0.5
    res = fad_bootstrap(gen, ref, n_boot=50, seed=0)
    assert res.low <= res.high and res.low > 0 and res == fad_bootstrap(gen, ref, n_boot=50, seed=0)
    assert fad_inf(gen, ref, min_n=50, steps=8) == pytest.approx(1.0, abs=0.25)  # true distance 4 * 0.5^2


def test_fad_bootstrap_over_clips_brackets_the_estimate_and_is_right_sized_when_n_below_d():
    """24 clips × 2 patches in 200-d: resampling with replacement repeats clips and inflates FAD (the raw
    percentile interval sat entirely above the estimate); the clip bootstrap's interval brackets it and its
    width matches the spread of FAD over independent draws within a factor of two."""
    d, n = 200, 24
    rng = np.random.default_rng(0)
    scale = np.linspace(0.2, 2, d)

    def draw(shift: float) -> np.ndarray:
        clips = rng.normal(size=(n, d)) * scale + shift
        return np.repeat(clips, 2, 0) + 0.3 * rng.normal(size=(2 * n, d)) * scale

    true_sd = np.std([fad(draw(0.3), draw(0.0)) for _ in range(30)])
    groups = np.repeat(np.arange(n), 2)
    res = fad_bootstrap(draw(0.3), draw(0.0), 100, seed=1, generated_groups=groups, reference_groups=groups)
    assert res.low < res.value < res.high
    assert 0.5 < (res.high - res.low) / 3.92 / true_sd < 2.0


def test_kid_value_is_kid_without_its_standard_error():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((20, 6)), rng.standard_normal((15, 6)) + 0.3
    assert kid_value(x, y) == pytest.approx(kid(x, y).value, rel=1e-10)


@pytest.mark.parametrize("low, high, expected", [(0.1, 2.0, "reproduced"), (-2.0, -0.1, "contradicted"),
                                                 (-0.5, 0.5, "inconclusive"), (0.0, 1.0, "inconclusive")])
def test_verdict_rule_on_hand_made_intervals(low, high, expected):
    assert verdict(low, high) == expected
    assert Effect("x", (low + high) / 2, low, high, "3 clips").verdict == expected


def test_verdict_rejects_a_reversed_interval():
    with pytest.raises(ValueError, match="low <= high"):
        verdict(1.0, -1.0)


def test_centred_interval_keeps_the_spread_and_moves_to_the_estimate():
    reps = np.random.default_rng(5).normal(10.0, 2.0, 4000)  # a biased bootstrap world: centred at 10
    low, high = centred_interval(7.0, reps)
    assert low < 7.0 < high and (high - low) == pytest.approx(2 * 1.96 * 2.0, rel=0.06)


@pytest.mark.parametrize("bad, match", [(np.zeros((1, 4)), "at least 2"), (np.zeros((0, 4)), "at least 2"),
                                        (np.full((5, 4), np.nan), "NaN"), (np.zeros(4), "2-D")])
def test_fad_rejects_bad_sets(bad, match):
    with pytest.raises(ValueError, match=match):
        fad(bad, np.zeros((5, 4)))


def test_fad_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="differ"):
        fad(np.random.default_rng(0).standard_normal((5, 4)), np.random.default_rng(1).standard_normal((5, 3)))


# ---------------------------------------------------------------- KL and IS

def test_kl_of_identical_distributions_is_zero_and_positive_otherwise():
    p = softmax(np.random.default_rng(4).standard_normal((10, 50)))
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    q = softmax(np.random.default_rng(5).standard_normal((10, 50)))
    assert kl_divergence(q, p) > 0.1


def test_kl_is_of_the_reference_against_the_generated_clip():
    """AudioLDM's direction, KL(reference ‖ generated): a generated clip spreading mass the reference lacks costs
    log 2 here, while the reverse direction would be ~28 nats (the reference's zero floored at 1e-12)."""
    reference, generated = np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])
    assert kl_divergence(generated, reference) == pytest.approx(np.log(2))


def test_kl_rejects_unpaired_and_non_distributions():
    p = softmax(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="paired"):
        kl_divergence(p, p[:3])
    with pytest.raises(ValueError, match="distributions"):
        kl_divergence(np.ones((4, 3)), p)
    tags = normalise_tags(np.array([[0.9, 0.1, 0.0]]))
    assert np.allclose(tags.sum(axis=1), 1.0)


def test_inception_score_extremes():
    one_hot = np.tile(np.eye(7), (3, 1))  # every class predicted confidently, equally often
    assert inception_score(one_hot)[0] == pytest.approx(7.0)
    assert inception_score(np.tile(np.eye(7), (4, 1)), splits=4, seed=None)[0] == pytest.approx(7.0)
    same = np.tile(softmax(np.arange(5.0)[None]), (12, 1))
    assert inception_score(same, splits=3) == pytest.approx((1.0, 0.0))
    with pytest.raises(ValueError, match="splits"):
        inception_score(same, splits=13)


# ---------------------------------------------------------------- melody adherence

def test_chroma_similarity_follows_the_melody():
    wav = render(SCALE, 3.3)
    own = chroma_similarity(wav, SCALE)
    shifted = chroma_similarity(wav, transpose(SCALE, 2))
    assert own > 0.8 and shifted < 0.3 and own > shifted + 0.5
    with pytest.raises(ValueError, match="empty"):
        chroma_similarity(wav, [])


def test_note_f1():
    assert note_f1(SCALE, SCALE) == 1.0
    assert note_f1(SCALE, SCALE, offsets=True) == 1.0
    late = [Note(n.pitch, n.start + 0.1, n.end) for n in SCALE]
    assert note_f1(SCALE, late) == 0.0
    shorter = [Note(n.pitch, n.start, n.start + 0.1) for n in SCALE]
    assert note_f1(SCALE, shorter) == 1.0 and note_f1(SCALE, shorter, offsets=True) == 0.0
    assert note_f1(SCALE, []) == 0.0 and note_f1([], SCALE) == 0.0 and note_f1([], []) == 1.0


# ---------------------------------------------------------------- checkpoint reader and musicnn port

def test_checkpoint_reader_reads_musicnn():
    num_shards, entries = read_index(musicnn_checkpoint_dir())
    assert num_shards == 1 and len(entries) == 64 + 2 + 2 * 42  # variables, Adam's β powers and slots
    weights = load_checkpoint(musicnn_checkpoint_dir(), ["conv2d/kernel", "conv2d_5/kernel", "dense_1/kernel",
                                                         "batch_normalization_9/moving_variance"])
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert weights["dense_1/kernel"].shape == (200, 50) and weights["dense_1/kernel"].dtype == np.float32
    assert np.all(weights["batch_normalization_9/moving_variance"] >= 0)
    assert np.isfinite(weights["conv2d/kernel"]).all() and weights["conv2d/kernel"].std() > 0


def test_checkpoint_reader_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_index(tmp_path / "nothing")
    (tmp_path / "bad.index").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="magic"):
        read_index(tmp_path / "bad")
    with pytest.raises(CheckpointError, match="not in the checkpoint"):
        load_checkpoint(musicnn_checkpoint_dir(), ["no/such/variable"])


def test_musicnn_port_matches_tensorflow_reference():
    ref = np.load(DATA / "musicnn_reference.npz")
    out, clip_of = Musicnn().patch_outputs([fixture_signal()])
    assert patch_starts(musicnn_logmel(fixture_signal()).shape[0]) == [0, 32] and list(clip_of) == [0, 0]
    np.testing.assert_allclose(out["probs"], ref["probs"], atol=1e-4)
    np.testing.assert_allclose(out["logits"], ref["logits"], atol=1e-3)
    np.testing.assert_allclose(out["penultimate"], ref["penultimate"], atol=1e-3)
    np.testing.assert_allclose(out["mean_pool"], ref["mean_pool"], atol=1e-3)
    np.testing.assert_allclose(out["max_pool"], ref["max_pool"], atol=2e-3)


def test_musicnn_input_stays_finite_for_loud_audio():
    loud = 300.0 * fixture_signal()  # far beyond ±1: float16 would round the mel to inf
    assert np.isfinite(musicnn_logmel(loud)).all()


def test_musicnn_backbone_interface_and_short_clips():
    m = Musicnn()
    wavs = [fixture_signal(), fixture_signal()[: SR]]  # the second is repeat-padded to 3 s
    f = m.features(wavs)
    assert [len(x) for x in f.frames] == [2, 1] and f.embeddings.shape == (2, 200)
    assert f.probs.shape == (2, 50) and np.all((f.probs > 0) & (f.probs < 1))
    np.testing.assert_allclose(m.probs(wavs[:1])[0], m.patch_outputs(wavs[:1])[0]["probs"].mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        m.embed([np.full(SR, np.nan, dtype=np.float32)])
    with pytest.raises(ValueError, match="empty"):
        m.embed([])


def test_evaluate_set_with_musicnn():
    rng = np.random.default_rng(6)
    ref = [render(transpose(SCALE, k), 3.3) for k in range(4)]
    gen = [w + 0.05 * rng.standard_normal(w.size).astype(np.float32) for w in ref]
    cfg = EvaluationConfig(bootstrap=20, is_splits=2, fad_inf=True)
    res = evaluate_set(gen, ref, config=cfg)
    assert res["n_generated"] == 4 and res["backbone"] == "musicnn"
    assert all(np.isfinite(res[k]) for k in ("fad", "fad_low", "fad_high", "fad_inf", "kl", "is", "is_std"))
    assert res["kl"] >= 0 and res["is"] >= 1
    with pytest.raises(ValueError, match="paired"):
        evaluate_set(gen, ref[:3], config=cfg)
    with pytest.raises(ValueError, match="vggish_weights|panns_weights"):
        evaluate_set(gen, ref, backbone="vggish+panns")


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_have_an_evaluation_section(name):
    cfg = load_profile(name).section("evaluation", EvaluationConfig)
    assert isinstance(cfg, EvaluationConfig) and cfg.bootstrap >= 0


# ---------------------------------------------------------------- VGGish and CNN14 from local weights

def _cheap_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict of the right shapes whose tensors share one-element storages (tiny files)."""
    return {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> dict[str, Path]:
    """Random-weight VGGish and CNN14 state dicts saved to disk (PANNs' {'model': ...} layout)."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    paths = {"vggish": root / "vggish.pth", "panns": root / "cnn14_16k.pth"}
    torch.save(VGGishNet().state_dict(), paths["vggish"])
    torch.save({"model": Cnn14Net(CNN14_16K).state_dict(), "iteration": 0}, paths["panns"])
    return paths


def test_vggish_loads_random_weights_and_embeds(random_weights):
    net = VGGish(random_weights["vggish"])
    saved = torch.load(random_weights["vggish"], weights_only=True)
    assert torch.equal(net.net.embeddings[4].weight, saved["embeddings.4.weight"])
    wavs = [np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32), np.zeros(SR // 2, np.float32)]
    f = net.features(wavs)
    assert [len(x) for x in f.frames] == [2, 1] and f.embeddings.shape == (2, 128)
    assert vggish_examples(wavs[0]).shape == (2, 96, 64)
    with pytest.raises(NotImplementedError, match="no classifier"):
        net.probs(wavs)


def test_cnn14_loads_random_weights_and_classifies(random_weights):
    net = PANNsCNN14(random_weights["panns"], CNN14_16K)
    wavs = [np.random.default_rng(1).standard_normal(SR).astype(np.float32)] * 2
    f = net.features(wavs)
    assert f.embeddings.shape == (2, 2048) and f.logits.shape == (2, 527)
    assert np.all((f.probs >= 0) & (f.probs <= 1)) and np.allclose(f.logits[0], f.logits[1], atol=1e-5)


def test_backbones_reject_wrong_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        VGGish(tmp_path / "missing.pth")
    state = _cheap_state(Cnn14Net(CNN14_16K))
    state["fc_audioset.weight"] = torch.zeros(1).expand(10, 2048)
    torch.save({"model": state}, tmp_path / "wrong_shape.pth")
    with pytest.raises(WeightError, match=r"fc_audioset.weight.*\(10, 2048\).*\(527, 2048\)"):
        PANNsCNN14(tmp_path / "wrong_shape.pth", CNN14_16K)
    vgg = _cheap_state(VGGishNet())
    del vgg["features.0.weight"]
    torch.save(vgg, tmp_path / "missing_key.pth")
    with pytest.raises(WeightError, match="missing keys.*features.0.weight"):
        VGGish(tmp_path / "missing_key.pth")
    cnn = _cheap_state(Cnn14Net(CNN14_16K))
    cnn["logmel_extractor.melW"] = torch.zeros(1).expand(513, 64)  # a 32 kHz checkpoint's front end
    torch.save({"model": cnn}, tmp_path / "cnn14_32k_front.pth")
    with pytest.raises(WeightError, match="melW"):
        PANNsCNN14(tmp_path / "cnn14_32k_front.pth", CNN14_16K)


def _tone(f0: float, harmonics: int, seconds: float = 1.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1)).astype(np.float32) * 0.3


def test_harmonic_richness_counts_partials():
    pure, rich = harmonic_richness(_tone(440, 1)), harmonic_richness(_tone(220, 12))
    assert 1 <= pure <= 8  # one partial: its main lobe (Hann: ~4-6 bins)
    assert rich > 4 * pure  # a harmonic series lights up many more bins
    assert harmonic_richness(np.zeros(16000, np.float32)) == 0.0
    with pytest.raises(ValueError, match="mono"):
        harmonic_richness(np.zeros((2, 100), np.float32))


def test_loudness_ignores_silence():
    tone = _tone(440, 1)  # amplitude 0.3 sine: RMS 0.212 = −13.5 dBFS
    assert loudness_db(tone) == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.1)
    assert loudness_db(np.concatenate([tone, np.zeros(16000, np.float32)])) == pytest.approx(loudness_db(tone), abs=0.1)


def test_end_click_finds_a_click_in_the_last_50_ms():
    music = _tone(330, 4, 2.0) + np.random.default_rng(0).normal(0, 1e-3, 32000).astype(np.float32)
    clicked = music.copy()
    clicked[-400:-390] = 0.9 * np.array([1, -1] * 5)  # a broadband burst 25 ms before the end
    assert abs(end_click(music)) < 6
    assert end_click(clicked) > 20
    with pytest.raises(ValueError, match="at least"):
        end_click(music[:1000])


def test_kid_is_unbiased_and_its_error_follows_clips():
    rng = np.random.default_rng(0)
    same = [kid(rng.normal(size=(40, 16)), rng.normal(size=(40, 16))).value for _ in range(30)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(30)  # unbiased: centred on 0 for equal distributions
    shifted = [kid(rng.normal(size=(40, 16)) + 0.5, rng.normal(size=(40, 16))) for _ in range(60)]
    values, errors = np.array([k.value for k in shifted]), np.array([k.se for k in shifted])
    assert values.mean() > 3 * values.std()  # a real difference stands out
    assert 0.7 < errors.mean() / values.std() < 1.4  # the jackknife error is the real spread over draws
    # two rows per clip that are copies of each other: the clip jackknife sees 20 clips, not 40 independent rows
    x, y = rng.normal(size=(20, 16)) + 0.5, rng.normal(size=(20, 16))
    per_clip = kid(np.repeat(x, 2, 0), np.repeat(y, 2, 0), np.repeat(np.arange(20), 2), np.repeat(np.arange(20), 2))
    per_row = kid(np.repeat(x, 2, 0), np.repeat(y, 2, 0))
    assert per_clip.n_generated == 20 and per_row.n_generated == 40
    assert per_clip.se > 1.2 * per_row.se
    with pytest.raises(ValueError, match="group"):
        kid(x, y, np.arange(3))
