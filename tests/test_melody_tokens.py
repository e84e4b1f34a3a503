import numpy as np
import pytest

from mmgen_core.melody import MelodyError, Note, loop_notes, order_notes
from mmgen_core.melody import tokens as T


def test_bin_edges():
    assert T.time_to_bin(-0.3) == 0
    assert T.time_to_bin(0.0) == 79
    assert T.time_to_bin(6.0) == 511
    assert T.time_to_bin(12.0) == 511  # beyond 6 s is clipped
    assert T.time_to_bin(-5.0) == 0
    assert T.bin_to_time(79) == 0.0
    assert T.bin_to_time(511) == pytest.approx(6.0)
    assert T.bin_to_time(0) == pytest.approx(-0.3)


def test_bins_are_monotone_and_invert():
    b = np.arange(512)
    assert np.all(np.diff(T.bin_to_time(b)) > 0)
    assert np.array_equal(T.time_to_bin(T.bin_to_time(b)), b)
    x = np.linspace(-0.3, 6.0, 2001)
    assert np.all(np.abs(T.time_to_bin(T.bin_to_time(T.time_to_bin(x))) - T.time_to_bin(x)) == 0)


def test_pitch_names():
    assert T.pitch_name(0) == "C-1" and T.pitch_name(60) == "C4" and T.pitch_name(127) == "G9"
    assert T.pitch_name(61) == "C#4"
    assert all(T.name_pitch(T.pitch_name(p)) == p for p in range(128))
    with pytest.raises(ValueError):
        T.name_pitch("Db4")  # flats are not part of the vocabulary
    with pytest.raises(ValueError):
        T.pitch_name(128)


def test_vocabulary_layout():
    assert T.VOCAB_SIZE == 655
    assert T.VOCAB[:5] == ("<s>", "</s>", "<unk>", ",", "|")
    assert T.TOKEN_TO_ID["<0>"] == 5 and T.TOKEN_TO_ID["<511>"] == 516
    assert T.TOKEN_TO_ID["<C-1>"] == 517 and T.VOCAB[-6:] == T.SONG_TOKENS


def test_official_text_parsing():
    notes = T.text_to_notes("<G4>,<114>,<79>|<A4>,<119>,<81>")
    assert [n.pitch for n in notes] == [67, 69]
    assert notes[0].start == 0.0
    assert notes[0].duration == pytest.approx(T.bin_to_time(114), abs=1e-9)
    assert notes[1].start == pytest.approx(notes[0].end + T.bin_to_time(81))
    assert T.notes_to_text(notes) == "<G4>,<114>,<79>|<A4>,<119>,<81>"


@pytest.mark.parametrize("bad", ["", "<G4>,<114>", "<H4>,<1>,<2>", "<G4>,<600>,<1>", "G4,1,2"])
def test_bad_text_is_rejected(bad):
    with pytest.raises(MelodyError):
        T.text_to_triplets(bad)


def test_round_trip_within_one_bin(scale_notes):
    ids = T.encode(scale_notes)
    assert ids.shape == (1000,) and ids[0] == T.BOS and ids[1 + 6 * 8] == T.PAD
    back = T.decode(ids)
    assert [n.pitch for n in back] == [n.pitch for n in scale_notes]
    for a, b in zip(T.notes_to_triplets(scale_notes), T.notes_to_triplets(back)):
        assert a[0] == b[0] and abs(a[1] - b[1]) <= 1 and abs(a[2] - b[2]) <= 1
    assert T.ids_to_text(ids) == T.notes_to_text(scale_notes)
    assert T.attention_mask(ids).sum() == 1 + 6 * 8


def test_window_truncates_to_whole_notes():
    notes = [Note(60, i * 0.1, i * 0.1 + 0.05) for i in range(300)]
    ids = T.encode(notes)
    assert len(ids) == 1000
    assert len(T.ids_to_triplets(ids)) == (1000 - 1) // 6


def test_official_order_is_per_instrument():
    notes = [Note(60, 0.0, 1.0, 0), Note(48, 0.0, 2.0, 1), Note(62, 1.0, 2.0, 0)]
    assert [n.pitch for n in order_notes(notes, "official")] == [60, 62, 48]
    assert [n.pitch for n in order_notes(notes, "onset")] == [48, 60, 62]
    # negative rest when a note starts before the previous one ended (overlap), clipped at -0.3 s
    trip = T.notes_to_triplets(notes, "onset")
    assert trip[1][2] == T.time_to_bin(0.0 - 2.0) == 0


def test_loop_notes_repeats_a_clip_melody():
    notes = [Note(60, 0.0, 1.0), Note(64, 1.5, 2.5)]  # the second note runs past the 2 s period: cut there
    out = loop_notes(notes, 2.0, 5.0)
    assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in out] == [
        (60, 0.0, 1.0), (64, 1.5, 2.0), (60, 2.0, 3.0), (64, 3.5, 4.0), (60, 4.0, 5.0)]
    assert loop_notes(notes, 2.0, 1.2) == [Note(60, 0.0, 1.0)]
    with pytest.raises(ValueError, match="period"):
        loop_notes(notes, 0.0, 3.0)
