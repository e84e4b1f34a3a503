"""The shared plots: piano-roll image, log-mel image and the generation panel, on their time axes."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")  # headless, whatever MPLBACKEND says
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from mmgen_core.audio import AUDIOLDM_MEL, SAMPLE_RATE, load_audio
from mmgen_core.melody import Note
from mmgen_core.reporting import save_figure, save_table, write_listening_page
from mmgen_core.reporting.plots import MEL_FPS, plot_generation, plot_mel, plot_roll

NOTES = [Note(60, 0.0, 0.5), Note(67, 0.5, 1.0)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_frames_per_second_comes_from_the_front_end():
    assert MEL_FPS == AUDIOLDM_MEL.sample_rate / AUDIOLDM_MEL.hop_length == SAMPLE_RATE / AUDIOLDM_MEL.hop_length


def test_roll_image_spans_the_clip_and_the_melody_range():
    ax = plot_roll(NOTES, seconds=2.0, title="m")
    (im,) = ax.get_images()
    left, right, lo, hi = im.get_extent()
    assert (left, right) == (0, 2.0) and lo == 60 - 3 and hi == 67 + 4
    roll = im.get_array()
    assert roll.shape == (hi - lo, int(2.0 * MEL_FPS))
    assert roll[60 - lo, :50].all() and not roll[60 - lo, 50:].any()  # 0–0.5 s at 100 frames/s
    assert roll[67 - lo, 50:100].all() and not roll[:, 100:].any()
    assert ax.get_title() == "m" and ax.get_xlabel() == "time (s)"


def test_roll_of_no_notes_is_an_empty_axis():
    ax = plot_roll([], seconds=1.0)
    assert not ax.get_images()


def test_mel_image_time_axis_and_tensor_input():
    mel = torch.randn(256, 64)
    ax = plot_mel(mel, title="gen", vmin=-1.0, vmax=1.0)
    (im,) = ax.get_images()
    assert im.get_extent() == [0, 256 / MEL_FPS, 0, 64]
    assert np.array_equal(im.get_array(), mel.numpy().T)
    assert im.get_clim() == (-1.0, 1.0) and ax.get_title() == "gen"


def test_generation_panel_has_a_roll_and_a_mel_per_clip(tmp_path):
    gen = SimpleNamespace(mels=torch.randn(2, 128, 64), melodies=[NOTES, []], melody_ids=["train-7", ""])
    fig = plot_generation(gen, ["first prompt", "second prompt"])
    axes = np.array(fig.axes).reshape(2, 2)
    assert axes[0, 0].get_title() == "melody: train-7" and axes[1, 0].get_title() == "melody: none (text mode)"
    assert [a.get_title() for a in axes[:, 1]] == ["first prompt", "second prompt"]
    assert len(axes[0, 0].get_images()) == 1 and not axes[1, 0].get_images()  # text mode: no melody
    assert axes[0, 0].get_xlim() == (0, 128 / MEL_FPS) == axes[1, 0].get_xlim()
    assert all(len(a.get_images()) == 1 for a in axes[:, 1])
    fig = plot_generation(gen, ["a", "b"], melody_titles=["x", "y"])
    assert [a.get_title() for a in np.array(fig.axes).reshape(2, 2)[:, 0]] == ["x", "y"]
    assert save_figure(fig, tmp_path, "panel").stat().st_size > 0


def test_save_table_writes_csv_and_markdown_with_note(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    md = save_table(df, tmp_path, "t", note="a note")
    assert pd.read_csv(tmp_path / "tables" / "t.csv").equals(df)
    assert md.read_text().rstrip().endswith("a note")


def test_listening_page_has_a_player_and_a_spectrogram_per_clip(tmp_path):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    columns = {"real clip": [tone, tone * 0.5], "mmgen+roll": [tone[::-1].copy(), tone]}
    page = write_listening_page(tmp_path, ["a flute", "a fiddle"], columns, intro="Same captions.")
    text = page.read_text()
    assert text.count("<audio controls") == 4 and "“a fiddle”" in text and "Same captions." in text
    assert text.count("![log-mel spectrograms](figures/listen_0") == 2
    wav = tmp_path / "audio" / "listen" / "02_mmgen-roll.wav"
    assert 'src="audio/listen/02_mmgen-roll.wav"' in text
    np.testing.assert_allclose(load_audio(wav), tone, atol=1e-4)
    assert (tmp_path / "figures" / "listen_01.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="one clip per caption"):
        write_listening_page(tmp_path, ["a flute"], columns)
