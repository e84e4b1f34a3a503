"""Where generation quality goes, measured on validation clips (`make quality`, notebook 06).

Every row scores one set of clips made for the same validation captions against the real clips through the
evaluation harness (docs/method.md §2.8): FAD∞ (both sides extrapolated, equal sets) and KID (± its
clip-jackknife standard error) on the evaluation backbone, FAD at this N, the reference-free sound measures
(harmonic richness, loudness, a click at the end), audio–text similarity and chroma similarity with the clip's own
melody (and with the melody that conditioned it). Reference rows: other real clips of the same size (FAD∞ ≈ 0
when the FAD form is honest at this N) and the decoder ceiling. Generated rows come from
UNets along their training run (quality against CPU minutes) and from generation settings."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.data.manifest import SELECTION_SPLIT, require_selection_split
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import EvalSet, Harness, training_projection
from mmgen_core.melody.notes import Note
from mmgen_core.pipeline.pipeline import Generation, MMGenPipeline
from mmgen_core.reporting.plots import LOWER_IS_BETTER, metric_label

BASE_RECIPE = {"prediction": "epsilon", "loss_weighting": "none", "lr_schedule": "constant"}
RECIPES: dict[str, dict[str, Any]] = {  # training recipes compared by `make quality` (diffusion overrides)
    "eps": BASE_RECIPE,  # AudioLDM's: ε-prediction, plain MSE, constant rate after the warm-up
    "eps-minsnr": {**BASE_RECIPE, "loss_weighting": "min_snr"},
    "v": {**BASE_RECIPE, "prediction": "v_prediction"},
    "v-minsnr": {**BASE_RECIPE, "prediction": "v_prediction", "loss_weighting": "min_snr"},
    "v-minsnr-cosine": {"prediction": "v_prediction", "loss_weighting": "min_snr", "lr_schedule": "cosine"},
    "eps-cosine": {**BASE_RECIPE, "lr_schedule": "cosine"},
    "eps-minsnr-cosine": {"prediction": "epsilon", "loss_weighting": "min_snr", "lr_schedule": "cosine"},
    "official": {"prediction": "v_prediction", "loss_weighting": "min_snr", "lr_schedule": "constant",
                 "train_query": "mix", "train_melody": "retrieved"},  # v-minsnr on the authors' conditioning
    # levers for cheaper runs (issue 25), each one change to the profile's own recipe ("default")
    "default": {},
    "log-normal": {"noise_levels": "log_normal"},  # EDM's noise-level distribution instead of uniform timesteps
    "lr-2x": {"lr": 2e-3},
    "beta2-0.99": {"beta2": 0.99},
    "batch-8": {"batch_size": 8},  # half the samples per step (half the CPU time per step)
    "crop-32": {"crop_frames": 32},  # half the latent frames per sample
    "ema-0.99": {"ema_decay": 0.99},
    "crop-16": {"crop_frames": 16},  # a quarter of the latent frames per sample
    "crop-32-batch-8": {"crop_frames": 32, "batch_size": 8},  # a quarter of the frames per step
}


@dataclass
class QualityConfig:
    """Profile section ``quality``: the validation clips quality rows are measured on, and where notebook 06
    scores its UNets along training (fractions of ``diffusion.steps``)."""
    clips: int = 48
    curve_mode: str = "text"
    curve_at: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])

    def checkpoints(self, steps: int) -> list[int]:
        """The training steps to score at: ``curve_at`` of ``steps``, at least 1, the last one ``steps``."""
        if not self.curve_at or max(self.curve_at) != 1.0 or min(self.curve_at) <= 0:
            raise ValueError(f"quality.curve_at must be fractions in (0, 1] ending at 1.0, got {self.curve_at}")
        return sorted({max(1, round(f * steps)) for f in self.curve_at})


def load_probe(manifest, split: str = SELECTION_SPLIT, n_clips: int = 0, offset: int = 0) -> EvalSet:
    """The first ``n_clips`` (0 = all) clips of ``split`` after ``offset``, loaded at one clip length: the evaluation
    set quality rows are measured on. Probes steer choices (checkpoints, settings), so the test split is refused."""
    items = manifest.items(split)
    require_selection_split(items, f"load_probe(split={split!r})")
    items = items[offset:]
    items = items[:n_clips] if n_clips else items
    if len(items) < 2:
        raise ValueError(f"{split}: {len(items)} clips after offset {offset}; quality rows need at least 2")
    return EvalSet.from_items(manifest, items)


def probe_harness(stages, probe: EvalSet, eval_cfg: EvaluationConfig) -> Harness:
    """The evaluation harness on a probe: the profile's aligner and FAD∞ projection, nothing cached (quality rows
    are one set each)."""
    folder = stages.profile.artifacts / "evaluations"
    return Harness(probe, eval_cfg, stages.alignment().model,
                   training_projection(stages.dataset, eval_cfg, folder, stages.progress), progress=False)


def score_clips(wavs: Sequence[np.ndarray], harness: Harness,
                cond_melodies: Sequence[Sequence[Note]] | None = None) -> dict[str, float]:
    """Every quality measure of clips made for the harness's captions (clip i for caption i), as one row: the
    harness's per-clip means and set distances (docs/method.md §2.8)."""
    if len(wavs) != len(harness.evalset):
        raise ValueError(f"{len(wavs)} clips for {len(harness.evalset)} probe captions")
    return harness.measure(wavs, cond_melodies).row()


