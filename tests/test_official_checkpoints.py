"""The authors' MMGen checkpoints and LAION-CLAP's on our models.

Full size: the key/shape lists of their modules (``fixtures/official_checkpoints``, made from their code by
``make_fixtures.py``) as meta tensors, converted and loaded with no missing, unexpected or mis-shaped key.
Small size: weights drawn by the fixtures' recipe, converted, and our forward passes compared with the outputs
their own modules gave on the same weights and inputs."""
from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
import yaml
from diffusers import DDPMScheduler
from transformers import BertTokenizer, ClapAudioModel, RobertaConfig, RobertaModel

from mmgen_core import cli
from mmgen_core.alignment import towers
from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.model import CLMP
from mmgen_core.checkpoints import CheckpointError, load_weights
from mmgen_core.config import load_profile
from mmgen_core.decoder.vae import VAEConfig, build_vae
from mmgen_core.decoder.vocoder import VocoderConfig, build_hifigan
from mmgen_core.diffusion.config import DiffusionConfig, noise_schedule
from mmgen_core.diffusion.unet import build_unet, predict_noise
from mmgen_core.melody.tokens import MAX_LEN, PAD
from mmgen_core.pipeline import MMGenPipeline
from mmgen_core.pipeline.official import (
    MELODY_LAYOUT,
    RELEASE_FILES,
    OfficialRelease,
    clap_audio_config,
    convert_clmp,
    convert_hifigan,
    convert_laion_clap,
    convert_ldm,
    official_alignment_config,
    read_checkpoint,
)
from mmgen_core.stages import Stages

FIXTURES = Path(__file__).parent / "fixtures" / "official_checkpoints"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)
REF_CLMP = json.loads((FIXTURES / "reference_clmp.json").read_text())
REF_LDM = json.loads((FIXTURES / "reference_ldm.json").read_text())
ROBERTA_BASE = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                             pad_token_id=1)
SMALL_UNET = DiffusionConfig(block_out_channels=[32, 64], layers_per_block=1, attention=[False, True], head_channels=8,
                             norm_num_groups=32, embed_dim=8)
SMALL_VAE = VAEConfig(block_out_channels=[32, 32, 64], layers_per_block=1, latent_channels=4, norm_num_groups=32,
                      mid_attention=True)
SMALL_VOCODER = VocoderConfig(upsample_initial_channel=64, upsample_kernel_sizes=[11, 8, 4, 4, 4],
                              resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]])
meta_load = pytest.mark.filterwarnings("ignore:for .* copying from a non-meta parameter")


def full_size(name: str) -> dict[str, torch.Tensor]:
    """A fixture's key/shape list as meta tensors (no memory)."""
    with gzip.open(FIXTURES / name, "rt") as f:
        spec = json.load(f)
    return {k: torch.empty(shape, dtype=getattr(torch, dtype.split(".")[1]), device="meta")
            for k, (shape, dtype) in spec.items()}


def close(ours: torch.Tensor, reference: dict) -> None:
    expected = recipe.decode(reference)
    torch.testing.assert_close(ours.detach().reshape(expected.shape), expected, rtol=1e-4, atol=2e-5)


def small_clmp_state() -> dict[str, torch.Tensor]:
    """The small reference CLMP's weights in the authors' layout."""
    return {**recipe.random_state(REF_CLMP["keys"]),
            **{k: torch.tensor(v) for k, v in REF_CLMP["fixed"].items()}}


def small_ldm_state(film_dim: int | None = None) -> dict[str, torch.Tensor]:
    """The small reference UNet and VAE (with its vocoder) in AudioLDM's layout; ``film_dim`` widens the FiLM input."""
    unet_keys = dict(REF_LDM["unet"]["keys"])
    if film_dim:
        unet_keys["film_emb.weight"] = [[unet_keys["film_emb.weight"][0][0], film_dim], "torch.float32"]
    return {**{"model.diffusion_model." + k: v for k, v in recipe.random_state(unet_keys).items()},
            **{"first_stage_model." + k: v for k, v in recipe.random_state(REF_LDM["vae"]["keys"]).items()}}


