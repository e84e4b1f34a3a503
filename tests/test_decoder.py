"""Decoder stage on random data: VAE shapes and resume, vocoders, diffusers-layout loading, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from mmgen_core.audio import clip_frames, mels_of
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.decoder import (
    Decoder,
    MelNorm,
    VAEConfig,
    Vocoder,
    VocoderConfig,
    build_hifigan,
    build_vae,
    choose_vocoder,
    decoder_ceiling,
    resynthesis_scores,
    train_hifigan,
    train_vae,
)

TINY_VAE = VAEConfig(block_out_channels=[4, 4, 8], norm_num_groups=2, steps=4, batch_size=2, crop_frames=32,
                     checkpoint_every=2, scale_clips=4)
TINY_VOC = VocoderConfig(upsample_initial_channel=32, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
                         steps=3, batch_size=2, segment_frames=8, checkpoint_every=2, griffin_lim_iters=4)


@pytest.fixture(scope="module")
def wavs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(64 * 160) / 16000
    tones = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (220.0, 330.0, 440.0, 550.0)])
    return tones + 0.01 * torch.randn(tones.shape, generator=g)


def test_clip_frames_are_multiples_of_32():
    assert clip_frames(10.24) == 1024 and clip_frames(5.12) == 512 and clip_frames(2.56) == 256
    assert clip_frames(10.0) % 32 == 0


def test_vae_shapes_and_dtype(wavs):
    mels = mels_of(wavs)
    assert mels.shape == (4, 64, 64) and mels.dtype == torch.float32
    dec = Decoder(build_vae(TINY_VAE), Vocoder("griffinlim", griffin_lim_iters=2))
    z = dec.encode(mels)
    assert z.shape == (4, 8, 16, 16) and z.dtype == torch.float32
    assert dec.decode(z).shape == mels.shape


@pytest.fixture(scope="module")
def vae_runs(wavs, tmp_path_factory):
    """One VAE trained straight through, one interrupted after 2 steps and resumed."""
    mels, root = mels_of(wavs), tmp_path_factory.mktemp("vae")
    full = train_vae(mels, TINY_VAE, root / "full")
    train_vae(mels, TINY_VAE, root / "resumed", stop_at=2)
    return full, train_vae(mels, TINY_VAE, root / "resumed"), root


def test_vae_training_resumes_exactly(vae_runs):
    (full, norm, hist, sps), (resumed, norm2, hist2, _), _ = vae_runs
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert hist[-1] == hist2[-1] and sps > 0 and hist[-1]["step"] == TINY_VAE.steps - 1
    assert full.config.scaling_factor == resumed.config.scaling_factor != 1.0
    assert norm == norm2 and len(norm.shift) == 64


def test_resume_with_another_config_names_the_shape(vae_runs, wavs):
    other = VAEConfig(**{**TINY_VAE.__dict__, "block_out_channels": [8, 8, 16]})
    with pytest.raises(CheckpointError, match="shape"):
        train_vae(mels_of(wavs), other, vae_runs[2] / "full")


def test_hifigan_audioldm_config_lengths():
    voc = SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=64, upsample_initial_channel=32,
                                                upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[16, 16, 8, 4, 4],
                                                resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
                                                normalize_before=False))
    out = Vocoder("hifigan", voc)(torch.randn(2, 20, 64))
    assert out.shape == (2, 20 * 160) and out.dtype == torch.float32


def test_vocoders_train_score_and_choose(wavs, tmp_path):
    mels = mels_of(wavs)
    model, hist, _ = train_hifigan(wavs, mels, TINY_VOC, tmp_path / "v")
    vocs = {"hifigan": Vocoder("hifigan", model), "griffinlim": Vocoder("griffinlim", griffin_lim_iters=8)}
    best, table = choose_vocoder(vocs, wavs, mels)
    assert set(table["vocoder"]) == set(vocs) and best == table.loc[table["mrstft"].idxmin(), "vocoder"]
    assert best == "griffinlim"  # an untrained HiFi-GAN cannot beat Griffin-Lim: the score must see that
    same = resynthesis_scores(wavs, wavs)
    assert same["logmel_l1"] == pytest.approx(0.0, abs=1e-6)


def test_bad_vocoder_config_is_explained():
    with pytest.raises(ValueError, match="hop"):
        build_hifigan(VocoderConfig(upsample_rates=[4, 4, 4]))
    with pytest.raises(ValueError, match="upsample_initial_channel"):
        build_hifigan(VocoderConfig(upsample_initial_channel=16))


def test_load_local_diffusers_layout_folder(tmp_path, wavs):
    """An AudioLDM-style folder (vae/ + vocoder/, random weights, tiny configs) loads as the decoder."""
    vae = AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 3,
                        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(4, 4, 4), layers_per_block=1,
                        latent_channels=8, norm_num_groups=2, scaling_factor=0.9227)
    vae.save_pretrained(tmp_path / "audioldm" / "vae")
    build_hifigan(TINY_VOC).save_pretrained(tmp_path / "audioldm" / "vocoder")
    dec = Decoder.from_pretrained(tmp_path / "audioldm")
    assert dec.vocoder.kind == "hifigan" and dec.scaling_factor == pytest.approx(0.9227)
    mels = mels_of(wavs[:1])
    assert dec.vocode(dec.decode(dec.encode(mels))).shape == (1, 64 * 160)
    table = decoder_ceiling(dec, wavs[:2])
    assert len(table) == 2 and np.isfinite(table.drop(columns="id").to_numpy()).all()


def test_saved_decoder_round_trip(tmp_path, wavs):
    mels = mels_of(wavs)
    dec = Decoder(build_vae(TINY_VAE), Vocoder("griffinlim", griffin_lim_iters=3), MelNorm.measure(mels))
    dec.save_pretrained(tmp_path / "d")
    again = Decoder.from_pretrained(tmp_path / "d")
    assert again.vocoder.kind == "griffinlim" and again.vocoder.griffin_lim_iters == 3 and again.norm == dec.norm
    assert torch.equal(dec.decode(dec.encode(mels)), again.decode(again.encode(mels)))
    loud = dec.vocode(mels + 12.0)  # a mel far louder than the data (a diverged generation)
    assert torch.isfinite(loud).all() and loud.abs().max() <= 1.0


def test_missing_decoder_folder_is_explained(tmp_path):
    with pytest.raises(CheckpointError, match="vae"):
        Decoder.from_pretrained(tmp_path / "nothing")
    (tmp_path / "x" / "vae").mkdir(parents=True)
    build_vae(TINY_VAE).save_pretrained(tmp_path / "x" / "vae")
    with pytest.raises(CheckpointError, match="vocoder"):
        Decoder.from_pretrained(tmp_path / "x")
