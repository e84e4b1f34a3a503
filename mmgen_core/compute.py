"""Profile section ``compute``: how every model trains and samples on this machine (precision,
attention kernel, memory layout, compilation, fused optimiser, threads).

These are speed switches, not model settings: they are not part of any artifact's key, and each
training report records the precision and hardware it ran on. ``make bench`` measures every
switch against fp32 eager in the same run (speed, memory and quality)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTIONS = ("auto", "classic", "sdpa")


@dataclass
class ComputeConfig:
    """Profile section ``compute``.

    ``precision``: autocast dtype for training and sampling; ``auto`` = bf16 on a CUDA GPU that has
    it (else fp16) and on a CPU with AVX-512 BF16 or AMX, fp32 elsewhere. ``attention``: diffusers'
    attention kernel; ``auto`` = ``classic`` (matmul + softmax) on CPU, where PyTorch's SDPA backward
    is slower for our short sequences, and ``sdpa`` on GPU. ``threads``: 0 = PyTorch's default.
    """

    precision: str = "auto"
    attention: str = "auto"
    channels_last: bool = False
    compile: bool = False  # torch.compile each trained model (minutes of compilation per model)
    fused_optimizer: bool = True
    threads: int = 0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"compute.precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"compute.attention must be one of {ATTENTIONS}, not {self.attention!r}")
        if self.threads < 0:
            raise ValueError(f"compute.threads must be >= 0 (0 = PyTorch's default), not {self.threads}")

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

            model.set_attn_processor(AttnProcessor() if self.attention_kind(device) == "classic" else AttnProcessor2_0())
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
