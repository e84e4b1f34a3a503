"""Official melody tokens and ids equal the authors' code on small MIDI files (tests/fixtures/official_tokens)."""
import json
from pathlib import Path

import numpy as np
import pytest

from mmgen_core.melody import LAYOUTS, MelodyError, Note, get_layout, load_midi
from mmgen_core.melody import tokens as T

FIXTURES = Path(__file__).parent / "fixtures" / "official_tokens"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
FILES = sorted(EXPECTED["files"])
OFFICIAL = LAYOUTS["official"]


@pytest.fixture(params=FILES)
def case(request) -> tuple[list[Note], dict]:
    return load_midi(FIXTURES / request.param), EXPECTED["files"][request.param]


def test_fixtures_cover_the_quirks():
    assert set(FILES) == {"long.mid", "multi.mid", "zero_length.mid"}
    assert EXPECTED["window"] == T.MAX_LEN
    long = EXPECTED["files"]["long.mid"]
    assert long["length"] > T.MAX_LEN == len(long["window_ids"])  # truncated …
    assert (T.MAX_LEN - 1) % T.IDS_PER_NOTE != 0  # … inside a note
    multi = load_midi(FIXTURES / "multi.mid")
    assert len({n.instrument for n in multi}) == 3  # the drum track is skipped
    assert any(b.start < a.start for a, b in zip(multi, multi[1:]) if a.instrument == b.instrument)


def test_official_text_equals_the_authors(case):
    notes, want = case
    assert T.notes_to_text(notes, order="official") == want["text"]
    assert len(notes) == want["text"].count("|") + 1  # zero-length note events: the same notes survive


def test_official_ids_equal_the_authors_window(case):
    notes, want = case
    n = len(want["window_ids"])
    for ids in (T.encode(notes, order="official", layout="official"), T.text_to_ids(want["text"], layout="official")):
        assert ids.shape == (T.MAX_LEN,) and ids.dtype == np.int64
        assert ids[:n].tolist() == want["window_ids"]
        assert np.all(ids[n:] == T.PAD)
        assert T.attention_mask(ids, layout="official").sum() == n


def test_untruncated_length_and_text_round_trip(case):
    _, want = case
    ids = T.text_to_ids(want["text"], max_len=4 * want["length"], layout="official")
    assert T.attention_mask(ids, layout="official").sum() == want["length"]
    assert T.ids_to_text(ids, layout="official") == want["text"]
    n_notes = want["text"].count("|") + 1
    assert want["length"] == 1 + 6 * n_notes - 1  # <s>, 5 ids per note, `|` only between notes
    assert ids[want["length"] - 1] != T.BAR


def test_truncated_window_decodes_to_whole_notes():
    want = EXPECTED["files"]["long.mid"]
    ids = T.text_to_ids(want["text"], layout="official")
    triplets = T.ids_to_triplets(ids, layout="official")
    assert len(triplets) == (T.MAX_LEN - 1) // T.IDS_PER_NOTE
    assert triplets == T.text_to_triplets(want["text"])[:len(triplets)]


def test_notes_round_trip_in_the_official_layout(scale_notes):
    ids = T.encode(scale_notes, layout="official")
    assert ids[0] == T.BOS and T.attention_mask(ids, layout="official").sum() == 6 * len(scale_notes)
    back = T.decode(ids, layout="official")
    assert [n.pitch for n in back] == [n.pitch for n in scale_notes]
    assert T.notes_to_triplets(back) == T.notes_to_triplets(scale_notes)


def test_the_fixtures_tell_the_orders_and_layouts_apart():
    notes, want = load_midi(FIXTURES / "multi.mid"), EXPECTED["files"]["multi.mid"]
    assert T.notes_to_text(notes, order="onset") != want["text"]
    n = len(want["window_ids"])
    assert T.text_to_ids(want["text"])[:n].tolist() != want["window_ids"]  # the default layout is not theirs


def test_official_order_restarts_the_rest_per_instrument():
    notes = [Note(60, 0.0, 1.0, 0), Note(62, 1.5, 2.0, 0), Note(48, 3.0, 4.0, 1), Note(50, 4.5, 5.0, 1)]
    official = T.notes_to_triplets(notes, order="official")
    assert [r for _, _, r in official] == [79, T.time_to_bin(0.5), 79, T.time_to_bin(0.5)]
    assert T.notes_to_triplets(notes, order="onset")[2][2] == T.time_to_bin(1.0)


def test_official_vocabulary_is_their_re_index():
    assert OFFICIAL.vocab == tuple(EXPECTED["vocab"]) and len(OFFICIAL.vocab) == T.VOCAB_SIZE == 655
    ids = OFFICIAL.token_to_id
    assert (ids["<0>"], ids["<100>"], ids["<9>"], ids["<A#-1>"]) == (5, 6, 516, 517)
    assert OFFICIAL.vocab[:5] == T.SPECIALS and OFFICIAL.vocab[-6:] == T.SONG_TOKENS
    window = T.text_to_ids("<G4>,<114>,<79>|<A4>,<119>,<81>", max_len=14, layout="official")
    assert window.tolist() == [0, 643, 3, 21, 3, 493, 4, 533, 3, 26, 3, 496, 1, 1]


def test_default_layout_is_unchanged():
    assert T.DEFAULT_LAYOUT == "mmgen" and get_layout("mmgen").vocab == T.VOCAB
    assert (T.TOKEN_TO_ID["<0>"], T.TOKEN_TO_ID["<511>"], T.TOKEN_TO_ID["<C-1>"]) == (5, 516, 517)
    notes = [Note(67, 0.0, 0.5), Note(69, 0.6, 1.0), Note(61, 0.9, 2.2, 1)]
    want = [0, 584, 3, 174, 3, 84, 4, 586, 3, 159, 3, 105, 4, 578, 3, 269, 3, 61, 4, 1, 1, 1, 1, 1]
    assert T.encode(notes, max_len=24).tolist() == want
    assert T.encode(notes, max_len=24, layout="mmgen").tolist() == want
    assert T.text_to_ids("<G4>,<114>,<79>|<A4>,<119>,<81>", max_len=14).tolist() == [
        0, 584, 3, 119, 3, 84, 4, 586, 3, 124, 3, 86, 4, 1]


@pytest.mark.parametrize("call", [
    lambda: T.triplets_to_ids([("C4", 100, 79)], layout="paper"),
    lambda: T.ids_to_triplets([0, 1], layout="paper"),
    lambda: T.encode([Note(60, 0.0, 1.0)], layout="paper"),
    lambda: T.decode([0, 1], layout="paper"),
    lambda: T.text_to_ids("<C4>,<100>,<79>", layout="paper"),
    lambda: T.ids_to_text([0, 1], layout="paper"),
    lambda: T.attention_mask(np.array([0, 1]), layout="paper"),
])
def test_unknown_layout_is_a_clear_error(call):
    with pytest.raises(MelodyError, match=r"layout 'paper'.*official"):
        call()