@pytest.fixture(scope="module")
def small_text_dir(tmp_path_factory) -> Path:
    """A 1-layer RoBERTa of the reference's size with a 64-word WordPiece tokenizer (ids fit its table)."""
    folder = tmp_path_factory.mktemp("roberta")
    RobertaModel(RobertaConfig(hidden_size=768, type_vocab_size=1, layer_norm_eps=1e-5,
                               **REF_CLMP["small_text"])).save_pretrained(folder)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "calm", "folk", "tune", "on", "flute", "piano"]
    (folder / "vocab.txt").write_text("\n".join(words + [f"w{i}" for i in range(64 - len(words))]) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- full size: every key, every shape


@meta_load
def test_clmp_release_layout_fills_our_clmp(monkeypatch):
    sd = full_size("clmp_htsat_base.json.gz")
    audio = clap_audio_config({k[len("audio_branch."):]: v for k, v in sd.items() if k.startswith("audio_branch.")},
                              "clmp")
    assert (audio.patch_embeds_hidden_size, audio.depths, audio.num_attention_heads, audio.window_size) == \
        (128, [2, 2, 12, 2], [4, 8, 16, 32], 8)  # HTSAT-base
    cfg = official_alignment_config(AlignmentConfig(text_model="roberta-base"), audio)
    shipped = towers.text_model_dir
    monkeypatch.setattr(towers, "text_model_dir", lambda name: shipped("minilm"))  # a tokenizer; RoBERTa below
    monkeypatch.setattr("transformers.AutoModel.from_pretrained", lambda *a, **k: RobertaModel(ROBERTA_BASE))
    with torch.device("meta"):
        model = CLMP(cfg, clip_seconds=10.24)
    converted = convert_clmp(sd, cfg, "mmgen-clmp.pt")
    load_weights(model, converted, "mmgen-clmp.pt")
    assert converted["melody.embed.weight"] is sd["melody_branch.melody_embbedding_weight.weight"]  # rows unchanged


@meta_load
def test_laion_clap_audio_branch_fills_clap_audio_model():
    sd = {"module." + k: v for k, v in full_size("laion_clap_htsat_tiny.json.gz").items()}  # as DDP saved it
    converted = convert_laion_clap(sd)
    audio = clap_audio_config({k[len("module.audio_branch."):]: v for k, v in sd.items()
                               if k.startswith("module.audio_branch.")}, "laion")
    assert (audio.patch_embeds_hidden_size, audio.depths, audio.num_attention_heads) == \
        (96, [2, 2, 6, 2], [4, 8, 16, 32])  # HTSAT-tiny
    with torch.device("meta"):
        model = ClapAudioModel(audio)
    load_weights(model, converted, "630k-audioset-best.pt")


@meta_load
def test_ldm_release_layout_fills_unet_vae_and_vocoder():
    paper = load_profile("paper")
    cfg = paper.section("diffusion", DiffusionConfig)
    sd = full_size("ldm_quick_start.json.gz")
    sd["betas"], sd["scale_factor"] = DDPMScheduler(**noise_schedule(cfg)).betas, torch.tensor(0.25)
    parts = convert_ldm(sd, cfg, "mmgen-diffusion-checkpoint.ckpt")
    with torch.device("meta"):
        models = (build_unet(cfg, "mmgen", 8), build_vae(paper.section("vae", VAEConfig)),
                  build_hifigan(paper.section("vocoder", VocoderConfig)))
    for model, state in zip(models, (parts.unet, parts.vae, parts.vocoder)):
        load_weights(model, state, "mmgen-diffusion-checkpoint.ckpt")
    assert parts.unet["conv_in.weight"] is sd["model_ema.diffusion_modelinput_blocks00weight"]  # EMA, as they sample
    assert parts.unet["class_embedding.weight"] is sd["model_ema.diffusion_modelfilm_embweight"]
    assert parts.scale_factor == 0.25
    raw = convert_ldm(sd, cfg, "ldm", ema=False)
    assert raw.unet["conv_in.weight"] is sd["model.diffusion_model.input_blocks.0.0.weight"]


@meta_load
def test_raw_hifigan_generator_with_weight_norm_fills_speecht5_hifigan():
    with torch.device("meta"):
        model = build_hifigan(load_profile("paper").section("vocoder", VocoderConfig))
    load_weights(model, convert_hifigan(full_size("hifigan_16k_64bins_generator.json.gz")), "hifigan_16k_64bins.ckpt")


# ---------------------------------------------------------------- small size: same outputs as the authors' modules


def test_clmp_embeddings_equal_the_authors(small_text_dir):
    sd = small_clmp_state()
    audio = clap_audio_config({k[len("audio_branch."):]: v for k, v in sd.items() if k.startswith("audio_branch.")},
                              "ref", spec_size=128)
    cfg = official_alignment_config(AlignmentConfig(text_model=str(small_text_dir)), audio)
    model = CLMP(cfg, clip_seconds=2.56).eval()
    load_weights(model, convert_clmp(sd, cfg, "ref"), "ref")
    ids = torch.full((2, MAX_LEN), PAD)
    for row, seq in zip(ids, REF_CLMP["melody_ids"]):  # their ids, zero-padded by the tower
        row[:len(seq)] = torch.tensor(seq)
    with torch.no_grad():
        close(model.audio_proj(model.audio(recipe.random_input(REF_CLMP["mel_shape"], REF_CLMP["mel_seed"]))),
              REF_CLMP["audio"])
        text = model.text(torch.tensor(REF_CLMP["input_ids"]), torch.tensor(REF_CLMP["attention_mask"]))
        close(model.text_proj(text), REF_CLMP["text"])
        close(model.melody_proj(model.melody(ids)), REF_CLMP["melody"])
    assert model.scale.value.item() == pytest.approx(REF_CLMP["logit_scale"])


def test_unet_vae_and_vocoder_outputs_equal_the_authors():
    parts = convert_ldm(small_ldm_state(), SMALL_UNET, "ref")
    unet, vae, vocoder = (build_unet(SMALL_UNET, "mmgen", 4).eval(), build_vae(SMALL_VAE).eval(),
                          build_hifigan(SMALL_VOCODER))
    for model, state in zip((unet, vae, vocoder), (parts.unet, parts.vae, parts.vocoder)):
        load_weights(model, state, "ref")
    ref = REF_LDM["unet"]
    x, y = recipe.random_input([2, 4, 16, 16], ref["x_seed"]), recipe.random_input([2, 16], ref["y_seed"])
    mel = recipe.random_input([1, 1, 32, 64], REF_LDM["vae"]["mel_seed"])
    with torch.no_grad():
        close(predict_noise(unet, x, torch.tensor(ref["t"]), y), ref["eps"])
        post = vae.encode(mel).latent_dist
        close(post.mean, REF_LDM["vae"]["mean"])
        close(post.std, REF_LDM["vae"]["std"])
        close(vae.decode(post.mean).sample, REF_LDM["vae"]["decoded"])
        close(vocoder(mel[:, 0, :8]), REF_LDM["vae"]["wav"])
        raw = build_hifigan(SMALL_VOCODER)
        load_weights(raw, convert_hifigan(recipe.random_state(REF_LDM["generator"]["keys"])), "ref")
        close(raw(mel[:, 0, :8]), REF_LDM["generator"]["wav"])


# ---------------------------------------------------------------- errors name the file and the key


def test_errors_name_the_first_missing_or_unexpected_key():
    cfg = official_alignment_config(AlignmentConfig(), clap_audio_config(
        {k[len("audio_branch."):]: v for k, v in small_clmp_state().items() if k.startswith("audio_branch.")}, "ref"))
    sd = small_clmp_state()
    with pytest.raises(CheckpointError, match=r"mmgen-clmp\.pt: unexpected key 'melody_branch\.fc2\.weight'"):
        convert_clmp({**sd, "melody_branch.fc2.weight": torch.zeros(1)}, cfg, "mmgen-clmp.pt")
    del sd["melody_projection.2.bias"]
    with pytest.raises(CheckpointError, match=r"mmgen-clmp\.pt: missing key 'melody_projection\.2\.bias'"):
        convert_clmp(sd, cfg, "mmgen-clmp.pt")
    with pytest.raises(CheckpointError, match="melody_tower 'official'"):
        convert_clmp(small_clmp_state(), AlignmentConfig(melody_tower="mean"), "mmgen-clmp.pt")

    ldm = small_ldm_state()
    with pytest.raises(CheckpointError, match=r"ldm\.ckpt: unexpected key 'model\.diffusion_model\.label_emb\.0\."):
        convert_ldm({**ldm, "model.diffusion_model.label_emb.0.weight": torch.zeros(1)}, SMALL_UNET, "ldm.ckpt")
    with pytest.raises(CheckpointError, match=r"ldm\.ckpt: unexpected key 'first_stage_model\.extra\.weight'"):
        convert_ldm({**ldm, "first_stage_model.extra.weight": torch.zeros(1)}, SMALL_UNET, "ldm.ckpt")
    del ldm["model.diffusion_model.out.2.weight"]
    with pytest.raises(CheckpointError, match=r"ldm\.ckpt: missing key 'model\.diffusion_model\.out\.2\.weight'"):
        convert_ldm(ldm, SMALL_UNET, "ldm.ckpt")
    with pytest.raises(CheckpointError, match="noise schedule"):
        convert_ldm({**small_ldm_state(), "betas": torch.linspace(1e-4, 0.02, 1000)}, SMALL_UNET, "ldm.ckpt")
    parts = convert_ldm(small_ldm_state(), SMALL_UNET, "ldm.ckpt")
    with pytest.raises(CheckpointError, match=r"ldm\.ckpt: .*missing \['conv_in\.weight'"):
        load_weights(build_unet(SMALL_UNET, "mmgen", 4), {k: v for k, v in parts.unet.items() if k != "conv_in.weight"},
                     "ldm.ckpt")
    with pytest.raises(CheckpointError, match="fused CLAP"):
        convert_laion_clap({"audio_branch.fusion_model.local_att.0.weight": torch.zeros(1)})


def test_read_checkpoint_unwraps_and_refuses_pickled_objects(tmp_path):
    torch.save({"state_dict": {"module.a": torch.ones(2)}, "epoch": 3}, tmp_path / "ok.ckpt")
    assert list(read_checkpoint(tmp_path / "ok.ckpt")) == ["a"]
    torch.save({"state_dict": {"a": torch.ones(2)}, "callback": np.random.default_rng(0)}, tmp_path / "pickled.ckpt")
    with pytest.raises(CheckpointError, match=r"pickled\.ckpt: not readable as a weights-only"):
        read_checkpoint(tmp_path / "pickled.ckpt")
    with pytest.raises(CheckpointError, match=r"not the authors' MMGen release \(missing \['mg2-diffusion-checkpoint"
                                              r"\.ckpt or mmgen-diffusion-checkpoint\.ckpt'"):
        OfficialRelease.find(tmp_path)


# ---------------------------------------------------------------- a release folder end to end


def test_release_folder_loads_and_generates(tmp_path, small_text_dir):
    folder = tmp_path / "release"
    folder.mkdir()
    clmp = {"module." + k: v for k, v in small_clmp_state().items()}  # as DistributedDataParallel saved it
    torch.save({"state_dict": clmp}, folder / RELEASE_FILES["clmp"][0])  # as published: mg2-clmp.pt
    profile = load_profile("smoke")
    s = profile.sections
    s["alignment"]["text_model"] = str(small_text_dir)
    s["diffusion"].update(block_out_channels=[32, 64], layers_per_block=1, attention=[False, True], head_channels=8,
                          norm_num_groups=32)
    s["vae"].update(block_out_channels=[32, 32, 64], layers_per_block=1, latent_channels=4, norm_num_groups=32,
                    mid_attention=True)
    s["vocoder"].update(upsample_initial_channel=64, upsample_kernel_sizes=[11, 8, 4, 4, 4],
                        resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]])
    ldm = small_ldm_state(film_dim=1024)  # [q, r]: two 512-d CLMP embeddings
    ldm["betas"] = DDPMScheduler(**noise_schedule(profile.section("diffusion", DiffusionConfig))).betas
    ldm["scale_factor"] = torch.tensor(0.5)
    torch.save({"state_dict": ldm, "global_step": 1}, folder / RELEASE_FILES["ldm"][1])  # the quick-start name
    vectors = np.random.default_rng(0).standard_normal((5, 512)).astype(np.float32)
    np.save(folder / RELEASE_FILES["vectors"][0], vectors)
    index = faiss.IndexFlatL2(512)
    index.add(vectors)
    faiss.write_index(index, str(folder / RELEASE_FILES["index"][0]))

    assert OfficialRelease.holds(folder) and OfficialRelease.find(folder).path("ldm").name == RELEASE_FILES["ldm"][1]
    pipe = MMGenPipeline.from_official(folder, profile, steps=2, candidates=1, sampler="ddim")
    assert (pipe.mode, pipe.embedder.cfg.melody_layout, pipe.decoder.scaling_factor) == ("mmgen", MELODY_LAYOUT, 0.5)
    assert pipe.embedder.audio.extractor.sampling_rate == 48000  # LAION's front end, not our 16 kHz log-mel
    u = pipe.null_cond[:, :512]  # guidance's null condition: [u, u], u = the CLMP embedding of the empty caption
    assert pipe.null_cond.shape == (1, 1024) and torch.equal(u, pipe.null_cond[:, 512:])
    torch.testing.assert_close(u.norm(dim=-1), torch.ones(1), rtol=1e-4, atol=1e-4)
    with pytest.raises(CheckpointError, match="mode 'mmgen'"):
        MMGenPipeline.from_official(folder, profile, mode="mmgen+roll")

    s["generation"]["pretrained"] = None  # as in the paper profile, so that --set can name the release
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(s))
    out = tmp_path / "out.wav"
    rc = cli.main(["generate", "--text", "a calm folk tune", "--out", str(out), "--profile",
                   str(tmp_path / "profile.yaml"), "--set", f"generation.pretrained={folder}", "--steps", "2",
                   "--candidates", "1"])
    assert rc == 0 and out.stat().st_size > 1000
    # a notebook's generation.pretrained=<release>: the stages hand back the converted release, as the CLI does
    release = Stages(load_profile(str(tmp_path / "profile.yaml"), {"generation.pretrained": str(folder)}),
                     train_missing=False).pipeline(steps=2)
    assert release.mode == "mmgen" and release.embedder.cfg.melody_layout == MELODY_LAYOUT
