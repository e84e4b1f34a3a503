"""Conditional diffusion on smoke-sized UNets: roll features, FiLM shapes, CFG, samplers, resume, loading."""
from __future__ import annotations

import zlib
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from conftest import synth
from safetensors.torch import save_file

from mmgen_core.audio import save_audio
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.data import Item, Manifest
from mmgen_core.diffusion import (
    MODES,
    ConditionData,
    DiffusionConfig,
    build_condition_data,
    build_unet,
    clip_x0,
    condition,
    conditions_dir,
    guided_noise,
    init_unet,
    melody_features,
    predict_noise,
    roll_channels,
    sample_latents,
    train_unet,
    unet_dir,
    window_starts,
    windowed,
)
from mmgen_core.diffusion.config import OPTIMIZERS as DIFFUSION_OPTIMIZERS
from mmgen_core.diffusion.train import loss_weights, row_sampler, timestep_sampler, unet_loop
from mmgen_core.diffusion.unet import to_epsilon
from mmgen_core.melody import Note, notes_to_text
from mmgen_core.retrieval import IndexConfig, VectorDB
from mmgen_core.training import step_generator

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
                         item=torch.arange(n).repeat(2), audio_query=torch.arange(2 * n) >= n)  # text rows, then audio


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


def test_guidance_against_a_given_null_condition():
    torch.manual_seed(0)
    unet = build_unet(CFG, "mmgen").eval()
    d = _data()
    x, t, c = d.latents[:2], torch.tensor(10), condition("mmgen", d.query[:2], d.melody[:2])
    null = torch.randn(1, c.shape[1])
    with torch.no_grad():
        eps_c, eps_n = predict_noise(unet, x, t, c, None), predict_noise(unet, x, t, null.expand_as(c), None)
        torch.testing.assert_close(guided_noise(unet, x, t, c, None, 3.0, null=null), eps_n + 3 * (eps_c - eps_n),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(guided_noise(unet, x, t, c, None, 3.0, null=torch.zeros(1, c.shape[1])),
                                   guided_noise(unet, x, t, c, None, 3.0), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(guided_noise(unet, x, t, c, None, 3.0, null=null),
                                  guided_noise(unet, x, t, c, None, 3.0), atol=1e-4)


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


@pytest.mark.parametrize("train_query", ["text", "mix"])
def test_unet_training_resumes_exactly(tmp_path, train_query):
    d, cfg = _data(), replace(CFG, train_query=train_query)
    full, hist, sps = train_unet(d, cfg, "mmgen+roll", tmp_path / "a")
    train_unet(d, cfg, "mmgen+roll", tmp_path / "b", stop_at=2)
    resumed, hist2, _ = train_unet(d, cfg, "mmgen+roll", tmp_path / "b")
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
                                    {"lr_schedule": "cosine"},
                                    {"prediction": "v_prediction", "loss_weighting": "min_snr", "noise_levels": "log_normal",
                                     "optimizer": "adam", "beta2": 0.99}])
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
    for field, bad in (("prediction", "sample"), ("loss_weighting", "p2"), ("lr_schedule", "step"),
                       ("noise_levels", "logit"), ("optimizer", "sgd"), ("beta2", 1.0), ("log_sigma_std", 0.0)):
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


SECONDS = 0.64  # 64 mel frames → 16 latent frames


def _vec(key: str) -> torch.Tensor:
    """A fixed 8-d embedding of a string."""
    return torch.randn(8, generator=torch.Generator().manual_seed(zlib.crc32(key.encode())))


class FakeDecoder:
    """Encodes (N, frames, 64) mels to zero latents (N, 8, frames / 4, 16)."""

    def encode(self, mels: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(mels), 8, mels.shape[1] // 4, 16)


class FakeEmbedder:
    """The aligner's three towers as fixed embeddings: of each text, melody token text and waveform."""

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        return torch.stack([_vec("text " + t) for t in texts])

    def embed_melody(self, texts: list[str]) -> torch.Tensor:
        return torch.stack([_vec("melody " + t) for t in texts])

    def embed_audio(self, wavs: list[np.ndarray]) -> torch.Tensor:
        return torch.stack([_vec(f"audio {np.abs(w).sum():.3f}") for w in wavs])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Manifest, VectorDB]:
    """Three training clips with two captions each, and their melody database."""
    root = tmp_path_factory.mktemp("data")
    items = []
    for k in range(3):
        notes = [Note(60 + k + i, 0.15 * i, 0.15 * i + 0.12) for i in range(4)]
        save_audio(root / f"c{k}.wav", synth(notes, SECONDS))
        items.append(Item(id=f"c{k}", audio=f"c{k}.wav", captions=[f"tune {k}", f"melody {k} on flute"],
                          melody=notes_to_text(notes), split="train"))
    manifest = Manifest(root)
    manifest.write(items)
    vectors = FakeEmbedder().embed_melody([it.melody for it in items]).numpy()
    return manifest, VectorDB.build(vectors, [it.id for it in items], IndexConfig(kind="flat"))


