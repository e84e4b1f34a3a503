"""`make quality`: where generation quality goes, on validation clips (issue: music that sounds like its instruments).

Three parts, each written to ``results/<profile>/tables/quality_<part>.{md,csv}`` as it finishes:

* ``reference`` — real clips of another split and the decoder ceiling (the floors);
* ``training`` — each recipe's UNet scored along its training run (steps, CPU minutes), and the figure
  ``figures/quality_vs_training.png``;
* ``generation`` — the profile's UNet of ``--mode`` under guidance 1–5 and other samplers/step counts;
* ``figure`` — every ``quality_training*.csv`` written so far in one ``figures/quality_vs_training.png`` (with
  ``--tag``: that study's table only, and ``--reference``'s target line).

Run: ``python scripts/quality_study.py --profile tiny --parts reference,training --recipes eps,minsnr``.
Recipes are diffusion overrides (:data:`mmgen_core.pipeline.quality.RECIPES`); every UNet is an artifact
keyed by its recipe, so a rerun reads what it already trained.
"""
from __future__ import annotations

import argparse
import time

import matplotlib.pyplot as plt
import pandas as pd

from mmgen_core.config import load_profile, parse_override
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.pipeline.quality import (
    RECIPES,
    QualityConfig,
    generation_grid,
    load_probe,
    minutes_to_reach,
    plot_training_curves,
    reference_rows,
    training_curve,
)
from mmgen_core.reporting import save_figure, save_table
from mmgen_core.stages import Stages

GENERATION_SETTINGS = ([{"guidance": w} for w in (1.0, 2.0, 3.0, 4.0, 5.0)]
                       + [{"sampler": "ddim", "steps": n} for n in (4, 16, 32)]
                       + [{"sampler": "dpm-sde", "steps": 8}, {"sampler": "dpm", "steps": 16},
                          {"clip_x0": 0.0}])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--parts", default="reference,training,generation")
    ap.add_argument("--mode", default="text", help="conditioning mode of the training curves and the grid")
    ap.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated subset of {list(RECIPES)}")
    ap.add_argument("--checkpoints", default="200,400,800", help="steps at which each recipe's run is scored")
    ap.add_argument("--train-seeds", default="",
                    help="UNet training seeds per recipe, e.g. 0,1 (default: the profile's seed)")
    ap.add_argument("--reference", default="", help="a recipe whose last checkpoint the others must reach: writes "
                    "quality_reach<tag> (first checkpoint as good on FAD∞ and richness, and its CPU minutes)")
    ap.add_argument("--reference-checkpoints", default="", help="the reference recipe's own checkpoints, e.g. "
                    "400,800,1600: the target is its full run while the others are scored on shorter ones")
    ap.add_argument("--clips", type=int, default=None,
                    help="validation clips per row (default: the profile's quality.clips)")
    ap.add_argument("--tag", default="", help="suffix of the table names (to keep several studies apart)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a profile value, e.g. --set diffusion.roll=chroma (repeatable)")
    args = ap.parse_args()

    profile = load_profile(args.profile, dict(parse_override(o) for o in args.overrides))
    stages = Stages(profile)
    eval_cfg = profile.section("evaluation", EvaluationConfig)
    args.clips = profile.section("quality", QualityConfig).clips if args.clips is None else args.clips
    probe = load_probe(stages.dataset, "valid", args.clips)
    parts = args.parts.split(",")
    out, tag = profile.results, args.tag
    where = (f"{len(probe.refs)} validation clips, {stages.generation_config.sampler}-{stages.generation_config.steps}"
             f" clip x0 {stages.generation_config.clip_x0:g}, guidance {stages.generation_config.guidance:g}, "
             f"1 candidate, seed 0; backbone {eval_cfg.backbone}. Command: `python scripts/quality_study.py "
             f"--profile {profile.name} --parts {args.parts} --mode {args.mode} --recipes {args.recipes} "
             f"--checkpoints {args.checkpoints} --clips {args.clips}"
             + (f" --train-seeds {args.train_seeds}" if args.train_seeds else "")
             + (f" --reference {args.reference}" if args.reference else "")
             + (f" --reference-checkpoints {args.reference_checkpoints}" if args.reference_checkpoints else "")
             + "".join(f" --set {o}" for o in args.overrides) + "`.")
    changes = [o for o in args.overrides if not o.startswith("output.")]  # where results go changes no run
    suffix = f" [{', '.join(changes)}]" if changes else ""  # recipe labels, e.g. v-minsnr [diffusion.roll=chroma]
    t0 = time.time()
    if "reference" in parts:
        ref = reference_rows(stages, probe, eval_cfg, load_probe(stages.dataset, "train", args.clips))
        save_table(ref, out, f"quality_reference{tag}", where)
        print(ref.to_string(), flush=True)
    if "training" in parts:
        checkpoints = [int(s) for s in args.checkpoints.split(",")]
        ref_checkpoints = [int(s) for s in args.reference_checkpoints.split(",") if s]
        train_seeds = [int(s) for s in args.train_seeds.split(",")] if args.train_seeds else [None]
        curves = []
        reach = None
        for name in args.recipes.split(","):
            label = name + suffix
            for train_seed in train_seeds:
                at = ref_checkpoints if name == args.reference and ref_checkpoints else checkpoints
                curves.append(training_curve(stages, args.mode, RECIPES[name], at, probe, eval_cfg,
                                             name=label, train_seed=train_seed))
                table = pd.concat(curves, ignore_index=True)
                save_table(table, out, f"quality_training{tag}", where)
                print(curves[-1].to_string(), flush=True)
                if args.reference and args.reference + suffix in set(table["recipe"]):  # after every run, so a
                    reach = minutes_to_reach(table, args.reference + suffix)             # study cut short says
                    save_table(reach, out, f"quality_reach{tag}", where + f" Reference: {args.reference} at its "
                               "last checkpoint; a recipe reaches it when its mean over training seeds is as good "
                               "on FAD∞ and harmonic richness.")
        if reach is not None:
            print(reach.to_string(), flush=True)
        ref_csv = out / "tables" / f"quality_reference{tag}.csv"
        ref = pd.read_csv(ref_csv) if ref_csv.exists() else None
        save_figure(plot_training_curves(table, ref, target=args.reference + suffix if reach is not None else None),
                    out, f"quality_vs_training{tag}")
        plt.close("all")
    if "figure" in parts:
        tables = profile.results / "tables"
        runs = pd.concat([pd.read_csv(p) for p in sorted(tables.glob(f"quality_training{tag or '*'}.csv"))],
                         ignore_index=True)
        runs = runs if "train_seed" in runs else runs.assign(train_seed=0)
        runs = runs.fillna({"train_seed": 0}).drop_duplicates(["recipe", "mode", "train_seed", "steps"], keep="first")
        runs = runs.sort_values(["recipe", "steps"])
        ref_csv = tables / f"quality_reference{tag}.csv"
        save_figure(plot_training_curves(runs, pd.read_csv(ref_csv) if ref_csv.exists() else None,
                                         target=args.reference + suffix if args.reference else None), out,
                    f"quality_vs_training{tag}")
        plt.close("all")
    if "generation" in parts:
        pipe = stages.pipeline(args.mode)
        grid = generation_grid(stages, pipe, probe, GENERATION_SETTINGS, eval_cfg)
        save_table(grid, out, f"quality_generation{tag}", where)
        print(grid.to_string(), flush=True)
    print(f"done in {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
