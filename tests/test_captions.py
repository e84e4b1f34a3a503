"""The music21 source's two caption sets: ``detailed`` names every clip's key, ``sound`` describes how it sounds
(MusicCaps-like) and names key and bpm in a stated fraction only; the audio is the same under both."""
import dataclasses
import re

import numpy as np
import pytest

from mmgen_core.config import load_profile
from mmgen_core.data import DataConfig
from mmgen_core.data.sources.music21 import draft_clip, list_works, write_caption, write_sound_caption
from mmgen_core.data.stage import dataset_dir

META = dict(bpm=88, instrument="flute", accompaniment="harp", mode="minor", tonic="C#", meter="3/4",
            style="European folk song", region="")
KEY = re.compile(r"\b[A-G][#b]? (major|minor)\b")


def test_detailed_captions_always_name_the_key_sound_ones_in_the_stated_fraction():
    rng = np.random.default_rng(0)
    assert all(KEY.search(write_caption(META, rng)) for _ in range(50))
    for fraction in (0.0, 0.1, 1.0):
        named = [bool(KEY.search(write_sound_caption(META, rng, fraction))) for _ in range(2000)]
        assert abs(np.mean(named) - fraction) < 0.03  # binomial sd at 0.1: 0.007
    caption = write_sound_caption(META, np.random.default_rng(1), 0.0)
    assert "flute" in caption and "harp" in caption and "bpm" not in caption


def test_sound_captions_come_with_the_same_audio():
    work = list_works(0, 4)[0]
    detailed = draft_clip(work, 2.56, 0)
    sound = draft_clip(work, 2.56, 0, captions="sound", key_fraction=0.0)
    assert detailed.tracks == sound.tracks and detailed.melody == sound.melody and detailed.meta == sound.meta
    assert detailed.captions != sound.captions and not any(KEY.search(c) for c in sound.captions)


def test_caption_switch_keys_only_the_datasets_that_set_it(tmp_path):
    cfg = load_profile("smoke").section("data", DataConfig)
    base = dataset_dir(cfg, tmp_path, 0)
    assert dataset_dir(dataclasses.replace(cfg, caption_key_fraction=0.1), tmp_path, 0) == base
    assert dataset_dir(dataclasses.replace(cfg, captions="sound"), tmp_path, 0) != base
    with pytest.raises(ValueError, match="data.captions must be one of"):
        DataConfig(captions="short")
    with pytest.raises(ValueError, match="caption_key_fraction"):
        DataConfig(captions="sound", caption_key_fraction=1.5)
    with pytest.raises(ValueError, match="brings its own"):
        DataConfig(source="folder", captions="sound")