@pytest.mark.parametrize("melody", ["own", "retrieved"])
def test_mix_conditions_hold_the_text_rows_then_the_audio_rows(clips, melody, tmp_path):
    manifest, db = clips
    build = {q: build_condition_data(replace(CFG, train_query=q, train_melody=melody), FakeDecoder(), FakeEmbedder(),
                                     manifest, SECONDS, db) for q in ("text", "audio", "mix")}
    text, audio, mix = build["text"], build["audio"], build["mix"]
    assert len(text.item) == 6 and len(audio.item) == 3  # one row per caption, one per clip
    assert not text.audio_query.any() and audio.audio_query.all()
    assert mix.audio_query.tolist() == [False] * 6 + [True] * 3
    for field in ("item", "query", "melody"):  # each kind keeps its own (retrieved or own) melody
        assert torch.equal(getattr(mix, field), torch.cat([getattr(text, field), getattr(audio, field)])), field
    assert torch.equal(mix.latents, text.latents) and torch.equal(mix.rolls, text.rolls)
    mix.save(tmp_path / "mix.safetensors")
    assert torch.equal(ConditionData.load(tmp_path / "mix.safetensors").audio_query, mix.audio_query)
    old = {k: v for k, v in vars(text).items() if k != "audio_query"}  # a file saved before audio_query existed
    save_file(old, str(tmp_path / "old.safetensors"))
    assert ConditionData.load(tmp_path / "old.safetensors").audio_query is None


@pytest.mark.parametrize("p", [0.6915, 0.2])
def test_mix_batches_are_text_with_text_query_prob(p):
    d, cfg = _data(), replace(CFG, train_query="mix", text_query_prob=p, batch_size=4)
    draw = row_sampler(d, cfg)
    text_batches = []
    for step in range(3000):
        kinds = d.audio_query[draw(step_generator(0, step))]
        assert kinds.all() or not kinds.any()  # one query kind per batch
        text_batches.append(not kinds[0])
    assert abs(np.mean(text_batches) - p) < 0.03  # binomial s.e. 0.008
    for prob, audio in ((1.0, False), (0.0, True)):
        always = row_sampler(d, replace(cfg, text_query_prob=prob))
        assert all(d.audio_query[always(step_generator(0, step))].eq(audio).all() for step in range(50))


@pytest.mark.parametrize("train_query", ["text", "audio"])
def test_text_and_audio_runs_draw_as_before_mix(train_query):
    """Their rows are the uniform draw over all rows they always were, the coin is never drawn (the next draws
    match too), and text_query_prob changes nothing."""
    d = _data()
    for prob in (0.6915, 0.0):
        draw = row_sampler(d, replace(CFG, train_query=train_query, text_query_prob=prob))
        for step in range(5):
            gen, before = step_generator(3, step), step_generator(3, step)
            assert torch.equal(draw(gen), torch.randint(len(d.item), (CFG.batch_size,), generator=before))
            assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=before))


def test_mix_needs_conditions_of_both_query_kinds():
    d = _data()
    for flags in (None, torch.zeros(len(d.item), dtype=torch.bool)):
        with pytest.raises(ValueError, match="mix"):
            row_sampler(replace(d, audio_query=flags), replace(CFG, train_query="mix"))


def test_text_query_prob_keys_the_mix_unets_only(tmp_path):
    """Runs that never draw the coin keep their UNet folders; no training conditions depend on it."""
    def dirs(**changes) -> tuple[str, str]:
        cfg = replace(CFG, train_melody="retrieved", **changes)
        cond = conditions_dir(cfg, Manifest(tmp_path / "data-a"), "decoder-b", tmp_path / "alignment-c",
                              tmp_path / "retrieval-d", tmp_path, 0)
        return cond.name, unet_dir(cfg, "mmgen", cond, tmp_path, 0).name

    for query in ("text", "audio"):
        assert dirs(train_query=query, text_query_prob=0.2) == dirs(train_query=query)
    mix, other = dirs(train_query="mix"), dirs(train_query="mix", text_query_prob=0.2)
    assert other[0] == mix[0] and other[1] != mix[1] and mix[0] != dirs()[0]


