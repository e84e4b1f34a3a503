"""Profile section ``compute``: how every model trains and samples on this machine (precision,
attention kernel, memory layout, compilation, fused optimiser, threads).

OpenMP's wait policy is left at its default (spin briefly, then sleep). Measured on 2 cores (UNet
training step, bf16): PASSIVE 37–40 samples/s, default 50, ACTIVE 61; with two such processes at
once, default 13 and PASSIVE 7 each. ACTIVE would keep an idle parent process (a test runner, a
notebook runner) spinning on the cores its kernel needs.

These are speed switches, not model settings: they are not part of any artifact's key, and each
training report records the precision and hardware it ran on. ``make bench`` measures every
switch against fp32 eager in the same run (speed, memory and quality)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PARTS = ("aligner", "vae", "vocoder", "unet")  # the trained models
ATTENTIONS = ("auto", "classic", "sdpa")


@dataclass
class ComputeConfig:
    """Profile section ``compute``.

    ``precision``: autocast dtype for training and sampling; ``auto`` = bf16 on a CUDA GPU that has
    it (else fp16) and on a CPU with AVX-512 BF16 or AMX, fp32 elsewhere. ``attention``: diffusers'
    attention kernel; ``auto`` = ``classic`` (matmul + softmax) on CPU, where PyTorch's SDPA backward
    is slower for our short sequences, and ``sdpa`` on GPU. ``threads``: 0 = PyTorch's default.
    ``parallel_training``: train several missing UNets at once on a CPU, one process per UNet with the cores shared
    out (2 cores, tiny: two 1-thread runs at 194 ms/step each against 118–129 ms/step for one 2-thread run, 1.2–1.3×
    the throughput; two 300-step runs 63.5 s against 72.7 s with ~9 s of process start): small networks leave cores
    idle between their many short kernels.
    ``fp32_parts``: the vocoder by default: a bf16 waveform keeps 8 bits of mantissa (audible noise;
    measured here: a 20% higher loss after 24 steps, for a 9% speed-up).
    """

    device: str = "auto"  # where pipelines sample: auto = the GPU if there is one, else the CPU | cpu | cuda[:i]
    precision: str = "auto"
    attention: str = "auto"
    channels_last: bool = False
    compile: bool = False  # torch.compile each trained model (minutes of compilation per model)
    fused_optimizer: bool = True
    threads: int = 0
    parallel_training: bool = True  # several missing UNets on a multi-core CPU: one process each (Stages.train_unets)
    fp32_parts: list[str] = field(default_factory=lambda: ["vocoder"])  # fp32 whatever ``precision`` says

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"compute.precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"compute.attention must be one of {ATTENTIONS}, not {self.attention!r}")
        bad = [p for p in self.fp32_parts if p not in PARTS]
        if bad:
            raise ValueError(f"compute.fp32_parts: unknown {bad}; choose from {PARTS}")
        if self.threads < 0:
            raise ValueError(f"compute.threads must be >= 0 (0 = PyTorch's default), not {self.threads}")

    def for_part(self, part: str) -> "ComputeConfig":
        """The settings ``part`` trains and runs with: fp32 when it is one of ``fp32_parts``."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        return replace(self, precision="fp32") if part in self.fp32_parts else self

    def resolve_device(self) -> torch.device:
        """The device pipelines sample on (training places models where Accelerate does)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(self.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"compute.device {self.device!r}: this machine has no CUDA GPU (or torch is a CPU build)")
        return dev

    def mixed_precision(self, device: torch.device | str = "cpu") -> str:
        """Accelerate's name for this precision on ``device``: ``no``, ``bf16`` or ``fp16``."""
        kind = torch.device(device).type
        if self.precision == "auto":
            if kind == "cuda":
                return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            return "bf16" if cpu_has_bf16() else "no"
        if self.precision == "fp16" and kind != "cuda":
            raise ValueError("compute.precision fp16 needs a CUDA GPU; on a CPU use bf16 or fp32")
        return {"fp32": "no"}.get(self.precision, self.precision)

    def dtype(self, device: torch.device | str = "cpu") -> torch.dtype | None:
        """The autocast dtype on ``device`` (None = fp32, no autocast)."""
        return {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.mixed_precision(device)]

    def autocast(self, device: torch.device | str = "cpu"):
        """Autocast for sampling and decoding on ``device`` (a no-op in fp32)."""
        dtype = self.dtype(device)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=dtype)

    def attention_kind(self, device: torch.device | str = "cpu") -> str:
        if self.attention != "auto":
            return self.attention
        return "sdpa" if torch.device(device).type == "cuda" else "classic"

    def prepare(self, model: torch.nn.Module, device: torch.device | str = "cpu",
                compile: bool | None = None) -> torch.nn.Module:
        """Apply the attention kernel, memory layout and (``compile``, default the config's) compilation in place."""
        if self.threads:
            torch.set_num_threads(self.threads)
        if hasattr(model, "set_attn_processor") and getattr(model, "attn_processors", None):
            from diffusers.models.attention_processor import (
                AttnProcessor,
                AttnProcessor2_0,
            )

            classic = self.attention_kind(device) == "classic"
            model.set_attn_processor(AttnProcessor() if classic else AttnProcessor2_0())
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.compile if compile is None else compile:
            model.compile()
        return model

    def label(self, device: torch.device | str = "cpu") -> str:
        """How a run computed, for reports: e.g. ``bf16 autocast, classic attention``."""
        mp = self.mixed_precision(device)
        parts = ["fp32" if mp == "no" else f"{mp} autocast", f"{self.attention_kind(device)} attention"]
        parts += ["channels-last"] * self.channels_last + ["compiled"] * self.compile
        return ", ".join(parts)


FP32_EAGER = ComputeConfig(precision="fp32", attention="sdpa", fused_optimizer=False)  # the baseline of make bench


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), so bf16 autocast is a speed-up."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
