"""`make bench`: speed, memory and quality of every stage on this machine, fp32 eager against the
profile's compute settings, measured side by side in the same run.

Training (aligner, VAE, vocoder, mmgen+roll UNet): the same seeded model on the same batches for
``--steps`` steps under each setting: samples/s, the mean loss of the last quarter of the steps, and
the peak memory of the process. Sampling: one 10.24 s clip's real-time factor, and the chroma
similarity of validation clips with their own melody, for fp32-eager DDIM-20 (the former default),
the profile's default sampler and DDIM-100 (the paper's). Every measurement runs in a fresh process,
so that peak memory is its own. Also: pipeline load time, retrieval queries/s, Basic Pitch speed.
UNet training step split by phase (forward, backward, optimiser, EMA) and two UNet runs one after the other
against both at once (``compute.parallel_training``). Written to results/<profile>/tables/bench.md. Missing
stages are trained first, outside the timings.

Run: `make bench PROFILE=tiny` or `python benchmarks/run_all.py --profile tiny [--steps 60]`.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import torch

from mmgen_core.audio import SAMPLE_RATE, load_audio
from mmgen_core.compute import FP32_EAGER, ComputeConfig
from mmgen_core.config import load_profile, parse_override
from mmgen_core.evaluation.intervals import paired_interval
from mmgen_core.evaluation.speed import (
    TRAINED_PARTS,
    bench_sampling,
    bench_training,
    peak_rss_mb,
    unet_step_split,
)
from mmgen_core.melody import default_extractor
from mmgen_core.pipeline import GenerationConfig
from mmgen_core.reporting import save_table
from mmgen_core.stages import Stages


def _stages(profile: str, compute: ComputeConfig) -> Stages:
    """The profile's built stages (nothing is trained in a child), computing as ``compute`` says."""
    stages = Stages(load_profile(profile), train_missing=False, progress=False)
    stages.compute_config = compute
    return stages


def _train_child(profile: str, compute: ComputeConfig, part: str, steps: int) -> dict:
    return bench_training(_stages(profile, compute), part, compute, steps)


def _sample_child(profile: str, compute: ComputeConfig, sampler: str, steps: int, clip_x0: float, clips: int) -> dict:
    stages = _stages(profile, compute)
    return bench_sampling(stages.pipeline("mmgen+roll"), stages.dataset, sampler=sampler, steps=steps, clip_x0=clip_x0,
                          clips=clips)


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new spawned process (its own peak memory, no warm caches from earlier runs)."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def bench_train(profile: str, default: ComputeConfig, parts: list[str], steps: int, say) -> pd.DataFrame:
    rows = []
    for part in parts:
        base = in_fresh_process(_train_child, profile, FP32_EAGER, part, steps)
        new = in_fresh_process(_train_child, profile, default, part, steps)
        rows.append({"part": part, "fp32 samples/s": base["samples/s"], "default samples/s": new["samples/s"],
                     "speed ×": new["samples/s"] / base["samples/s"], f"fp32 loss (last {steps // 4})": base["loss"],
                     "default loss": new["loss"], "loss ratio": new["loss"] / base["loss"],
                     "fp32 peak MB": base["peak MB"], "default peak MB": new["peak MB"],
                     "memory ×": new["peak MB"] / base["peak MB"]})
        r = rows[-1]
        say(f"train {part}: {r['fp32 samples/s']:.1f} → {r['default samples/s']:.1f} samples/s "
            f"(×{r['speed ×']:.2f}), loss {r[f'fp32 loss (last {steps // 4})']:.4f} → {r['default loss']:.4f}, "
            f"peak {r['fp32 peak MB']:,.0f} → {r['default peak MB']:,.0f} MB")
    return pd.DataFrame(rows)


def _split_child(profile: str, compute: ComputeConfig, steps: int) -> dict:
    return unet_step_split(_stages(profile, compute), compute, steps)


