"""`make bench`: speed and memory of every stage on this machine, for one profile.

Prints: fresh pipeline load time, generation real-time factor per sampler (10.24 s of audio),
retrieval queries/s, Basic Pitch × real time, training samples/s per stage (as measured when each
stage trained) and peak memory; also written to results/<profile>/tables/bench.md. Stages missing
from artifacts/ are trained first (that time is not reported as load time).
Run: `make bench PROFILE=tiny` or `python benchmarks/run_all.py --profile tiny`.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--seconds", type=float, default=None, help="audio length for the real-time factor (default 10.24)")
    args = ap.parse_args()

    from mmgen_core.config import load_profile
    from mmgen_core.melody import default_extractor
    from mmgen_core.pipeline.experiments import LONG_CLIP_SECONDS, time_generation
    from mmgen_core.stages import Stages

    profile = load_profile(args.profile)
    args.seconds = args.seconds or LONG_CLIP_SECONDS
    rows: list[tuple[str, str]] = []
    say = lambda k, v: (rows.append((k, v)), print(f"{k:<48} {v}", flush=True))  # noqa: E731
    say("profile / torch threads", f"{profile.name} / {torch.get_num_threads()}")

    stages = Stages(profile)
    manifest, run, dec_report = stages.dataset, stages.alignment(), stages.decoder_report
    stages.pipelines()  # trains whatever is missing, outside the timings

    t0 = time.perf_counter()
    pipe = Stages(profile, train_missing=False, progress=False).pipeline("mmgen+roll")
    say("pipeline load (artifacts → memory)", f"{time.perf_counter() - t0:.2f} s")

    prompt = manifest.items("test")[0].caption
    for sampler, steps in (("ddim", 100), ("ddim", 20), ("dpm", 20)):
        dt = time_generation(pipe, prompt, seconds=args.seconds, seed=0, sampler=sampler, steps=steps)
        say(f"generation {sampler.upper()}-{steps}, {args.seconds:.2f} s audio", f"{dt:.1f} s (RTF {dt / args.seconds:.2f})")

    stage = stages.database
    q = np.random.default_rng(0).standard_normal((1000, stage.db.dim)).astype(np.float32)
    stage.db.search(q[:10], k=1)
    t0 = time.perf_counter()
    stage.db.search(q, k=1)
    say(f"retrieval ({stage.config.label}, {len(stage.db)} melodies, batch 1000)",
        f"{1000 / (time.perf_counter() - t0):,.0f} queries/s")

    from mmgen_core.audio import SAMPLE_RATE, load_audio

    wavs = [load_audio(manifest.audio_path(it)) for it in manifest.items("test")[:16]]
    ex = default_extractor()
    ex.notes(wavs[:1])
    t0 = time.perf_counter()
    ex.notes(wavs)
    dur = sum(len(w) for w in wavs) / SAMPLE_RATE
    say("Basic Pitch (ONNX), 16 clips", f"{dur / (time.perf_counter() - t0):.1f}× real time")

    say("train: alignment (tri-modal)", f"{run.log.samples_per_s:.1f} samples/s")
    say("train: VAE", f"{dec_report.vae_samples_per_s:.1f} samples/s")
    say("train: HiFi-GAN vocoder", f"{dec_report.vocoder_samples_per_s:.1f} samples/s")
    for mode in stages.diffusion_config.modes:
        _, rep = stages.unet(mode)
        say(f"train: UNet ({mode})", f"{rep['samples_per_s']:.1f} samples/s")
    say("peak memory (RSS)", f"{peak_rss_mb():,.0f} MB")
    import pandas as pd

    from mmgen_core.reporting import save_table

    path = save_table(pd.DataFrame(rows, columns=["measure", "value"]), profile.results, "bench",
                      note=f"`make bench PROFILE={profile.name}` on this machine ({torch.get_num_threads()} torch threads).")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