def test_query_fields_are_checked():
    for bad in (-0.1, 1.5, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="text_query_prob"):
            DiffusionConfig(text_query_prob=bad)
    with pytest.raises(ValueError, match="train_query"):
        DiffusionConfig(train_query="both")
    with pytest.raises(ValueError, match="train_melody"):
        DiffusionConfig(train_melody="random")
    assert DiffusionConfig(train_query="mix", text_query_prob=0).text_query_prob == 0


# the switches added for cheaper training runs (issue 25): today's UNet folders keep their keys
LEVERS = {"noise_levels": "log_normal", "optimizer": "adam", "beta2": 0.99}
BEFORE_LEVERS = {"modes", "checkpoint_every", *LEVERS, "log_sigma_mean", "log_sigma_std"}


def _dirs(tmp_path, **changes) -> tuple[str, str]:
    cfg = replace(CFG, **changes)
    cond = conditions_dir(cfg, Manifest(tmp_path / "data-a"), "decoder-b", tmp_path / "alignment-c", None, tmp_path, 0)
    return cond.name, unet_dir(cfg, "text", cond, tmp_path, 0).name


def test_new_switches_key_only_the_unets_that_set_them(tmp_path):
    """Defaults leave the UNet key as it was before the switches existed; each set switch gets its own UNet
    folder and leaves the training conditions' folder alone; the log-normal's parameters key only log-normal runs."""
    from mmgen_core.artifacts import keyed_fields

    # the fields keyed before; unet_dir drops the log-normal's parameters from uniform runs
    assert set(keyed_fields(CFG)) - {"log_sigma_mean", "log_sigma_std"} == {f.name for f in fields(CFG)} - BEFORE_LEVERS
    base = _dirs(tmp_path)
    assert _dirs(tmp_path, **{k: DiffusionConfig.KEYED_UNLESS[k] for k in LEVERS}) == base
    names = {base[1]}
    for field, value in LEVERS.items():
        cond, unet = _dirs(tmp_path, **{field: value})
        assert cond == base[0] and unet not in names, field
        names.add(unet)
    assert _dirs(tmp_path, log_sigma_mean=0.3) == base  # uniform timesteps never draw from the log-normal
    log_normal = _dirs(tmp_path, noise_levels="log_normal")
    assert _dirs(tmp_path, noise_levels="log_normal", log_sigma_mean=0.3)[1] != log_normal[1]


def test_uniform_timesteps_draw_as_before_and_log_normal_follows_its_sigma():
    from diffusers import DDPMScheduler

    from mmgen_core.diffusion import noise_schedule

    sched = DDPMScheduler(**noise_schedule(CFG))
    uniform = timestep_sampler(sched, CFG)(64, torch.Generator().manual_seed(3))
    assert torch.equal(uniform, torch.randint(1000, (64,), generator=torch.Generator().manual_seed(3)))
    cfg = replace(CFG, noise_levels="log_normal", log_sigma_mean=0.5, log_sigma_std=0.8)
    t = timestep_sampler(sched, cfg)(20000, torch.Generator().manual_seed(0))
    assert t.min() >= 0 and t.max() < 1000
    ab = sched.alphas_cumprod[t]
    log_sigma = 0.5 * torch.log((1 - ab) / ab)
    assert abs(float(log_sigma.mean()) - 0.5) < 0.05 and abs(float(log_sigma.std()) - 0.8) < 0.05
    assert t.float().std() < uniform.float().std()  # concentrated on the middle noise levels


def test_the_optimiser_switches_reach_the_loop(monkeypatch, tmp_path):
    import mmgen_core.training as training

    made = []

    def recording(kind):
        def make(params, **kw):
            made.append((kind, kw["betas"]))
            return torch.optim.Adam(params, **kw) if kind == "adam" else torch.optim.AdamW(params, **kw)
        return make

    assert set(training.OPTIMIZERS) == set(DIFFUSION_OPTIMIZERS)  # the profile accepts what the loop has
    monkeypatch.setattr(training, "OPTIMIZERS", {k: recording(k) for k in training.OPTIMIZERS})
    cfg = replace(CFG, optimizer="adam", beta2=0.95, steps=1)
    assert (unet_loop(cfg).optimizer, unet_loop(cfg).beta2) == ("adam", 0.95)
    train_unet(_data(), cfg, "text", tmp_path)
    assert made == [("adam", (0.9, 0.95))]