def bench_unet_split(profile: str, default: ComputeConfig, steps: int, say) -> pd.DataFrame:
    """Where one UNet training step's time goes, fp32 eager against the profile's compute settings."""
    rows = []
    for label, compute in (("fp32 eager", FP32_EAGER), (f"default ({default.label()})", default)):
        split = in_fresh_process(_split_child, profile, compute, steps)
        rows.append({"setting": label, **{f"{k} ms": v for k, v in split.items()}})
        say(f"UNet step {label}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in split.items()))
    return pd.DataFrame(rows)


def bench_parallel(profile: str, default: ComputeConfig, steps: int, unet_steps: int, say) -> pd.DataFrame:
    """Two UNet runs one after the other with every core (the default) against both at once, one process each with
    the cores shared out (``compute.parallel_training``): samples/s of the pair, and the minutes a pair of
    ``unet_steps``-step runs takes either way (steps at the measured rate; process start not included)."""
    cores = os.cpu_count() or 1
    one = in_fresh_process(_train_child, profile, default, "unet", steps)
    shared = replace(default, threads=max(1, cores // 2))
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        pair = [job.result() for job in [pool.submit(_train_child, profile, shared, "unet", steps) for _ in range(2)]]
    batch = Stages(load_profile(profile), train_missing=False, progress=False).diffusion_config.batch_size
    rows = [{"setting": f"one after the other, {torch.get_num_threads()} threads", "samples/s": one["samples/s"],
             f"minutes for two {unet_steps}-step UNets": 2 * unet_steps * batch / one["samples/s"] / 60},
            {"setting": f"two at once, {shared.threads} thread{'s' * (shared.threads > 1)} each",
             "samples/s": sum(r["samples/s"] for r in pair),
             f"minutes for two {unet_steps}-step UNets": unet_steps * batch / min(r["samples/s"] for r in pair) / 60}]
    table = pd.DataFrame(rows)
    table["speed ×"] = table["samples/s"] / table["samples/s"].iloc[0]
    say(f"UNet training, two runs: {rows[0]['samples/s']:.1f} samples/s one after the other, "
        f"{rows[1]['samples/s']:.1f} at once (×{table['speed ×'].iloc[1]:.2f})")
    return table


def bench_sample(profile: str, default: ComputeConfig, gen: GenerationConfig, clips: int, say) -> pd.DataFrame:
    mine = f"{gen.sampler.upper()}-{gen.steps}" + (f", clip x0 {gen.clip_x0:g}" if gen.clip_x0 else "")
    settings = [("fp32 eager, DDIM-20 (former default)", FP32_EAGER, "ddim", 20, 0.0),
                (f"default ({default.label()}), {mine}", default, gen.sampler, gen.steps, gen.clip_x0),
                (f"default ({default.label()}), DDIM-100 (paper)", default, "ddim", 100, 0.0)]
    rows, base = [], None
    for label, compute, smp, n, clip in settings:
        out = in_fresh_process(_sample_child, profile, compute, smp, n, clip, clips)
        base = base or out
        d, lo, hi = paired_interval(out["chroma"], base["chroma"])
        rows.append({"setting": label, "seconds per 10.24 s": out["seconds"], "RTF": out["RTF"],
                     "speed ×": base["seconds"] / out["seconds"],
                     f"chroma ({clips} valid clips)": np.mean(out["chroma"]),
                     "Δ chroma [95% CI]": f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]", "mel peak": out["mel peak"],
                     "peak MB": out["peak MB"]})
        say(f"sample {label}: RTF {out['RTF']:.3f}, chroma {np.mean(out['chroma']):.3f} "
            f"(Δ {d:+.3f} [{lo:+.3f}, {hi:+.3f}])")
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--steps", type=int, default=60, help="training steps per part and setting")
    ap.add_argument("--parts", default=",".join(TRAINED_PARTS), help=f"comma-separated subset of {TRAINED_PARTS}")
    ap.add_argument("--clips", type=int, default=8, help="validation clips for the sampling quality")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a profile value, e.g. --set output.folder=bench (where the tables go)")
    args = ap.parse_args()

    profile = load_profile(args.profile, dict(parse_override(o) for o in args.overrides))
    stages = Stages(profile)
    default = stages.compute_config
    lines: list[str] = []
    say = lambda text: (lines.append(text), print(text, flush=True))  # noqa: E731
    say(f"profile {profile.name}, {torch.get_num_threads()} torch threads; default compute: {default.label()}")
    stages.pipelines()  # trains whatever is missing, outside the timings
    manifest = stages.dataset

    train = bench_train(profile.name, default, [p for p in args.parts.split(",") if p], args.steps, say)
    split = bench_unet_split(profile.name, default, max(4, args.steps // 3), say)
    parallel = bench_parallel(profile.name, default, args.steps, stages.diffusion_config.steps, say)
    sample = bench_sample(profile.name, default, stages.generation_config, args.clips, say)

    other = []
    t0 = time.perf_counter()
    Stages(profile, train_missing=False, progress=False).pipeline("mmgen+roll")
    other.append(("pipeline load (artifacts → memory)", f"{time.perf_counter() - t0:.2f} s"))
    db = stages.database
    q = np.random.default_rng(0).standard_normal((1000, db.db.dim)).astype(np.float32)
    db.db.search(q[:10], k=1)
    t0 = time.perf_counter()
    db.db.search(q, k=1)
    other.append((f"retrieval ({db.config.label}, {len(db.db)} melodies, batch 1000)",
                  f"{1000 / (time.perf_counter() - t0):,.0f} queries/s"))
    wavs = [load_audio(manifest.audio_path(it)) for it in manifest.items("valid")[:16]]
    ex = default_extractor()
    ex.notes(wavs[:1])
    t0 = time.perf_counter()
    ex.notes(wavs)
    other.append((f"Basic Pitch (ONNX), {len(wavs)} clips",
                  f"{sum(len(w) for w in wavs) / SAMPLE_RATE / (time.perf_counter() - t0):.1f}× real time"))
    other.append(("peak memory of this process (RSS)", f"{peak_rss_mb():,.0f} MB"))
    for k, v in other:
        say(f"{k:<48} {v}")

    note = (f"`make bench PROFILE={profile.name}` on this machine ({torch.get_num_threads()} torch threads). "
            f"Training: {args.steps} steps per part from the same seeded initialisation and batches, fp32 eager "
            f"({FP32_EAGER.label()}, unfused optimiser) vs the profile's compute settings ({default.label()}; "
            f"{asdict(default)}); loss = mean of the last quarter of the steps. Sampling: one 10.24 s clip after "
            f"a warm-up; chroma on {args.clips} validation clips with their own melody, Δ paired over clips "
            f"against the first row. Each measurement in a fresh process.")
    save_table(train, profile.results, "bench_training", note=note)
    save_table(split, profile.results, "bench_unet_step",
               note=f"{note} Milliseconds per mmgen+roll UNet training step by phase (mean of "
                    f"{max(4, args.steps // 3)} steps after 3 of warm-up; the loop without Accelerate).")
    save_table(parallel, profile.results, "bench_parallel_training",
               note=f"{note} Two mmgen+roll UNet runs of {args.steps} steps: one process with every core, then two "
                    f"processes at once with the cores shared out (compute.parallel_training); minutes extrapolated "
                    f"from the measured rate, without process start (~5 s per process).")
    save_table(sample, profile.results, "bench_sampling", note=note)
    path = save_table(pd.DataFrame(other, columns=["measure", "value"]), profile.results, "bench", note=note)
    print(f"written to {path.parent}")


if __name__ == "__main__":
    main()
