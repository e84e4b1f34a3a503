"""Conditional diffusion on smoke-sized UNets: roll features, FiLM shapes, CFG, samplers, resume, loading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.diffusion import (
    MODES,
    ConditionData,
    DiffusionConfig,
    build_unet,
    clip_x0,
    condition,
    guided_noise,
    init_unet,
    melody_features,
    predict_noise,
    roll_channels,
    sample_latents,
    train_unet,
    window_starts,
    windowed,
)
from mmgen_core.diffusion.train import loss_weights
from mmgen_core.diffusion.unet import to_epsilon
from mmgen_core.melody import Note

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers + numpy 2

CFG = DiffusionConfig(block_out_channels=[8, 16], attention=[False, True], head_channels=8, norm_num_groups=4,
                      embed_dim=8, steps=4, batch_size=2, crop_frames=8, checkpoint_every=2, warmup_steps=1,
                      ema_decay=0.9)


def _data(n: int = 3, frames: int = 16) -> ConditionData:
    g = torch.Generator().manual_seed(0)
    notes = [Note(60 + i, 0.1 * i, 0.1 * i + 0.2) for i in range(4)]
    roll = torch.from_numpy(melody_features(notes, frames, CFG.roll))
    return ConditionData(latents=torch.randn(n, 8, frames, 16, generator=g), rolls=roll.expand(n, -1, -1, -1).clone(),
                         query=torch.randn(2 * n, 8, generator=g), melody=torch.randn(2 * n, 8, generator=g),
                         item=torch.arange(n).repeat(2))


@pytest.mark.parametrize("kind", ["mel", "chroma"])
def test_melody_features_are_time_aligned(kind):
    f = melody_features([Note(69, 0.48, 0.64)], 32, kind)  # A4 from frame 48 to 64 → latent frames 12..15
    assert f.shape == (roll_channels(kind), 32, 16) and f.dtype == np.float32
    active = np.nonzero(f.max(axis=(0, 2)))[0]
    assert active.tolist() == [12, 13, 14, 15]
    if kind == "chroma":
        assert f[9, 12].min() == 1 and f[:9].max() == 0  # pitch class A only
    else:
        low = f[:, 12].reshape(4, 4, 16).max(axis=(0, 1))  # energy per latent frequency row
        assert low.argmax() <= 3  # 440 Hz sits in the lowest quarter of the mel axis


@pytest.mark.parametrize("mode", MODES)
def test_unet_shapes_per_mode(mode):
    unet = build_unet(CFG, mode)
    extra = roll_channels(CFG.roll) if mode == "mmgen+roll" else 0
    assert unet.config.in_channels == 8 + extra
    assert unet.config.projection_class_embeddings_input_dim == (8 if mode == "text" else 16)
    d = _data()
    cond = condition(mode, d.query[:2], d.melody[:2])
    roll = d.rolls[:2] if mode == "mmgen+roll" else None
    eps = predict_noise(unet, d.latents[:2], torch.tensor([3, 500]), cond, roll)
    assert eps.shape == (2, 8, 16, 16) and eps.dtype == torch.float32


def test_classifier_free_guidance_forms():
    torch.manual_seed(0)
    unet = build_unet(CFG, "mmgen+roll").eval()
    d = _data()
    x, t, c, r = d.latents[:2], torch.tensor(10), condition("mmgen", d.query[:2], d.melody[:2]), d.rolls[:2]
    with torch.no_grad():
        eps_c = predict_noise(unet, x, t, c, r)
        eps_u = predict_noise(unet, x, t, torch.zeros_like(c), torch.zeros_like(r))
        assert torch.equal(guided_noise(unet, x, t, c, r, 1.0), eps_c)
        assert torch.equal(guided_noise(unet, x, t, c, r, 0.0, "paper"), eps_c)
        g3 = guided_noise(unet, x, t, c, r, 3.0)
        torch.testing.assert_close(g3, eps_u + 3 * (eps_c - eps_u), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(guided_noise(unet, x, t, c, r, 2.0, "paper"), 3 * eps_c - 2 * eps_u,
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(guided_noise(unet, x, t, c, r, 2.0, "paper"), g3, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="guidance form"):
        guided_noise(unet, x, t, c, r, 3.0, "other")


@pytest.mark.parametrize("sampler", ["ddim", "dpm", "dpm-sde"])
def test_samplers_are_seeded(sampler):
    unet = build_unet(CFG, "mmgen+roll").eval()
    d = _data()
    cond = condition("mmgen", d.query[:2], d.melody[:2])
    run = lambda: sample_latents(unet, CFG, cond, d.rolls[:2], 16, sampler=sampler, steps=3,  # noqa: E731
                                 generator=torch.Generator().manual_seed(7), progress=False)
    a, b = run(), run()
    assert a.shape == (2, 8, 16, 16) and torch.isfinite(a).all() and torch.equal(a, b)


def test_clip_x0_keeps_the_implied_clean_latent_in_range():
    g = torch.Generator().manual_seed(0)
    x, eps, a = torch.randn(2, 8, 4, 16, generator=g) * 3, torch.randn(2, 8, 4, 16, generator=g), torch.tensor(0.3)
    out = clip_x0(eps, x, a, 1.5)
    x0 = (x - (1 - a).sqrt() * out) / a.sqrt()
    assert x0.abs().max() <= 1.5 + 1e-5 and (x0.abs().max() - 1.5).abs() < 1e-5  # clipped, and some at the limit
    inside = ((x - (1 - a).sqrt() * eps) / a.sqrt()).abs() < 1.5
    torch.testing.assert_close(out[inside], eps[inside])  # where x̂₀ is in range, ε is untouched


@pytest.mark.parametrize("sampler", ["ddim", "dpm-sde"])
def test_clipped_sampling_stays_within_the_clip_range(sampler):
    unet = build_unet(CFG, "mmgen+roll").eval()
    d = _data()
    cond = condition("mmgen", d.query[:2], d.melody[:2])
    out = sample_latents(unet, CFG, cond, d.rolls[:2], 16, sampler=sampler, steps=4, clip=2.0, guidance=5.0,
                         generator=torch.Generator().manual_seed(7), progress=False)
    assert torch.isfinite(out).all() and out.abs().max() <= 2.0 + 0.5  # the last step lands near x̂₀


def test_unet_training_resumes_exactly(tmp_path):
    d = _data()
    full, hist, sps = train_unet(d, CFG, "mmgen+roll", tmp_path / "a")
    train_unet(d, CFG, "mmgen+roll", tmp_path / "b", stop_at=2)
    resumed, hist2, _ = train_unet(d, CFG, "mmgen+roll", tmp_path / "b")
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k  # EMA weights included: the EMA state is checkpointed too
    assert hist[-1] == hist2[-1] and sps > 0


def test_pretrained_unet_is_widened_without_changing_it(tmp_path):
    """A local AudioLDM-style unet/ (q only, 8 input channels) is widened for [q, r] and the roll."""
    torch.manual_seed(0)
    base = build_unet(CFG, "text")
    base.save_pretrained(tmp_path / "audioldm" / "unet")
    cfg = DiffusionConfig(**{**CFG.__dict__, "pretrained": str(tmp_path / "audioldm")})
    wide = init_unet(cfg, "mmgen+roll", 8).eval()
    assert wide.config.in_channels == 8 + roll_channels(CFG.roll)
    assert wide.config.projection_class_embeddings_input_dim == 16
    d = _data()
    x, t = d.latents[:2], torch.tensor(50)
    with torch.no_grad():
        before = predict_noise(base.eval(), x, t, d.query[:2])
        after = predict_noise(wide, x, t, torch.cat([d.query[:2], d.melody[:2]], -1), d.rolls[:2])
    torch.testing.assert_close(before, after)  # zero-initialised new inputs: same predictions at first
    cfg_bad = DiffusionConfig(**{**cfg.__dict__})
    with pytest.raises(CheckpointError, match="latent channels"):
        init_unet(cfg_bad, "mmgen", 4)


def test_missing_pretrained_unet_is_explained(tmp_path):
    cfg = DiffusionConfig(**{**CFG.__dict__, "pretrained": str(tmp_path / "none")})
    with pytest.raises(CheckpointError, match="unet"):
        init_unet(cfg, "text", 8)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="modes"):
        DiffusionConfig(modes=["text", "nope"])
    with pytest.raises(ValueError, match="attention"):
        DiffusionConfig(block_out_channels=[8, 16], attention=[True])


def test_v_prediction_output_converts_to_the_true_noise():
    """A UNet that outputs the exact v = √ᾱ ε − √(1−ᾱ) x₀ gives back exactly ε at x_t."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 8, 4, 16, generator=g), torch.randn(3, 8, 4, 16, generator=g)
    ab = torch.tensor([0.99, 0.5, 0.01])
    a, s = ab.sqrt()[:, None, None, None], (1 - ab).sqrt()[:, None, None, None]
    xt, v = a * x0 + s * eps, a * eps - s * x0
    torch.testing.assert_close(to_epsilon(v, xt, ab, "v_prediction"), eps, rtol=1e-5, atol=1e-5)
    assert torch.equal(to_epsilon(eps, xt, ab, "epsilon"), eps)
    with pytest.raises(ValueError, match="prediction"):
        to_epsilon(v, xt, ab, "sample")