def reference_rows(stages, probe: EvalSet, eval_cfg: EvaluationConfig, other: EvalSet) -> pd.DataFrame:
    """The floors: the probe's own clips (reference-free measures; FAD∞ ≈ 0 by construction), ``other`` real
    clips (as many, another split: FAD∞ between two real sets, ≈ 0 when the FAD form is honest at this N; chroma
    and text–audio at chance) and the probe's clips through the decoder (the ceiling of anything generated)."""
    harness = probe_harness(stages, probe, eval_cfg)
    ceiling = stages.decoder.resynthesize(torch.from_numpy(np.stack(probe.refs))).numpy()
    rows = [{"system": "real clips (these)", **score_clips(probe.refs, harness, probe.melodies)},
            {"system": "real clips (other split)", **score_clips(other.refs[:len(probe)], harness)},
            {"system": "decoder ceiling", **score_clips(list(ceiling), harness, probe.melodies)}]
    return pd.DataFrame(rows)


def generate_for(pipe: MMGenPipeline, probe: EvalSet, seed: int = 0, **generation: Any) -> Generation:
    """One clip per probe caption (melodies retrieved for the caption, as at inference), one candidate."""
    return pipe(probe.captions, seed=seed, **{"candidates": 1, "progress": False, **generation})


def training_curve(stages, mode: str, recipe: dict[str, Any], checkpoints: Sequence[int], probe: EvalSet,
                   eval_cfg: EvaluationConfig, *, name: str = "", seed: int = 0, train_seed: int | None = None,
                   progress: bool = True, **generation: Any) -> pd.DataFrame:
    """Quality of one mode's UNet along one training run of ``recipe`` (``diffusion`` overrides), scored at
    each of ``checkpoints`` (steps; the last is the run's length). Rows carry the steps, the CPU minutes
    of training up to there and the training loss of the last 10% of those steps. ``train_seed``: the UNet's
    training seed (default: the stages'); ``seed``: the sampling seed. A run trained earlier without
    snapshots (e.g. by another notebook) gives its last point only, and says so."""
    steps = max(checkpoints)
    run = stages.with_diffusion(**{**recipe, "steps": steps})
    run = run if train_seed is None else run.with_unet_seed(train_seed)
    harness = probe_harness(stages, probe, eval_cfg)
    rows = []
    for at in tqdm(sorted(checkpoints), desc=f"{name or mode} curve", disable=not progress):
        try:
            unet, report = run.unet(mode, stop_at=at)
        except CheckpointError as exc:
            if at == steps:
                raise
            print(f"step {at} skipped: {exc}")
            continue
        pipe = run.pipeline_of(unet, replace(run.generation_config, mode=mode))
        gen = generate_for(pipe, probe, seed, **generation)
        losses = [h["loss"] for h in report["history"] if h["step"] >= 0.9 * at]
        rows.append({"recipe": name or str(recipe), "mode": mode, "train_seed": run.unet_seed, "steps": at,
                     "cpu_minutes": report["train_seconds"] / 60, "loss": float(np.mean(losses)),
                     **score_clips(list(gen.waveforms), harness, gen.melodies)})
    return pd.DataFrame(rows)


