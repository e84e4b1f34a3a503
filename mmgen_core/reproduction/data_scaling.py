"""Does MMGen trained on little data rival a model trained on all of it? The paper's §5.4 claim (notebook 09,
docs/method.md §2.7).

The training split is cut into nested, seeded fractions (:func:`~mmgen_core.data.fractions.fraction_ids`). For
each fraction ``f`` the tri-modal aligner, the melody database and the UNet's training conditions are built from
that fraction only (:meth:`~mmgen_core.stages.Stages.with_train_fraction`: their own artifact folders), and an
``mmgen`` UNet is trained on it with ``claims.fraction_steps`` steps for each training seed of
``claims.fraction_seeds``. The baseline is the text-only UNet trained on all the data with the same steps and
seeds. Every UNet generates the same test captions with the same sampling seeds; each clip is scored (FAD∞ and
KID of the set against the references, chroma to the target melody and text–audio score per clip, the text–audio
score with the whole data's aligner for every system, so that all are measured with one ruler).

The effect at fraction ``f`` is ``metric(text @ 1) − metric(mmgen @ f)`` for lower-is-better metrics (FAD∞, KID)
and the reverse for higher-is-better ones, so that positive means MMGen on ``f`` of the data does better than
the text-only model on all of it. Intervals come from the Table 1 bootstrap (:func:`~.evidence.bootstrap`:
clips shared by every system, training seeds drawn per system). The claim's row is the smallest fraction
below 1 whose FAD∞ effect is *reproduced* by the one rule; when none is, the effect at the smallest fraction."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.data.fractions import fraction_table
from mmgen_core.data.manifest import item_notes
from mmgen_core.evaluation.evaluate import EvaluationConfig, clip_features
from mmgen_core.reproduction.claims import SMALL_DATA_CLAIM, ClaimsConfig, _row
from mmgen_core.reproduction.evidence import Bootstrap, Measured, bootstrap
from mmgen_core.reproduction.table1 import LOWER_IS_BETTER, ResultsConfig, clip_values
from mmgen_core.stages import Stages

BASELINE_MODE = "text"
SCALING_METRICS = ("fad_inf", "kid", "text_audio", "chroma_target")  # FAD∞ decides the claim
CLIP_METRICS = ("text_audio", "chroma_target", "kl", "emb_dist", "richness")


def system_name(mode: str, fraction: float) -> str:
    """``mmgen @ 0.25``: a mode trained on a fraction of the training split."""
    return f"{mode} @ {fraction:g}"


@dataclass
class ScalingRun:
    """Every UNet of the experiment, measured: one :class:`Measured` per (mode, fraction) over its training
    seeds, their bootstrap, and the systems as a table (mode, fraction, training clips, seeds)."""
    systems: pd.DataFrame
    fractions: pd.DataFrame  # fraction, train_clips, contains_smaller (the nesting, checked on the sets)
    measured: dict[str, Measured]
    boot: Bootstrap
    baseline: str
    modes: list[str]
    steps: int


def data_scaling(stages: Stages, cfg: ClaimsConfig, results: ResultsConfig, eval_cfg: EvaluationConfig,
                 progress: bool = True) -> ScalingRun:
    """Train (or load) the text baseline on all the data and each of ``claims.fraction_modes`` on each fraction,
    ``claims.fraction_steps`` steps per run and one run per seed of ``claims.fraction_seeds``; generate the first
    ``claims.fraction_clips`` test captions with every one; measure and bootstrap them."""
    manifest = stages.dataset
    items = manifest.items("test")[:cfg.fraction_clips or None]
    if len(items) < 2:
        raise ValueError(f"the data-scaling experiment needs at least 2 test clips, the profile gives {len(items)}")
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    ref_feats = clip_features(refs, eval_cfg)
    captions, targets = [it.caption for it in items], [item_notes(manifest, it) for it in items]
    ruler = stages.alignment().model  # every system's text–audio score with the whole data's aligner
    sizes = fraction_table(manifest, cfg.fractions, stages.profile.seed)
    n_train = {r["fraction"]: r["train_clips"] for r in sizes}
    jobs = [(BASELINE_MODE, 1.0)] + [(m, f) for f in cfg.fractions for m in cfg.fraction_modes
                                     if (m, f) != (BASELINE_MODE, 1.0)]
    measured, rows = {}, []
    bar = tqdm(total=len(jobs) * len(cfg.fraction_seeds), desc="small data: train and generate", disable=not progress)
    for mode, f in jobs:
        on_f = stages.with_train_fraction(f).with_diffusion(steps=cfg.fraction_steps)
        runs = []
        for t in cfg.fraction_seeds:
            st = on_f.with_unet_seed(t)
            pipe = st.pipeline_of(st.unet(mode)[0], replace(st.generation_config, mode=mode))
            per_seed = []
            for k in cfg.seeds:
                gen = pipe(captions, seed=k, sampler=results.sampler, steps=results.steps, clip_x0=results.clip_x0,
                           candidates=1, progress=False)
                wavs = list(gen.waveforms)
                feats = clip_features(wavs, eval_cfg)
                per_seed.append((list(feats[0].frames),
                                 clip_values(wavs, feats, ref_feats, captions, targets, None, ruler, eval_cfg)))
            runs.append(per_seed)
            del pipe
            bar.update(1)
        name = system_name(mode, f)
        measured[name] = Measured({m: np.array([[v[m] for _, v in r] for r in runs]) for m in CLIP_METRICS},
                                  [[fr for fr, _ in r] for r in runs])
        rows.append({"system": name, "mode": mode, "fraction": f,
                     "train_clips": n_train.get(f, len(manifest.items("train"))),
                     "unet_steps": cfg.fraction_steps, "train_seeds": len(cfg.fraction_seeds)})
    bar.close()
    boot = bootstrap(measured, list(ref_feats[0].frames), SCALING_METRICS, cfg.bootstrap, eval_cfg.seed,
                     eval_cfg.confidence, progress)
    return ScalingRun(pd.DataFrame(rows), pd.DataFrame(sizes), measured, boot, system_name(BASELINE_MODE, 1.0),
                      list(cfg.fraction_modes), cfg.fraction_steps)


def scaling_curves(run: ScalingRun) -> pd.DataFrame:
    """Long table: one row per (system, metric) with the estimate, its 95% interval and n (the curves' points)."""
    rows = []
    for _, s in run.systems.iterrows():
        for m in SCALING_METRICS:
            est, low, high = run.boot.interval(s["system"], m)
            rows.append({**s.to_dict(), "metric": m, "estimate": est, "low": low, "high": high,
                         "n": run.boot.n[s["system"]]})
    return pd.DataFrame(rows)


def scaling_effects(run: ScalingRun) -> pd.DataFrame:
    """One row per (mode other than the baseline, fraction, metric): ``metric(text @ 1) − metric(mode @ f)``
    (reversed for higher-is-better metrics: positive = better than the text-only model on all the data), its
    interval, n and verdict."""
    rows = []
    for _, s in run.systems.iterrows():
        if s["system"] == run.baseline or s["mode"] == BASELINE_MODE:
            continue
        for m in SCALING_METRICS:
            e = run.boot.difference(s["system"], run.baseline, m, LOWER_IS_BETTER.get(m, False))
            rows.append({"mode": s["mode"], "fraction": s["fraction"], "train_clips": s["train_clips"], "metric": m,
                         "effect": e.name, "estimate": e.estimate, "low": e.low, "high": e.high, "n": e.n,
                         "verdict": e.verdict})
    return pd.DataFrame(rows)


def small_data_row(run: ScalingRun, mode: str = "mmgen", metric: str = "fad_inf") -> dict:
    """The claims-table row: the smallest fraction below 1 at which ``mode`` beats the text-only model trained on
    all the data by the one rule on ``metric``; when none does, the effect at the smallest fraction tested. The
    evidence lists every fraction's effect and verdict."""
    systems = run.systems[run.systems["mode"] == mode].sort_values("fraction")
    if systems.empty:
        raise ValueError(f"mode {mode!r} was not trained on fractions here (claims.fraction_modes: {run.modes})")
    effects = {float(s["fraction"]): run.boot.difference(s["system"], run.baseline, metric,
                                                         LOWER_IS_BETTER.get(metric, False))
               for _, s in systems.iterrows()}
    clips = dict(zip(systems["fraction"].astype(float), systems["train_clips"]))
    total = int(run.fractions["train_clips"].max()) if len(run.fractions) else clips.get(1.0, 0)
    won = [f for f, e in effects.items() if f < 1.0 and e.verdict == "reproduced"]
    pick = min(won) if won else min(effects)
    listing = "; ".join(f"{f:g} ({clips[f]} clips): {e.estimate:+.3f} [{e.low:+.3f}, {e.high:+.3f}] {e.verdict}"
                        for f, e in effects.items())
    said = (f"smallest fraction at which {mode} beats the text-only model trained on all {total} clips: {pick:g} "
            f"({clips[pick]} clips)" if won else
            f"no fraction below 1 reached 'reproduced' (fractions tested: {', '.join(f'{f:g}' for f in effects)}); "
            f"the row shows the smallest, {pick:g} ({clips[pick]} clips)")
    note = (f"{said}; every fraction, {metric}(text @ 1) − {metric}({mode} @ f): {listing}; each UNet trained "
            f"{run.steps} steps, {len(run.measured[run.baseline].frames)} training seeds per point; the aligner, melody "
            "database and training conditions of each fraction use only its clips, the decoder is shared (notebook 09)")
    head = effects[pick]
    head = replace(head, name=f"{head.name} at fraction {pick:g} ({clips[pick]} of {total} training clips)")
    support = [run.boot.difference(system_name(mode, pick), run.baseline, m, LOWER_IS_BETTER.get(m, False))
               for m in SCALING_METRICS if m != metric]
    return _row(SMALL_DATA_CLAIM, [head, *support], note)
