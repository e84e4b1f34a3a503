"""The one training loop on a tiny MLP: exact resume, schedules, best checkpoint, EMA, bf16, non-finite loss."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmgen_core.checkpoints import load_state, saved_step
from mmgen_core.compute import ComputeConfig
from mmgen_core.training import LoopConfig, apply_ema, lr_factor, train

X = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
Y = X.sum(1, keepdim=True)


def _model(dropout: float = 0.3) -> torch.nn.Module:
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, 1))


def loss_fn(model: torch.nn.Module, gen: torch.Generator, step: int):
    """Batch from the step generator; dropout from torch's global RNG; jitter from numpy's and python's."""
    idx, dev = torch.randint(len(X), (8,), generator=gen), next(model.parameters()).device
    jitter = float(np.random.rand()) * 1e-3 + random.random() * 1e-3
    loss = F.mse_loss(model(X[idx].to(dev)), Y[idx].to(dev)) + jitter
    return loss, {"jitter": jitter}


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_saved_step_reads_the_step_a_run_reached(tmp_path):
    assert saved_step(tmp_path / "run" / "last") == 0  # nothing saved yet
    cfg = LoopConfig(steps=8, lr=1e-2, log_every=1, checkpoint_every=3)
    train(_model(), loss_fn, cfg, tmp_path / "run", seed=0, stop_at=5, progress=False)
    assert saved_step(tmp_path / "run" / "last") == 5 == load_state(tmp_path / "run" / "last")["log"]["step"]


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_retraces_an_uninterrupted_run(tmp_path, dropout):
    cfg = LoopConfig(steps=8, lr=1e-2, warmup_steps=3, schedule="cosine", log_every=1, checkpoint_every=100)
    straight = _model(dropout)
    full = train(straight, loss_fn, cfg, tmp_path / "a", seed=3, progress=False)
    assert full.done and full.step == 8 and len(full.history) == 8

    half = train(_model(dropout), loss_fn, cfg, tmp_path / "b", seed=3, stop_at=4, progress=False)
    assert not half.done and half.step == 4
    torch.manual_seed(123), np.random.seed(123), random.seed(123)  # the resumed run must restore every RNG
    resumed_model = _model(dropout)
    resumed = train(resumed_model, loss_fn, cfg, tmp_path / "b", seed=3, progress=False)
    assert resumed.done and resumed.resumed_from == 4 and resumed.history == full.history
    _same(_weights(straight), _weights(resumed_model))
    assert resumed.samples == full.samples == 8 and resumed.samples_per_s > 0 and resumed.hardware


def test_schedules_give_the_expected_learning_rate(tmp_path):
    assert [lr_factor(s, 4, 100) for s in (0, 1, 3, 4, 50, 99)] == [0.25, 0.5, 1.0, 1.0, 1.0, 1.0]
    assert lr_factor(0, 2, 10, "cosine") == 0.5 and lr_factor(2, 2, 10, "cosine") == 1.0
    assert lr_factor(6, 2, 10, "cosine") == pytest.approx(0.5) and lr_factor(10, 2, 10, "cosine") == pytest.approx(0)
    for schedule, expected in (("constant", [0.5, 1.0, 1.0, 1.0, 1.0]),
                               ("cosine", [0.5, 1.0, 1.0, 0.75, 0.25])):
        cfg = LoopConfig(steps=5, lr=0.1, optimizer="adam", warmup_steps=2, schedule=schedule, log_every=1)
        res = train(_model(), loss_fn, cfg, tmp_path / schedule, progress=False)
        assert [h["lr"] for h in res.history] == pytest.approx([0.1 * e for e in expected])
    with pytest.raises(ValueError, match="schedule"):
        LoopConfig(steps=1, lr=1.0, schedule="linear")


def test_best_checkpoint_is_the_best_validated_step(tmp_path):
    scores, seen = iter([0.1, 0.5, 0.3]), {}

    def validate(model: torch.nn.Module) -> float:
        score = next(scores)
        seen[score] = _weights(model)
        return score

    cfg = LoopConfig(steps=6, lr=1e-2, eval_every=2)
    res = train(_model(), loss_fn, cfg, tmp_path, validate=validate, progress=False)
    assert [v["step"] for v in res.valid] == [1, 3, 5] and res.best == 0.5
    best = load_state(tmp_path / "best")
    assert best["step"] == 4 and best["score"] == 0.5
    _same(best["model"], seen[0.5])


def test_ema_differs_from_the_raw_weights_and_is_restored_on_resume(tmp_path):
    cfg = LoopConfig(steps=6, lr=1e-2, ema_decay=0.9)
    raw = _model()
    full = train(raw, loss_fn, cfg, tmp_path / "a", progress=False)
    raw_weights = _weights(raw)
    assert any(not torch.equal(s, p) for s, p in zip(full.ema.shadow_params, raw.parameters()))

    train(_model(), loss_fn, cfg, tmp_path / "b", stop_at=3, progress=False)
    again = _model()
    resumed = train(again, loss_fn, cfg, tmp_path / "b", progress=False)
    assert resumed.ema.optimization_step == full.ema.optimization_step == 6
    _same(raw_weights, _weights(again))
    _same(_weights(apply_ema(raw, full.ema)), _weights(apply_ema(again, resumed.ema)))
    assert not torch.equal(raw_weights["0.weight"], raw[0].weight.cpu())  # apply_ema swapped in the EMA weights


def _cpu_bf16() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch.isfinite(torch.nn.functional.linear(torch.ones(2, 2), torch.ones(2, 2))).all().item()
    except RuntimeError:
        return False


@pytest.mark.skipif(not _cpu_bf16(), reason="this CPU's torch build has no bf16 autocast")
def test_bf16_autocast_runs_on_cpu(tmp_path):
    seen = []

    def bf16_loss(model, gen, step):
        dev = next(model.parameters()).device
        return F.mse_loss(model(X.to(dev)), Y.to(dev)), {}

    model = _model()
    model[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    res = train(model, bf16_loss, LoopConfig(steps=3, lr=1e-2, log_every=1), tmp_path,
                progress=False, compute=ComputeConfig(precision="bf16"))
    assert seen[:3] == [torch.bfloat16] * 3 and all(math.isfinite(h["loss"]) for h in res.history)
    model(X.to(model[0].weight.device))
    assert seen[-1] == torch.float32  # the autocast wrapper is gone after training
    # a later full-precision run in the same process gets its own Accelerator state
    train(_model(), loss_fn, LoopConfig(steps=1, lr=1e-2), tmp_path / "fp32", progress=False)


def test_non_finite_loss_names_the_step(tmp_path):
    def exploding(model, gen, step):
        loss, parts = loss_fn(model, gen, step)
        return (loss * float("nan") if step == 2 else loss), parts

    with pytest.raises(FloatingPointError, match="at step 2"):
        train(_model(), exploding, LoopConfig(steps=5, lr=1e-2), tmp_path, desc="tiny", progress=False)
