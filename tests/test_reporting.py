"""The shared plots: piano-roll image, log-mel image (time in s, frequency in Hz) and the generation panel; metric
names in words; labels that do not overprint; no line through two points on a log axis."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")  # headless, whatever MPLBACKEND says
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from mmgen_core.audio import AUDIOLDM_MEL, SAMPLE_RATE
from mmgen_core.melody import Note
from mmgen_core.reporting import save_figure, save_table
from mmgen_core.reporting.plots import (
    LOG_MEL_LABEL,
    LOWER_IS_BETTER,
    MEL_FPS,
    METRIC_LABELS,
    annotate_without_overlap,
    mel_ticks,
    metric_label,
    plot_chroma,
    plot_generation,
    plot_intervals,
    plot_isr_latency,
    plot_isr_quality,
    plot_mel,
    plot_roll,
    plot_scaling,
)

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
    assert ax.get_ylabel() == "frequency (Hz)" and len(ax.figure.axes) == 1  # no colour bar unless asked


def test_mel_frequency_ticks_sit_on_their_slaney_mel_bins():
    import librosa

    cfg = AUDIOLDM_MEL
    pos, labels = mel_ticks(cfg=cfg, freqs=(500, 1000, 2000, 4000, 8000, 20000))
    assert labels == ["500", "1k", "2k", "4k", "8k"]  # 20 kHz is above fmax: left out
    # a filter's peak frequency sits at the middle of its bin (bin i spans [i, i+1))
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax, htk=False)[1:-1]
    at, _ = mel_ticks(cfg=cfg, freqs=tuple(centres[[5, 20, 40]]))
    np.testing.assert_allclose(at, [5.5, 20.5, 40.5], atol=1e-6)
    assert np.all(np.diff(pos) > 0) and 20 < pos[1] < 22 and pos[-1] == cfg.n_mels  # 8 kHz: the top edge
    # an image with other rows than n_mels over the same range: positions scale with it
    half, _ = mel_ticks(n_bins=32, cfg=cfg, freqs=(1000,))
    assert abs(half[0] - pos[1] / 2) < 0.5


def test_mel_image_ticks_in_hz_and_an_optional_colour_bar():
    ax = plot_mel(np.zeros((100, 64)), colorbar=True)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["250", "500", "1k"] and labels[-1] == "8k"
    (cax,) = [a for a in ax.figure.axes if a is not ax]
    assert cax.get_ylabel() == LOG_MEL_LABEL
    ax = plot_mel(np.zeros((100, 64)), colorbar="roll weight")
    assert [a.get_ylabel() for a in ax.figure.axes if a is not ax] == ["roll weight"]


def test_chroma_image_has_pitch_classes_and_a_colour_bar():
    chroma = np.zeros((12, 50))
    chroma[0, :25] = 1
    ax = plot_chroma(chroma, seconds=2.0, title="c", colorbar=True)
    (im,) = ax.get_images()
    assert im.get_extent() == [0, 2.0, -0.5, 11.5] and ax.get_yticklabels()[0].get_text() == "C"
    assert len(ax.figure.axes) == 2


def test_metric_labels_say_which_way_is_better():
    assert METRIC_LABELS["fad_inf"] == "FAD∞ (↓ better)" and metric_label("fad_inf") == "FAD∞ (↓ better)"
    for m in ("kid", "kl", "emb_dist", "fad"):
        assert "↓" in metric_label(m) and m in LOWER_IS_BETTER
    for m in ("chroma", "chroma_cond", "chroma_target", "text_audio", "richness", "isr"):
        assert "↑" in metric_label(m) and m not in LOWER_IS_BETTER
    assert "embedding distance" in metric_label("emb_dist") and "chroma similarity" in metric_label("chroma_cond")
    assert metric_label("something_new") == "something_new"
    wrapped = metric_label("chroma_target", 20)
    assert "\n" in wrapped and wrapped.splitlines()[-1].endswith("(↑ better)")  # the direction is never split


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _label_boxes(ax):
    ax.figure.canvas.draw()
    return [t.get_window_extent() for t in ax.texts]


def test_crowded_points_get_a_few_labels_that_do_not_overprint():
    fig, ax = plt.subplots(figsize=(6, 4))
    x, y = np.linspace(1, 2, 30), np.full(30, 0.5)
    ax.scatter(x, y)
    done = annotate_without_overlap(ax, x, y, [f"configuration {i}" for i in range(30)])
    boxes = _label_boxes(ax)
    assert 1 <= len(done) == len(boxes) < 30 and done[0] == 0  # the first (most important) is always placed
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _isr_grid(n_hnsw: int = 25) -> pd.DataFrame:
    rows = [{"label": "Flat", "kind": "flat", "isr": 0.55, "ms_per_query": 0.0068},
            {"label": "IVF nlist22 nprobe1", "kind": "ivf", "isr": 0.42, "ms_per_query": 0.0050},
            {"label": "IVF nlist22 nprobe4", "kind": "ivf", "isr": 0.54, "ms_per_query": 0.0059}]
    rows += [{"label": f"HNSW M{8 + i} efC64 efS16", "kind": "hnsw", "isr": 0.55, "ms_per_query": 0.007 + 0.0005 * i}
             for i in range(n_hnsw)]
    return pd.DataFrame(rows)


def test_isr_latency_names_the_picked_and_the_front_only():
    grid = _isr_grid()
    ax = plot_isr_latency(grid, picked=["Flat"])
    names = [t.get_text() for t in ax.texts]
    assert names[0] == "Flat" and "IVF nlist22 nprobe1" in names and len(names) <= 6
    assert not any(n.startswith("HNSW") for n in names)  # dominated by Flat (as high, faster)
    boxes = _label_boxes(ax)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert "picked" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "↑" in ax.get_ylabel() and "↓" in ax.get_xlabel()


def test_isr_quality_labels_a_few_points_and_names_the_metric_in_words():
    grid = _isr_grid(9).rename(columns={"label": "config"})
    rng = np.random.default_rng(0)
    grid["fad_inf"] = rng.uniform(30, 40, len(grid))
    grid["fad_inf_low"], grid["fad_inf_high"] = grid["fad_inf"] - 5, grid["fad_inf"] + 5
    ax = plot_isr_quality(grid, "fad_inf")
    names = [t.get_text() for t in ax.texts]
    assert 1 <= len(names) <= 4 and grid.loc[grid["fad_inf"].idxmin(), "config"] in names  # the best is named
    assert ax.get_ylabel() == "FAD∞ (↓ better)" and "Intersection Rate" in ax.get_xlabel()
    assert not plot_isr_quality(grid, "fad_inf", label_points=False).texts


def _curves(sizes) -> pd.DataFrame:
    rows = [{"system": "text @ 1", "mode": "text", "train_clips": max(sizes), "metric": "fad_inf", "estimate": 44.8,
             "low": 34.3, "high": 60.8}]
    rows += [{"system": f"mmgen @ {n}", "mode": "mmgen", "train_clips": n, "metric": "fad_inf",
              "estimate": 40.0 + i, "low": 30.0 + i, "high": 50.0 + i} for i, n in enumerate(sizes)]
    return pd.DataFrame(rows)


def test_scaling_draws_no_line_through_two_points_on_a_log_axis():
    ax = plot_scaling(_curves([120, 480]), "fad_inf", baseline="text @ 1")
    assert ax.get_xscale() == "linear"
    (series,) = [c for c in ax.containers if c.get_label() == "mmgen"]
    assert series.lines[0].get_linestyle() == "None"  # markers only
    assert ax.get_ylabel() == "FAD∞ (↓ better)"
    ax = plot_scaling(_curves([60, 120, 480]), "fad_inf", baseline="text @ 1")
    assert ax.get_xscale() == "log"
    (series,) = [c for c in ax.containers if c.get_label() == "mmgen"]
    assert series.lines[0].get_linestyle() == "-"


def test_interval_bars_name_metrics_in_words_and_mark_what_was_not_measured():
    ci = pd.DataFrame({"system": ["text", "text", "mmgen", "mmgen"], "metric": ["fad_inf", "chroma_cond"] * 2,
                       "estimate": [34.0, np.nan, 33.7, 0.15], "low": [26.0, np.nan, 26.1, 0.13],
                       "high": [44.8, np.nan, 43.4, 0.17]})
    fig = plot_intervals(ci, ["fad_inf", "chroma_cond"], title="t")
    a, b = fig.axes
    assert a.get_title() == metric_label("fad_inf", 24) and "(↑ better)" in b.get_title()
    assert [t.get_text().strip() for t in b.texts] == ["n/a"]
    assert [t.get_text() for t in a.get_yticklabels()] == ["text", "mmgen"]


def test_generation_panel_has_a_roll_and_a_mel_per_clip(tmp_path):
    gen = SimpleNamespace(mels=torch.randn(2, 128, 64), melodies=[NOTES, []], melody_ids=["train-7", ""])
    fig = plot_generation(gen, ["first prompt", "second prompt"])
    axes = np.array(fig.axes).reshape(2, 2)
    assert axes[0, 0].get_title() == "melody: train-7" and axes[1, 0].get_title() == "melody: none (text mode)"
    assert [a.get_title() for a in axes[:, 1]] == ["first prompt", "second prompt"]
    assert len(axes[0, 0].get_images()) == 1 and not axes[1, 0].get_images()  # text mode: no melody
    assert axes[0, 0].get_xlim() == (0, 128 / MEL_FPS) == axes[1, 0].get_xlim()
    assert all(len(a.get_images()) == 1 for a in axes[:, 1])
    assert axes[0, 1].get_ylabel() == "frequency (Hz)"
    fig = plot_generation(gen, ["a", "b"], melody_titles=["x", "y"])
    assert [a.get_title() for a in np.array(fig.axes).reshape(2, 2)[:, 0]] == ["x", "y"]
    assert save_figure(fig, tmp_path, "panel").stat().st_size > 0
    fig = plot_generation(gen, ["a", "b"], colorbar=True)  # a colour bar beside each log-mel
    assert sum(a.get_ylabel() == LOG_MEL_LABEL for a in fig.axes) == 2


def test_save_table_writes_csv_and_markdown_with_note(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    md = save_table(df, tmp_path, "t", note="a note")
    assert pd.read_csv(tmp_path / "tables" / "t.csv").equals(df)
    assert md.read_text().rstrip().endswith("a note")
