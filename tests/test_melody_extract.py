import numpy as np
from conftest import synth

from mmgen_core.melody import Note, Renderer, Track, default_extractor
from mmgen_core.melody import note_f1 as _f1


def test_basic_pitch_hears_a_synthetic_melody(scale_notes):
    notes = default_extractor().notes([synth(scale_notes, 3.5)])[0]
    assert _f1(scale_notes, notes) > 0.8
    assert _f1(scale_notes, [Note(n.pitch + 1, n.start, n.end) for n in notes]) < 0.2  # F1 can fail


def test_batched_equals_single_and_bad_files_do_not_stop_the_batch(tmp_path, scale_notes):
    import soundfile as sf

    ex = default_extractor()
    a, b = synth(scale_notes, 3.5), synth(scale_notes[::-1], 5.0)
    single = [ex.notes([a])[0], ex.notes([b])[0]]
    assert ex.notes([a, b]) == single
    sf.write(tmp_path / "a.wav", a, 16000)
    (tmp_path / "bad.wav").write_bytes(b"nope")
    out = ex.extract_files([tmp_path / "a.wav", tmp_path / "bad.wav"], progress=False)
    assert isinstance(out[1], ValueError) and "bad.wav" in str(out[1]) and out[0]


def test_fluidsynth_render_is_bounded_and_follows_notes(scale_notes):
    r = Renderer()
    stuck = Note(60, 1.0, 1.0)  # zero length: dropped, not rendered forever
    wav = r.render([Track(73, tuple(scale_notes) + (stuck,))], 3.5)
    assert wav.shape == (56000,) and np.abs(wav).max() > 0.01
    # a fresh synthesizer is bit-exact; a reused one differs only by FluidSynth's block phase (< -60 dB)
    assert np.array_equal(wav, Renderer().render([Track(73, tuple(scale_notes) + (stuck,))], 3.5))
    assert np.abs(wav - r.render([Track(73, tuple(scale_notes) + (stuck,))], 3.5)).max() < 1e-3
    assert _f1(scale_notes, default_extractor().notes([wav / np.abs(wav).max() * 0.5])[0]) > 0.7