def minutes_to_reach(table: pd.DataFrame, reference: str = "default", measures: Sequence[str] = ("fad_inf", "richness")
                     ) -> pd.DataFrame:
    """For each recipe, the first checkpoint whose mean over training seeds is as good as the reference recipe's
    last checkpoint on every measure (no higher where lower is better, else no lower), its CPU minutes and their
    fraction of the reference's; NaN where no checkpoint gets there. Means are over the seeds a recipe ran."""
    means = table.groupby(["recipe", "steps"], sort=False)[[*measures, "cpu_minutes"]].mean().reset_index()
    seeds = table.groupby("recipe")["train_seed"].nunique() if "train_seed" in table else None
    ref = means[means["recipe"] == reference]
    if ref.empty:
        raise ValueError(f"minutes_to_reach: no rows of the reference recipe {reference!r}")
    target = ref.loc[ref["steps"].idxmax()]
    rows = []
    for recipe, g in means.groupby("recipe", sort=False):
        ok = np.ones(len(g), bool)
        for m in measures:
            ok &= (g[m] <= target[m]).to_numpy() if m in LOWER_IS_BETTER else (g[m] >= target[m]).to_numpy()
        hit = g.sort_values("steps")[ok[np.argsort(g["steps"].to_numpy(), kind="stable")]].head(1)
        minutes = float(hit["cpu_minutes"].iloc[0]) if len(hit) else float("nan")
        rows.append({"recipe": recipe, "seeds": int(seeds[recipe]) if seeds is not None else 1,
                     "steps": int(hit["steps"].iloc[0]) if len(hit) else np.nan, "cpu_minutes": minutes,
                     "fraction_of_reference": minutes / float(target["cpu_minutes"]),
                     **{f"best_{m}": float(g[m].min() if m in LOWER_IS_BETTER else g[m].max()) for m in measures}})
    return pd.DataFrame(rows)


def generation_grid(stages, pipe: MMGenPipeline, probe: EvalSet, settings: Sequence[dict[str, Any]],
                    eval_cfg: EvaluationConfig, *, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Quality of one UNet under each generation setting (e.g. ``{"guidance": 2}``, ``{"sampler": "dpm",
    "steps": 20}``); the setting's keys become columns."""
    harness = probe_harness(stages, probe, eval_cfg)
    rows = []
    for knobs in tqdm(settings, desc="generation grid", disable=not progress):
        gen = generate_for(pipe, probe, seed, **knobs)
        rows.append({**knobs, **score_clips(list(gen.waveforms), harness, gen.melodies)})
    return pd.DataFrame(rows)


def plot_training_curves(table: pd.DataFrame, reference: pd.DataFrame | None = None,
                         measures: Sequence[str] = ("fad_inf", "kid", "richness", "text_audio"),
                         target: str | None = None):
    """Quality against CPU minutes of training, one line per recipe and mode through the mean over training
    seeds, each seed's own point as a dot of the same colour (one seed: KID with its 95% interval, ±1.96 se);
    the reference rows (real clips, decoder ceiling) as grey lines; ``target``: a recipe whose last checkpoint
    (mean over seeds) the others must reach (:func:`minutes_to_reach`), as a black dashed line. Losses of
    different recipes are on different scales (weighting, target), so the loss is left to the table."""
    import matplotlib.pyplot as plt

    table = table if "train_seed" in table else table.assign(train_seed=0)
    fig, axes = plt.subplots(1, len(measures), figsize=(4 * len(measures), 3.4))
    for ax, m in zip(np.atleast_1d(axes), measures):
        many_modes = table["mode"].nunique() > 1
        for (recipe, mode), g in table.groupby(["recipe", "mode"], sort=False):
            mean = g.groupby("steps")[[m, "cpu_minutes"]].mean()
            seeds = g["train_seed"].nunique()
            label = (f"{recipe} ({mode})" if many_modes else recipe) + (f", {seeds} seeds" if seeds > 1 else "")
            line = ax.errorbar(mean["cpu_minutes"], mean[m], marker="o", capsize=3, label=label,
                               yerr=1.96 * g["kid_se"] if m == "kid" and seeds == 1 else None)
            if seeds > 1:
                ax.scatter(g["cpu_minutes"], g[m], s=12, alpha=0.6, color=line[0].get_color())
        if reference is not None and m in reference:
            for (_, r), style in zip(reference.iterrows(), (":", "--", "-.")):
                ax.axhline(r[m], color="grey", ls=style, label=r["system"])
        if target is not None:
            g = table[table["recipe"] == target]
            ax.axhline(g[g["steps"] == g["steps"].max()][m].mean(), color="black", ls="--", lw=0.8,
                       label=f"target: {target} at {g['steps'].max()} steps")
        ax.set(xlabel="CPU minutes of training", title=metric_label(m, 30))
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
