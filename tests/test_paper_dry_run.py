"""The ``paper`` profile at full size on the CPU: every model, built with random weights, has its published size,
trains one step on two tiny random clips, (the UNet) takes a sampling step, and saves and loads exactly.

One plain step of each loop's optimiser stands in for :func:`mmgen_core.training.train`, which would also write a
``last/`` checkpoint with the optimiser state (5 GB for the UNet). Sizes, time (wall and CPU) and peak memory
per model are printed (``pytest -s`` shows them)."""
from __future__ import annotations

import gc
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from transformers import SpeechT5HifiGan

from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.stage import load_trained
from mmgen_core.alignment.towers import RANDOM_ROBERTA
from mmgen_core.audio import SAMPLE_RATE
from mmgen_core.checkpoints import save_state, seed_everything
from mmgen_core.config import load_profile
from mmgen_core.decoder import Vocoder, load_vae
from mmgen_core.diffusion import LATENT_BINS, DiffusionConfig, build_unet, load_unet, sample_latents
from mmgen_core.dry_run import DryRunJob, dry_run_jobs
from mmgen_core.pipeline import GenerationConfig
from mmgen_core.training import OPTIMIZERS, step_generator

M = 1e6
# Published sizes. Hub checkpoints are fp32, so parameters = bytes / 4; the Hub shows sizes to 3 digits (±0.3%).
ROBERTA_BASE = 125 * M  # fairseq examples/roberta/README.md: roberta.base, 125M
CLAP_HTSAT_BASE = 776e6 / 4  # laion/larger_clap_music model.safetensors, 776 MB: HTSAT-base, RoBERTa-base, projections
CLAP_PROJECTIONS = 1.44 * M  # its two ClapProjectionLayers, Linear(d, 512) → Linear(512, 512), d = 1024 and 768
HTSAT_BASE = CLAP_HTSAT_BASE - ROBERTA_BASE - CLAP_PROJECTIONS  # ≈ 67.6M, derived: hence a wider tolerance
AUDIOLDM_M_UNET = 1.66e9 / 4  # cvssp/audioldm-m-full unet/diffusion_pytorch_model.safetensors, 1.66 GB = 415M; with
# its CLAP text encoder (125M), VAE and vocoder it is the model card's 652M (Table 1: audioldm-m-full)
AUDIOLDM_VAE = 222e6 / 4  # cvssp/audioldm-m-full vae/diffusion_pytorch_model.safetensors, 222 MB
AUDIOLDM_HIFIGAN = 221e6 / 4  # vocoder/model.safetensors, 221 MB: one file (sha256 d9dc6513…) in
# cvssp/audioldm-s-full-v2, audioldm-l-full and audioldm2, with the config of paper.yaml's vocoder section
AUDIOLDM_M_FILM, AUDIOLDM_M_LATENT = 512, 8  # AudioLDM-M's FiLM input (one CLAP embedding) and input channels
TOLERANCE = 0.01  # relative; 0.02 for the derived HTSAT-base

BATCH = 2  # the smallest contrastive batch
FRAMES = 32  # mel frames (0.32 s): 8 latent frames, the shortest the UNet's three down-samplings take
GIB = 2**30


def _params(*modules: torch.nn.Module) -> int:
    """Parameters of the modules together."""
    return sum(p.numel() for m in modules for p in m.parameters())


def _sizes(name: str, m: torch.nn.Module) -> list[tuple[str, int, float, float]]:
    """(part, our parameters, published, tolerance) for one model."""
    if isinstance(m, CLMP):
        clap = (m.audio.encoder, m.text.encoder, m.audio_proj, m.text_proj)
        return [("HTSAT-base audio tower", _params(m.audio.encoder), HTSAT_BASE, 2 * TOLERANCE),
                ("RoBERTa-base text tower", _params(m.text.encoder), ROBERTA_BASE, TOLERANCE),
                ("audio + text towers + projections (= CLAP)", _params(*clap), CLAP_HTSAT_BASE, TOLERANCE)]
    if isinstance(m, UNet2DConditionModel):  # less what widening AudioLDM-M's inputs to this mode adds
        film, conv = m.class_embedding, m.conv_in
        widened = ((film.in_features - AUDIOLDM_M_FILM) * film.out_features
                   + (conv.in_channels - AUDIOLDM_M_LATENT) * conv.weight[0, 0].numel() * conv.out_channels)
        return [(f"{name} less {widened} (wider inputs)", _params(m) - widened, AUDIOLDM_M_UNET, TOLERANCE)]
    published = AUDIOLDM_HIFIGAN if isinstance(m, SpeechT5HifiGan) else AUDIOLDM_VAE
    return [(name, _params(m), published, TOLERANCE)]


