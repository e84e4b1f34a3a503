"""Does MMGen trained on little data rival a model trained on all of it? The paper's §5.4 claim (notebook 09,
docs/method.md §2.7).

The training split is cut into nested, seeded fractions (:func:`~mmgen_core.data.fractions.fraction_ids`). For
each fraction ``f`` the tri-modal aligner, the melody database and the UNet's training conditions are built from
that fraction only (:meth:`~mmgen_core.stages.Stages.with_train_fraction`: their own artifact folders), and an
``mmgen`` UNet is trained on it with ``claims.fraction_steps`` steps for each training seed of
``claims.fraction_seeds``. The baseline is the text-only UNet trained on all the data with the same steps and
seeds. Every UNet generates the same test captions with the same sampling seeds; each clip is scored (FAD∞ and
KID of the set against the references, chroma to the target melody and text–audio score per clip, the text–audio
score with the whole data's two-modal aligner for every system: one ruler, and one that conditions neither arm).

The effect at fraction ``f`` is ``metric(text @ 1) − metric(mmgen @ f)`` for lower-is-better metrics (FAD∞, KID)
and the reverse for higher-is-better ones, so that positive means MMGen on ``f`` of the data does better than
the text-only model on all of it; paired by training seed, its interval at the level of the training run (the
harness, docs/method.md §2.8). "Rivals" is a non-inferiority claim: the row is the smallest fraction below 1 whose
FAD∞ effect excludes a loss larger than the margin (``claims.margins``, a fraction of the baseline's FAD∞); when none
does, the effect at the smallest fraction."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, replace

import pandas as pd

from mmgen_core.data.fractions import fraction_table
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import Margins, Measurements
from mmgen_core.reproduction.claims import SMALL_DATA_CLAIM, ClaimsConfig, _row
from mmgen_core.reproduction.table1 import ResultsConfig
from mmgen_core.stages import Stages

BASELINE_MODE = "text"
SCALING_METRICS = ("fad_inf", "kid", "text_audio", "chroma_target")  # FAD∞ decides the claim


def system_name(mode: str, fraction: float) -> str:
    """``mmgen @ 0.25``: a mode trained on a fraction of the training split."""
    return f"{mode} @ {fraction:g}"


@dataclass
class ScalingRun:
    """Every UNet of the experiment, measured through the harness (one system per (mode, fraction), its training
    seeds as runs), the systems as a table (mode, fraction, training clips, seeds) and the nesting of the fractions."""
    systems: pd.DataFrame
    fractions: pd.DataFrame  # fraction, train_clips, contains_smaller (the nesting, checked on the sets)
    harness: Measurements
    baseline: str
    modes: list[str]
    steps: int
    margins: Margins


def data_scaling(stages: Stages, cfg: ClaimsConfig, results: ResultsConfig, eval_cfg: EvaluationConfig) -> ScalingRun:
    """Train (or load) the text baseline on all the data and each of ``claims.fraction_modes`` on each fraction,
    ``claims.fraction_steps`` steps per run and one run per seed of ``claims.fraction_seeds``; generate the first
    ``claims.fraction_clips`` test captions with every one and measure them through the harness (cached)."""
    manifest = stages.dataset
    items = manifest.items("test")[:cfg.fraction_clips or None]
    h = stages.harness(items, eval_cfg, ruler="bimodal")  # text–audio by an aligner neither arm is conditioned on
    sizes = fraction_table(manifest, cfg.fractions, stages.profile.seed)
    n_train = {r["fraction"]: r["train_clips"] for r in sizes}
    jobs = [(BASELINE_MODE, 1.0)] + [(m, f) for f in cfg.fractions for m in cfg.fraction_modes
                                     if (m, f) != (BASELINE_MODE, 1.0)]
    systems = {system_name(m, f): (m, f) for m, f in jobs}
    sampling = json.dumps([results.label(), dataclasses.asdict(stages.generation_config)], default=str)
    pipes: dict[tuple[str, int], object] = {}

    def on(system: str, t: int) -> Stages:
        mode, f = systems[system]
        return stages.with_train_fraction(f).with_diffusion(steps=cfg.fraction_steps).with_unet_seed(t)

    def key(system: str, t: int, k: int) -> str:
        return json.dumps([on(system, t).unet_folder(systems[system][0]).name, k, sampling])

    def generate(system: str, t: int, k: int):
        if (system, t) not in pipes:
            pipes.clear()  # one UNet in memory at a time
            st, mode = on(system, t), systems[system][0]
            pipes[system, t] = st.pipeline_of(st.unet(mode)[0], replace(st.generation_config, mode=mode))
        gen = pipes[system, t](h.evalset.captions, seed=k, sampler=results.sampler, steps=results.steps,
                               clip_x0=results.clip_x0, candidates=1, progress=False)
        return list(gen.waveforms), None

    h.collect([(s, t, k) for s in systems for t in cfg.fraction_seeds for k in cfg.seeds], key, generate,
              "small data: train and generate")
    rows = [{"system": name, "mode": m, "fraction": f, "train_clips": n_train.get(f, len(manifest.items("train"))),
             "unet_steps": cfg.fraction_steps, "train_seeds": len(cfg.fraction_seeds)}
            for name, (m, f) in systems.items()]
    return ScalingRun(pd.DataFrame(rows), pd.DataFrame(sizes), h, system_name(BASELINE_MODE, 1.0),
                      list(cfg.fraction_modes), cfg.fraction_steps, cfg.margin_rule())


def scaling_curves(run: ScalingRun) -> pd.DataFrame:
    """Long table: one row per (system, metric) with the estimate, its 95% interval and n (the curves' points)."""
    rows = []
    for _, s in run.systems.iterrows():
        for m in SCALING_METRICS:
            e = run.harness.interval(s["system"], m)
            rows.append({**s.to_dict(), "metric": m, "estimate": e.estimate, "low": e.low, "high": e.high, "n": e.n})
    return pd.DataFrame(rows)


def _effect(run: ScalingRun, system: str, metric: str):
    """``metric(text @ 1) − metric(system)``: non-inferiority with its margin for FAD∞ (the claim's measure),
    exploratory for the others."""
    if metric != "fad_inf":
        return run.harness.effect(system, run.baseline, metric)
    base = run.harness.interval(run.baseline, metric).estimate
    return run.harness.effect(system, run.baseline, metric, run.margins.of(metric, base), "non-inferiority")


def scaling_effects(run: ScalingRun) -> pd.DataFrame:
    """One row per (mode other than the baseline, fraction, metric): ``metric(text @ 1) − metric(mode @ f)``
    (reversed for higher-is-better metrics: positive = better than the text-only model on all the data), its
    interval, n and, for FAD∞ (the claim's measure, non-inferiority), its margin and outcome; the others are
    exploratory (no outcome)."""
    rows = []
    for _, s in run.systems.iterrows():
        if s["system"] == run.baseline or s["mode"] == BASELINE_MODE:
            continue
        for m in SCALING_METRICS:
            e = _effect(run, s["system"], m)
            rows.append({"mode": s["mode"], "fraction": s["fraction"], "train_clips": s["train_clips"], "metric": m,
                         "effect": e.name, "estimate": e.estimate, "low": e.low, "high": e.high, "margin": e.margin,
                         "n": e.n, "verdict": e.verdict if m == "fad_inf" else "exploratory"})
    return pd.DataFrame(rows)


def small_data_row(run: ScalingRun, mode: str = "mmgen", metric: str = "fad_inf") -> dict:
    """The claims-table row: the smallest fraction below 1 at which ``mode`` is non-inferior to the text-only model
    trained on all the data (the interval excludes a loss larger than the margin); when none is, the effect at the
    smallest fraction tested. The evidence lists every fraction's effect and outcome."""
    systems = run.systems[run.systems["mode"] == mode].sort_values("fraction")
    if systems.empty:
        raise ValueError(f"mode {mode!r} was not trained on fractions here (claims.fraction_modes: {run.modes})")
    effects = {float(s["fraction"]): _effect(run, s["system"], metric) for _, s in systems.iterrows()}
    clips = dict(zip(systems["fraction"].astype(float), systems["train_clips"]))
    total = int(run.fractions["train_clips"].max()) if len(run.fractions) else clips.get(1.0, 0)
    won = [f for f, e in effects.items() if f < 1.0 and e.verdict == "reproduced"]
    pick = min(won) if won else min(effects)
    listing = "; ".join(f"{f:g} ({clips[f]} clips): {e.estimate:+.3f} [{e.low:+.3f}, {e.high:+.3f}] {e.verdict}"
                        for f, e in effects.items())
    said = (f"smallest fraction at which {mode} is non-inferior to the text-only model trained on all {total} clips: "
            f"{pick:g} ({clips[pick]} clips)" if won else
            f"no fraction below 1 reached 'reproduced' (fractions tested: {', '.join(f'{f:g}' for f in effects)}); "
            f"the row shows the smallest, {pick:g} ({clips[pick]} clips)")
    runs = run.harness.train_seeds(run.baseline)
    note = (f"{said}; every fraction, {metric}(text @ 1) − {metric}({mode} @ f): {listing}; each UNet trained "
            f"{run.steps} steps, {len(runs)} training seeds per point; the aligner, melody database and training "
            "conditions of each fraction use only its clips, the decoder is shared (notebook 09)")
    head = effects[pick]
    head = replace(head, name=f"{head.name} at fraction {pick:g} ({clips[pick]} of {total} training clips)")
    support = [_effect(run, system_name(mode, pick), m) for m in SCALING_METRICS if m != metric]
    return _row(SMALL_DATA_CLAIM, [head, *support], note)
