"""Compute settings: bf16 and fp32 agree, classic and SDPA attention agree, compiled and eager agree,
and the settings resolve and fail as documented."""
from __future__ import annotations

import pytest
import torch

from mmgen_core.compute import FP32_EAGER, ComputeConfig, cpu_has_bf16
from mmgen_core.diffusion import DiffusionConfig, build_unet
from mmgen_core.diffusion.conditioning import cond_dim, roll_channels

CFG = DiffusionConfig(block_out_channels=[16, 32], attention=[False, True], head_channels=8, norm_num_groups=8)
MODE = "mmgen+roll"


def _unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_unet(CFG, MODE, 8).eval()


def _inputs(b: int = 2, frames: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(b, 8 + roll_channels(CFG.roll), frames, 16, generator=g)
    return x, torch.tensor([10, 700]), torch.randn(b, cond_dim(CFG, MODE), generator=g)


def _run(unet, compute: ComputeConfig) -> torch.Tensor:
    x, t, c = _inputs()
    with torch.no_grad(), compute.autocast():
        return unet(x, t, encoder_hidden_states=None, class_labels=c).sample.float()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_precision_resolves_per_device_and_rejects_fp16_on_cpu():
    assert ComputeConfig(precision="fp32").mixed_precision("cpu") == "no"
    assert ComputeConfig(precision="bf16").mixed_precision("cpu") == "bf16"
    assert ComputeConfig().mixed_precision("cpu") == ("bf16" if cpu_has_bf16() else "no")
    assert ComputeConfig().attention_kind("cpu") == "classic" and ComputeConfig().attention_kind("cuda") == "sdpa"
    with pytest.raises(ValueError, match="CUDA"):
        ComputeConfig(precision="fp16").mixed_precision("cpu")
    with pytest.raises(ValueError, match="precision"):
        ComputeConfig(precision="half")
    with pytest.raises(ValueError, match="attention"):
        ComputeConfig(attention="flash")
    assert FP32_EAGER.label() == "fp32, sdpa attention" and "bf16 autocast" in ComputeConfig(precision="bf16").label()


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_autocast_gives_the_same_shapes_and_close_outputs():
    unet = _unet()
    full, half = _run(unet, FP32_EAGER), _run(unet, ComputeConfig(precision="bf16"))
    assert full.shape == half.shape == (2, 8, 16, 16) and full.dtype == half.dtype == torch.float32
    assert _rel(half, full) < 0.05  # bf16 keeps 8 bits of mantissa: per-mille to percent errors, not more


def test_classic_and_sdpa_attention_agree():
    a = ComputeConfig(precision="fp32", attention="classic").prepare(_unet())
    b = ComputeConfig(precision="fp32", attention="sdpa").prepare(_unet())
    assert type(next(iter(a.attn_processors.values()))) is not type(next(iter(b.attn_processors.values())))
    assert _rel(_run(a, FP32_EAGER), _run(b, FP32_EAGER)) < 1e-5


@pytest.mark.slow
def test_compiled_and_eager_unet_agree():
    eager = _unet()
    compiled = ComputeConfig(precision="fp32", compile=True).prepare(_unet())
    assert _rel(_run(compiled, FP32_EAGER), _run(eager, FP32_EAGER)) < 1e-4


def test_fp32_parts_keep_their_part_in_fp32():
    cfg = ComputeConfig(precision="bf16", fp32_parts=["vocoder"])
    assert cfg.for_part("vocoder").mixed_precision() == "no" and cfg.for_part("unet").mixed_precision() == "bf16"
    with pytest.raises(ValueError, match="fp32_parts"):
        ComputeConfig(fp32_parts=["hifigan"])
    with pytest.raises(ValueError, match="part"):
        cfg.for_part("decoder")
