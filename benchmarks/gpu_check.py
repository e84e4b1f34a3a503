"""GPU check (`make test-gpu`, `.ci/gpu`): one full-size (``paper`` profile) training step of every
model and one sampling pass, on CUDA, with time and peak GPU memory; written to results/gpu/.

Models are built at the paper's sizes with random weights and random inputs of the paper's shapes
(:mod:`mmgen_core.dry_run`): this measures the code path, speed and memory on the GPU, not quality. Where the
paper's text model (a local RoBERTa folder) is absent, the aligner's text tower is RoBERTa-base's shape with
random weights, and the table says so.
Without a CUDA GPU it prints why and exits 0.

Run: `python benchmarks/gpu_check.py [--profile paper] [--steps 3]`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmgen_core.audio import clip_frames
from mmgen_core.checkpoints import seed_everything
from mmgen_core.compute import ComputeConfig
from mmgen_core.config import load_profile, project_root
from mmgen_core.decoder import Decoder, VAEConfig, Vocoder, VocoderConfig, build_hifigan, build_vae
from mmgen_core.diffusion import DiffusionConfig, build_unet, sample_latents
from mmgen_core.diffusion.conditioning import cond_dim, roll_channels
from mmgen_core.dry_run import dry_run_jobs
from mmgen_core.pipeline import GenerationConfig
from mmgen_core.pipeline.experiments import LONG_CLIP_SECONDS
from mmgen_core.reporting import save_table
from mmgen_core.training import train


def _reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _peak_gib(dev: torch.device) -> float:
    """Peak GPU memory since the last reset (NaN on the CPU)."""
    return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--steps", type=int, default=3, help="training steps per model (the first warms up)")
    ap.add_argument("--cpu", action="store_true", help="run the same checks on the CPU (tests; use --profile smoke)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available() and not args.cpu:
        why = "torch is a CPU build" if torch.version.cuda is None else "no CUDA device is visible"
        print(f"[mmgen] GPU check skipped: {why} (torch {torch.__version__}).")
        return 0
    profile = load_profile(args.profile)
    compute = profile.section("compute", ComputeConfig)
    dev = torch.device("cpu" if args.cpu else "cuda")
    gpu = (f"{torch.cuda.get_device_name(dev)} ({torch.cuda.get_device_properties(dev).total_memory / 2**30:.0f} GiB)"
           if dev.type == "cuda" else "the CPU")
    print(f"[mmgen] GPU check on {gpu}, profile {profile.name}, {compute.label(dev)}", flush=True)
    rng, rows = np.random.default_rng(0), []
    for job in dry_run_jobs(profile, rng):
        seed_everything(0)
        _reset_peak(dev)
        loop = replace(job.loop, steps=args.steps, warmup_steps=0, log_every=1, eval_every=0, checkpoint_every=10**9)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = train(job.model, job.loss_fn, loop, tmp, batch_size=job.batch_size, compute=compute, progress=False)
            _sync(dev)
        dt = (time.perf_counter() - t0) / args.steps
        rows.append({"model": job.name, "what": f"train step, batch {job.batch_size}", "seconds": dt,
                     "samples/s": res.samples_per_s, "peak GPU GiB": _peak_gib(dev),
                     "note": job.note})
        print(rows[-1], flush=True)
        job.model.cpu()
    diff, vae_cfg = profile.section("diffusion", DiffusionConfig), profile.section("vae", VAEConfig)
    unet = build_unet(diff, "mmgen+roll", vae_cfg.latent_channels).to(dev).eval()
    compute.prepare(unet, dev, compile=False)
    hifigan = build_hifigan(profile.section("vocoder", VocoderConfig)).eval()
    decoder = Decoder(build_vae(vae_cfg).eval(), Vocoder("hifigan", hifigan)).to(dev)
    gen = profile.section("generation", GenerationConfig)
    t = clip_frames(LONG_CLIP_SECONDS) // 4
    cond = torch.randn(1, cond_dim(diff, "mmgen+roll"))
    roll = torch.rand(1, roll_channels(diff.roll), t, 16)
    for sampler, steps in dict.fromkeys([("ddim", 100), (gen.sampler, gen.steps)]):
        for timed in (False, True):  # the first pass warms up
            _reset_peak(dev)
            t0 = time.perf_counter()
            with compute.autocast(dev):
                lat = sample_latents(unet, diff, cond, roll, t, sampler=sampler, steps=steps if timed else 2,
                                     guidance=gen.guidance, progress=False)
                wav = decoder.vocode(decoder.decode(lat))
            _sync(dev)
        dt = time.perf_counter() - t0
        rows.append({"model": "UNet + VAE + vocoder", "what": f"{LONG_CLIP_SECONDS:g} s, {sampler.upper()}-{steps}",
                     "seconds": dt, "samples/s": float("nan"), "RTF": dt / LONG_CLIP_SECONDS,
                     "peak GPU GiB": _peak_gib(dev), "note": f"{wav.shape[-1]} samples"})
        print(rows[-1], flush=True)
    results = Path(project_root()) / "results" / ("gpu" if dev.type == "cuda" else f"{profile.name}")
    path = save_table(pd.DataFrame(rows), results, "gpu_check" if dev.type == "cuda" else "gpu_check_on_cpu",
                      note=f"`make test-gpu` on {gpu}: profile {profile.name} sizes, random weights and inputs, "
                           f"{compute.label(dev)}; training: mean seconds per step over {args.steps} steps "
                           f"(the first warms up); generation: one {LONG_CLIP_SECONDS:g} s clip after a warm-up.")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
