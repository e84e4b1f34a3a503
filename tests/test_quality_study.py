"""The training-recipe study of `make quality`: recipes are valid diffusion overrides, seeds reach the figure,
and the CPU minutes each recipe needs to reach the reference's quality."""
from __future__ import annotations

import math

import matplotlib
import pandas as pd
import pytest

from mmgen_core.diffusion import DiffusionConfig
from mmgen_core.pipeline.quality import RECIPES, minutes_to_reach, plot_training_curves

matplotlib.use("Agg")


def _row(recipe: str, seed: int, steps: int, minutes: float, fad_inf: float, richness: float) -> dict:
    return {"recipe": recipe, "mode": "text", "train_seed": seed, "steps": steps, "cpu_minutes": minutes,
            "fad_inf": fad_inf, "kid": 0.3, "kid_se": 0.05, "richness": richness, "text_audio": 0.3}


TABLE = pd.DataFrame([
    _row("default", 0, 800, 4.0, 34.0, 15.0), _row("default", 1, 800, 4.2, 36.0, 17.0),
    _row("default", 0, 1600, 8.0, 30.0, 25.0), _row("default", 1, 1600, 8.4, 32.0, 23.0),
    _row("fast", 0, 200, 1.0, 35.0, 20.0), _row("fast", 1, 200, 1.0, 33.0, 20.0),
    _row("fast", 0, 400, 2.0, 30.0, 24.0), _row("fast", 1, 400, 2.2, 31.0, 26.0),
    _row("slow", 0, 400, 2.0, 40.0, 30.0), _row("slow", 1, 400, 2.0, 40.0, 30.0),
])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_diffusion_override(name):
    DiffusionConfig(**RECIPES[name])


def test_minutes_to_reach_uses_the_mean_over_seeds_and_every_measure():
    reach = minutes_to_reach(TABLE, "default").set_index("recipe")
    # the reference reaches itself at its last checkpoint: mean FAD∞ 31, richness 24, 8.2 CPU minutes
    assert reach.loc["default", "steps"] == 1600 and reach.loc["default", "fraction_of_reference"] == 1.0
    # fast: step 200 has FAD∞ 34 > 31; step 400 (FAD∞ 30.5, richness 25) is as good on both
    assert reach.loc["fast", "steps"] == 400 and reach.loc["fast", "cpu_minutes"] == pytest.approx(2.1)
    assert reach.loc["fast", "fraction_of_reference"] == pytest.approx(2.1 / 8.2)
    assert reach.loc["fast", "seeds"] == 2
    # slow is richer but never gets its FAD∞ down: it does not reach the reference
    assert math.isnan(reach.loc["slow", "cpu_minutes"]) and reach.loc["slow", "best_fad_inf"] == 40.0
    with pytest.raises(ValueError, match="nothing"):
        minutes_to_reach(TABLE, "nothing")


def test_the_figure_shows_every_seed_and_the_mean():
    fig = plot_training_curves(TABLE)
    ax = fig.axes[0]
    assert len(ax.collections) >= 3  # one scatter of per-seed points per recipe
    labels = ax.get_legend_handles_labels()[1]
    assert "default, 2 seeds" in labels and "fast, 2 seeds" in labels


def test_the_figure_draws_the_target_at_the_reference_mean():
    fig = plot_training_curves(TABLE, target="default")  # axes: FAD∞, KID, richness, text-audio
    for ax, want in ((fig.axes[0], 31.0), (fig.axes[2], 24.0)):
        line = next(ln for ln in ax.lines if ln.get_label() == "target: default at 1600 steps")
        assert line.get_ydata()[0] == pytest.approx(want)
