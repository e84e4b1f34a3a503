import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import load_profile
from mmgen_core.data import (
    DataConfig,
    Item,
    Manifest,
    assign_eval_split,
    assign_splits,
    build_from_records,
    read_folder,
    read_musicbench,
    read_musiccaps,
    read_official,
    require_selection_split,
    segment_starts,
)
from mmgen_core.melody import Note, text_to_notes
from mmgen_core.stages import Stages

MELODY = [Note(60 + (i * 5) % 12, i * 0.45, i * 0.45 + 0.4) for i in range(12)]


def write_wav(path: Path, seconds: float = 6.0, silent: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds / 5.4) + 1
    notes = [Note(m.pitch, m.start + 5.4 * k, m.end + 5.4 * k) for k in range(n) for m in MELODY]
    y = np.zeros(int(seconds * 16000), np.float32) if silent else synth(notes, seconds)
    sf.write(path, y, 16000)
    return path


def test_splits_are_seeded_and_8_1_1():
    items = [Item(str(i), "", ["c"], meta={"work": str(i // 2)}) for i in range(200)]
    a = [it.split for it in assign_splits(items, seed=3, group_key="work")]
    b = [it.split for it in assign_splits(items, seed=3, group_key="work")]
    assert a == b
    assert (a.count("train"), a.count("valid"), a.count("test")) == (160, 20, 20)
    by_work = {}
    for it in items:
        by_work.setdefault(it.meta["work"], set()).add(it.split)
    assert all(len(s) == 1 for s in by_work.values())  # siblings never cross splits
    assert [it.split for it in assign_splits(items, seed=4)] != a


def test_selection_guard_names_the_choice_and_the_first_test_item():
    items = [Item(f"c{i}", "", ["c"], split=split) for i, split in enumerate(["valid", "train", "test", "test"])]
    require_selection_split(items[:2], "the vocoder choice")  # validation (and training) items are fine
    with pytest.raises(ValueError, match="the vocoder choice: item 'c2' is from the test split"):
        require_selection_split(items, "the vocoder choice")


def test_segments_drop_first_and_last_tenth():
    starts = segment_starts(100.0, 10.0)
    assert starts[0] == pytest.approx(10.0) and starts[-1] + 10.0 <= 90.0 + 1e-9 and len(starts) == 8
    assert segment_starts(3.0, 10.0) == []


def test_folder_reader_rejects_bad_items_and_resumes(tmp_path):
    src = tmp_path / "music"
    write_wav(src / "song_one.wav", 30.0)
    write_wav(src / "quiet.wav", 8.0, silent=True)
    (src / "broken.wav").write_bytes(b"RIFF....garbage")
    write_wav(src / "sub" / "nocap.wav", 8.0)
    with open(tmp_path / "caps.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "caption"])
        w.writerow(["song_one.wav", "a piano song"])
        w.writerow(["quiet.wav", "silence"])
        w.writerow(["broken.wav", "broken"])
    man = build_from_records(tmp_path / "ds", read_folder(src, tmp_path / "caps.csv"), clip_seconds=5.0,
                             progress=False)
    items = man.items()
    assert len(items) == 4 and all(it.id.startswith("song_one-") for it in items)  # 30 s → 24 s kept → 4 clips
    assert all(it.melody and text_to_notes(it.melody) for it in items)
    reasons = {r.id: r.reason for r in man.rejects()}
    assert "silent" in reasons["quiet"] and "unreadable" in reasons["broken"] and "caption" in reasons["sub-nocap"]
    assert len({it.split for it in items}) == 1  # clips of one track share a split
    # a second run resumes: nothing is redone or duplicated
    (man.root / "done.json").unlink()
    man2 = build_from_records(tmp_path / "ds", read_folder(src, tmp_path / "caps.csv"), 5.0, progress=False)
    assert len(man2.items()) == 4 and len(man2.rejects()) == 3


def test_musiccaps_reader_cuts_full_tracks(tmp_path):
    write_wav(tmp_path / "audio" / "abcdefghijk.wav", 10.0)
    write_wav(tmp_path / "audio" / "zzzzzzzzzzz.wav", 30.0)
    with open(tmp_path / "mc.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ytid", "start_s", "end_s", "audioset_positive_labels", "aspect_list", "caption"])
        w.writerow(["abcdefghijk", "30", "40", "", "['piano']", "A calm piano."])
        w.writerow(["zzzzzzzzzzz", "10", "20", "", "['synth']", "A synth line."])
        w.writerow(["missingfile", "0", "10", "", "[]", "Gone."])
    recs = list(read_musiccaps(tmp_path / "mc.csv", tmp_path / "audio"))
    assert [r.id for r in recs] == ["mc-abcdefghijk", "mc-zzzzzzzzzzz", "mc-missingfile"]
    man = build_from_records(tmp_path / "ds", recs, 10.0, progress=False)
    assert len(man.items()) == 2
    assert any("not found" in r.reason for r in man.rejects())
    assert {it.meta["start_s"] for it in man.items()} == {30.0, 10.0}  # position in the original track


def test_musiccaps_standard_split_takes_its_audioset_eval_clips_as_the_test_split(tmp_path, capsys):
    """data.split=audioset_eval: the clips MusicCaps marks is_audioset_eval are the test split (what other MusicCaps
    papers evaluate on), the others train/valid 8:1; the paper's seeded random split stays the default."""
    with open(tmp_path / "mc.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ytid", "start_s", "end_s", "aspect_list", "caption", "is_audioset_eval"])
        for i in range(12):
            ytid = f"clip{i:07d}"
            write_wav(tmp_path / "audio" / f"{ytid}.wav", 2.0)
            w.writerow([ytid, "0", "2", "[]", f"Tune {i}.", "True" if i % 4 == 0 else "False"])
    recs = list(read_musiccaps(tmp_path / "mc.csv", tmp_path / "audio"))
    assert [r.meta["audioset_eval"] for r in recs[:4]] == [True, False, False, False]
    man = build_from_records(tmp_path / "ds", recs, 2.0, progress=False, eval_flag="audioset_eval")
    split = {it.id: it.split for it in man.items()}
    assert {k for k, v in split.items() if v == "test"} == {f"mc-clip{i:07d}" for i in (0, 4, 8)}
    assert sorted(v for v in split.values() if v != "test") == ["train"] * 8 + ["valid"]
    capped = build_from_records(tmp_path / "ds5", recs, 2.0, limit=5, progress=False, eval_flag="audioset_eval")
    assert len(capped.items()) == 5 and "kept the first 5 clips of the source" in capsys.readouterr().out
    with pytest.raises(ValueError, match="audioset_eval uses MusicCaps"):
        load_profile("smoke", {"data.split": "audioset_eval"}).section("data", DataConfig)
    with pytest.raises(ValueError, match="data.split must be one of"):
        DataConfig(split="official")
    assert DataConfig(source="musiccaps", path="data/mc.csv").label() == "MusicCaps (mc.csv)"  # table notes
    assert DataConfig().label() == "embedded music21 data"
    no_column = [Item(f"c{i}", "a.wav", ["x"], meta={}) for i in range(3)]
    with pytest.raises(ValueError, match="lacks the column"):
        assign_eval_split(no_column, "audioset_eval")
    with pytest.raises(ValueError, match="some clips on each side"):
        assign_eval_split([Item("c", "a.wav", ["x"], meta={"audioset_eval": True})], "audioset_eval")


def test_musicbench_and_official_readers(tmp_path):
    write_wav(tmp_path / "datashare" / "a.wav", 6.0)
    write_wav(tmp_path / "datashare" / "b.wav", 6.0)
    lines = [{"location": "datashare/a.wav", "main_caption": "Happy tune."},
             {"location": "datashare/b.wav", "main_caption": "  "}]
    (tmp_path / "mb.json").write_text("\n".join(json.dumps(x) for x in lines))
    recs = list(read_musicbench(tmp_path / "mb.json", tmp_path))
    assert recs[0].captions == ["Happy tune."] and recs[1].captions == []
    man = build_from_records(tmp_path / "mbds", recs, 5.0, progress=False)
    assert len(man.items()) == 1 and man.rejects()[0].reason == "missing caption"

    (tmp_path / "mel").mkdir()
    (tmp_path / "mel" / "a.txt").write_text("<G4>,<114>,<79>|<A4>,<119>,<81>")
    (tmp_path / "split.json").write_text(json.dumps({"data": [{"wav": "datashare/a.wav", "caption": "x"},
                                                              {"wav": "datashare/b.wav", "caption": "y"}]}))
    recs = list(read_official(tmp_path / "split.json", tmp_path / "mel", tmp_path))
    assert recs[0].melody == "<G4>,<114>,<79>|<A4>,<119>,<81>" and recs[1].melody is None
    man = build_from_records(tmp_path / "offds", recs, 5.0, progress=False)
    got = {it.id: it.melody for it in man.items()}
    assert got["off-a"] == "<G4>,<114>,<79>|<A4>,<119>,<81>" and got["off-b"]  # b: Basic Pitch filled it in
    with pytest.raises(ValueError, match="data"):
        (tmp_path / "bad.json").write_text("[]" if False else "{}")
        list(read_official(tmp_path / "bad.json"))


def _dataset(profile, **kw):
    return Stages(profile, progress=False, **kw).dataset


def test_music21_dataset_builds_and_is_deterministic(tmp_path):
    over = {"data.n_clips": 4, "data.clip_seconds": 2.56, "data.max_works": 20}
    a = _dataset(load_profile("smoke", over, root=tmp_path / "a"))
    b = _dataset(load_profile("smoke", over, root=tmp_path / "b"))
    ia, ib = a.items(), b.items()
    assert len(ia) == 4 and [i.captions for i in ia] == [i.captions for i in ib]
    assert [i.melody for i in ia] == [i.melody for i in ib]
    for it in ia:
        wav, sr = sf.read(a.audio_path(it))
        assert sr == 16000 and len(wav) == int(2.56 * 16000) and np.abs(wav).max() > 0.1
        assert text_to_notes(it.melody_gt) and (a.root / it.meta["score_midi"]).exists()
        assert it.meta["instrument"] in it.captions[0] or it.meta["instrument"] in it.captions[1]
    # reused, not rebuilt; a missing one is not built when building is off
    assert _dataset(load_profile("smoke", over, root=tmp_path / "a"), train_missing=False).root == a.root
    with pytest.raises(CheckpointError, match="mmgen data"):
        _dataset(load_profile("smoke", over, root=tmp_path / "c"), train_missing=False)


def test_unknown_source_and_missing_path_are_clear(tmp_path):
    with pytest.raises(ValueError, match="data.source"):
        _dataset(load_profile("smoke", {"data.source": "spotify"}, root=tmp_path))
    with pytest.raises(ValueError, match="data.path"):
        _dataset(load_profile("smoke", {"data.source": "folder"}, root=tmp_path))
    with pytest.raises(FileNotFoundError, match="manifest"):
        Manifest(tmp_path / "nothing").items()


def test_work_keys_are_unique():
    from mmgen_core.data import list_works

    keys = [w.key for w in list_works(0, 2000)]
    assert len(keys) == len(set(keys))  # a clip id names exactly one work