def test_min_snr_weights():
    ab = torch.tensor([0.999, 5 / 6, 0.5, 0.01])  # SNR 999, 5, 1, ~0.01
    snr = ab / (1 - ab)
    assert torch.equal(loss_weights(ab, CFG), torch.ones(4))
    eps = loss_weights(ab, DiffusionConfig(**{**CFG.__dict__, "loss_weighting": "min_snr"}))
    torch.testing.assert_close(eps, torch.minimum(snr, torch.tensor(5.0)) / snr)
    assert eps[0] < 0.01 and eps[2:].eq(1).all()  # easy, nearly clean steps are down-weighted; noisy ones keep 1
    v = loss_weights(ab, DiffusionConfig(**{**CFG.__dict__, "loss_weighting": "min_snr", "prediction": "v_prediction"}))
    torch.testing.assert_close(v, torch.minimum(snr, torch.tensor(5.0)) / (snr + 1))


@pytest.mark.parametrize("recipe", [{"prediction": "v_prediction", "loss_weighting": "min_snr"},
                                    {"lr_schedule": "cosine"}])
def test_training_recipes_train_and_sample(tmp_path, recipe):
    cfg = DiffusionConfig(**{**CFG.__dict__, **recipe})
    d = _data()
    unet, hist, _ = train_unet(d, cfg, "mmgen", tmp_path)
    assert all(np.isfinite(h["loss"]) for h in hist)
    if recipe.get("lr_schedule") == "cosine":
        assert hist[-1]["lr"] < hist[0]["lr"]
    out = sample_latents(unet, cfg, condition("mmgen", d.query[:2], d.melody[:2]), None, 16, steps=3, clip=3.0,
                         generator=torch.Generator().manual_seed(0), progress=False)
    assert torch.isfinite(out).all() and out.abs().max() < 4