def _train_step(job: DryRunJob) -> float:
    """One step of the job's optimiser (fused, as ``compute.fused_optimizer`` trains) on its loss; asserts that
    every parameter got a gradient and moved."""
    params = [p for p in job.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = OPTIMIZERS[job.loop.optimizer](params, lr=job.loop.lr, weight_decay=job.loop.weight_decay, fused=True)
    job.model.train()
    loss, _ = job.loss_fn(job.model, step_generator(0, 0), 0)
    loss.backward()
    opt.step()
    graded = [(p, b) for p, b in zip(params, before) if p.grad is not None and p.grad.any()]
    assert len(graded) == len(params), f"{job.name}: {len(params) - len(graded)} parameters got no gradient"
    assert all(not torch.equal(p, b) for p, b in graded), f"{job.name}: a parameter did not move"
    job.model.zero_grad(set_to_none=True)
    return loss.item()


def _sample_step(unet: UNet2DConditionModel, diff: DiffusionConfig, gen: GenerationConfig) -> torch.Tensor:
    """One guided DDIM step from noise, as the pipeline samples, under a random condition (and roll) of its width."""
    t, extra = FRAMES // 4, unet.config.in_channels - unet.config.out_channels  # extra: the roll's channels
    cond = torch.randn(1, unet.config.projection_class_embeddings_input_dim)
    roll = torch.rand(1, extra, t, LATENT_BINS) if extra else None
    return sample_latents(unet.eval(), diff, cond, roll, t, steps=1, guidance=gen.guidance,
                          guidance_form=gen.guidance_form, eta=gen.eta, progress=False)


def _reload(model: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """Write ``model`` with its stage's writer and read it back with its stage's loader."""
    if isinstance(model, CLMP):
        save_state(folder, {"model": model.trained_parts().state_dict()})
        return load_trained(CLMP(model.cfg, model.audio.clip_samples / SAMPLE_RATE), folder)
    if isinstance(model, SpeechT5HifiGan):
        Vocoder("hifigan", model).save_pretrained(folder)
        return Vocoder.from_pretrained(folder).hifigan
    unet = isinstance(model, UNet2DConditionModel)
    model.save_pretrained(folder / ("unet" if unet else "vae"))
    return (load_unet if unet else load_vae)(folder)


def _peak_gib() -> float:
    """Peak resident memory since the last :func:`_reset_peak` (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (GIB if sys.platform == "darwin" else GIB / 1024)


def _reset_peak() -> None:
    """Start a new peak for ru_maxrss (Linux: /proc/self/clear_refs), so each model's peak is its own."""
    clear = Path("/proc/self/clear_refs")
    if clear.exists():
        clear.write_text("5")


class _Clock:
    """Wall and CPU (all threads) seconds per phase: CPU seconds stay meaningful on a shared machine."""
    def __init__(self):
        self.phases: list[str] = []
        self._last = (time.perf_counter(), time.process_time())

    def lap(self, phase: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.phases.append(f"{phase} {now[0] - self._last[0]:5.1f} s ({now[1] - self._last[1]:5.1f} CPU s)")
        self._last = now


def _check_sizes(name: str, model: torch.nn.Module, rows: list[str]) -> None:
    """Assert each part's size against the published one, within its tolerance; the comparison joins ``rows``."""
    for part, ours, published, tol in _sizes(name, model):
        rows.append(f"  {part:<46} ours {ours / M:8.2f}M  published {published / M:8.2f}M  "
                    f"({ours / published - 1:+.2%}, tolerance ±{tol:.0%})")
        assert abs(ours / published - 1) <= tol, rows[-1]


@pytest.fixture(scope="module")
def paper():
    return load_profile("paper", {"alignment.text_model": RANDOM_ROBERTA})


@pytest.mark.slow
def test_paper_models_at_full_size_train_sample_save_and_load(paper, tmp_path):
    diff, gen = paper.section("diffusion", DiffusionConfig), paper.section("generation", GenerationConfig)
    jobs = dry_run_jobs(paper, np.random.default_rng(0), batch_size=BATCH, frames=FRAMES)
    start, rows = time.perf_counter(), []
    while True:
        gc.collect()
        _reset_peak()
        seed_everything(0)
        clock = _Clock()
        job = next(jobs, None)
        if job is None:
            break
        clock.lap("build")
        _check_sizes(job.name, job.model, rows)
        loss = _train_step(job)
        assert np.isfinite(loss), f"{job.name}: loss {loss}"
        clock.lap(f"train step (loss {loss:.3g})")
        if isinstance(job.model, UNet2DConditionModel):
            lat = _sample_step(job.model, diff, gen)
            assert lat.shape == (1, job.model.config.out_channels, FRAMES // 4, LATENT_BINS) and lat.isfinite().all()
            clock.lap("sample step")
        loaded = _reload(job.model, tmp_path / job.name)
        saved, back = job.model.state_dict(), loaded.state_dict()
        assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved), job.name
        clock.lap("save + load")
        shutil.rmtree(tmp_path / job.name)  # pytest keeps recent tmp folders: do not leave gigabytes there
        rows.append(f"{job.name:<18} " + "  ".join(clock.phases) + f"  peak RSS {_peak_gib():4.1f} GiB")
        del job, loaded, saved, back
    print(f"\npaper profile at full size, CPU ({torch.get_num_threads()} threads), batch {BATCH}, {FRAMES} mel frames:",
          *rows, f"total {time.perf_counter() - start:.0f} s", sep="\n")


@pytest.mark.slow
def test_paper_mmgen_unet_has_its_size_and_samples(paper):
    """The [q, r] UNet without roll channels: the same network as ``mmgen+roll`` less 16 input channels, so its
    training step and save/load above cover it; here its size and a sampling step without a roll."""
    diff, gen = paper.section("diffusion", DiffusionConfig), paper.section("generation", GenerationConfig)
    seed_everything(0)
    unet, rows = build_unet(diff, "mmgen"), []
    _check_sizes("UNet (mmgen)", unet, rows)
    assert unet.config.in_channels == unet.config.out_channels  # no roll channels
    assert _sample_step(unet, diff, gen).isfinite().all()
    print(*rows, sep="\n")