def test_recipe_fields_are_checked():
    for field, bad in (("prediction", "sample"), ("loss_weighting", "p2"), ("lr_schedule", "step")):
        with pytest.raises(ValueError, match=field):
            DiffusionConfig(**{field: bad})


def test_window_starts_cover_with_half_overlaps():
    assert window_starts(100, 0) == [0] and window_starts(32, 32) == [0]
    assert window_starts(80, 32) == [0, 16, 32, 48]
    assert window_starts(90, 32) == [0, 16, 32, 48, 58]  # the last window ends flush with the latent


def test_windowed_prediction_sees_only_training_length_windows():
    seen = []

    def predict(x, roll):
        seen.append((x.shape[2], None if roll is None else roll.shape[2]))
        return x * 2 + (0 if roll is None else roll.mean())

    x = torch.randn(2, 8, 90, 16)
    roll = torch.zeros(2, 16, 90, 16)
    torch.testing.assert_close(windowed(predict, x, roll, 32), x * 2)  # a pointwise model: blending changes nothing
    assert set(seen) == {(32, 32)}
    seen.clear()
    assert torch.equal(windowed(predict, x[:, :, :32], None, 32), x[:, :, :32] * 2) and seen == [(32, None)]


def test_long_latents_sample_window_by_window():
    unet = build_unet(CFG, "mmgen+roll").eval()
    d = _data()
    cond = condition("mmgen", d.query[:1], d.melody[:1])
    roll = d.rolls[:1].repeat(1, 1, 3, 1)  # 48 latent frames from a model of 16-frame clips
    out = sample_latents(unet, CFG, cond, roll, 48, steps=2, window=16, generator=torch.Generator().manual_seed(0),
                         progress=False)
    assert out.shape == (1, 8, 48, 16) and torch.isfinite(out).all()
