"""The alignment claim k-fold over every clip (folds, their views and keys, the per-clip scores concatenated over
folds) and the generation claim under another caption set (docs/method.md §2.8–2.9)."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from test_reproduction import _alignment_run

from mmgen_core.alignment import alignment_dir, resolve_variant
from mmgen_core.config import load_profile
from mmgen_core.data import Item, Manifest
from mmgen_core.data.folds import FoldSplit, fold_splits, group_key_of
from mmgen_core.data.fractions import subset_key
from mmgen_core.reproduction import (
    GENERATION_CLAIM,
    ModelRuns,
    ResultsConfig,
    alignment_effect,
    caption_claim,
    claim_aligners,
    retrieval_summary,
    scope_note,
    table1_runs,
)
from mmgen_core.stages import Stages


def _manifest(root, n: int = 60, per_work: int = 3) -> Manifest:
    """``n`` clips of ``n / per_work`` works, split 8:1:1 by work as the music21 source does."""
    splits = ["train"] * 8 + ["valid", "test"]
    items = [Item(id=f"c{i:03d}", audio=f"c{i}.wav", captions=["x"], meta={"work": f"w{i // per_work}"},
                  split=splits[(i // per_work) % 10]) for i in range(n)]
    m = Manifest(root)
    m.write(items)
    return m


def test_every_clip_is_a_test_clip_of_exactly_one_fold_and_works_stay_whole(tmp_path):
    m = _manifest(tmp_path)
    key = group_key_of(m)
    assert key == "work"
    folds = fold_splits(m, 5, seed=2, group_key=key)
    n_valid = len(m.items("valid"))
    assert Counter(i for f in folds for i, s in f.items() if s == "test") == Counter(it.id for it in m.items())
    work = {it.id: it.meta["work"] for it in m.items()}
    for f in folds:
        assert set(f) == set(work) and len({s for i, s in f.items() if work[i] == "w0"}) == 1  # a work in one split
        for w in set(work.values()):
            assert len({s for i, s in f.items() if work[i] == w}) == 1
        sizes = Counter(f.values())
        assert sizes["test"] == 12 and sizes["valid"] == n_valid and sizes["train"] == 60 - 12 - n_valid
    assert fold_splits(m, 5, seed=2, group_key=key) == folds  # seeded
    assert fold_splits(m, 5, seed=3, group_key=key) != folds
    with pytest.raises(ValueError, match="k ≥ 2"):
        fold_splits(m, 1)
    with pytest.raises(ValueError, match="use fewer folds"):
        fold_splits(m, 40, group_key=key)  # 20 works cannot fill 40 folds


def test_a_fold_is_a_read_only_view_with_its_own_artifact_folders(tmp_path):
    m = _manifest(tmp_path / "data-abc")
    views = [FoldSplit(m, i, 5, seed=0, group_key="work") for i in range(5)]
    assert views[1].root == m.root and {it.id for it in views[1].items()} == {it.id for it in m.items()}
    assert {it.id for v in views for it in v.items("test")} == {it.id for it in m.items()}
    assert subset_key(views[1]) == {"fold": 1, "folds": 5, "fold_seed": 0, "fold_group": "work"}
    with pytest.raises(TypeError, match="read-only"):
        views[0].write(m.items())
    with pytest.raises(ValueError, match="split must be one of"):
        views[0].items("validation")
    with pytest.raises(ValueError, match="fold must lie in 0..4"):
        FoldSplit(m, 5, 5)
    profile = load_profile("smoke", root=tmp_path)
    cfg = resolve_variant(Stages(profile).alignment_config, "bimodal")
    dirs = {alignment_dir(cfg, v, profile.artifacts, 0).name for v in [m, *views]}
    assert len(dirs) == 6  # the whole data keeps its folder; every fold has its own


def test_stages_on_a_fold_share_the_whole_datas_decoder_and_captions_get_their_own_stages(tmp_path):
    m = _manifest(tmp_path / "data-abc")
    s = Stages(load_profile("smoke", root=tmp_path))
    s.__dict__.update(dataset=m, _decoder=("decoder", "report"), database="db")
    f = s.with_fold(2, 5)
    assert isinstance(f.dataset, FoldSplit) and f.dataset.fold == 2 and f.dataset.group_key == "work"
    assert f._decoder is s._decoder and "database" not in f.__dict__ and f._runs == {}
    lazy = Stages(load_profile("smoke", root=tmp_path))
    lazy.__dict__["dataset"] = m
    lazy.__dict__["_decoder"] = ("built", "once")  # what the whole data's stage would build
    g = lazy.with_fold(0, 5)
    g.__dict__.pop("_decoder", None)
    assert g._decoder == ("built", "once")  # a fold asks the whole data's stages, never builds on its fold
    assert s.with_captions(s.data_config.captions) is s
    other = "sound" if s.data_config.captions != "sound" else "detailed"
    c = s.with_captions(other)
    assert c.data_config.captions == other and c.profile.name == s.profile.name and c is not s
    assert s.data_config.captions != other  # the original stages untouched


def _named(run, tri: bool) -> SimpleNamespace:
    config = SimpleNamespace(uses_melody=tri, select_by="audio_text", melody_tower="mean")
    return SimpleNamespace(embeddings=run.embeddings, config=config)


def test_fold_scores_are_concatenated_per_seed_and_paired_by_clip():
    n = 12
    worse = [_named(_alignment_run(np.arange(n) % 4 == f), False) for f in range(3)]  # R@1 0.25 on every fold
    better = [_named(_alignment_run(np.arange(n) % 4 != f), True) for f in range(3)]  # 0.75
    two = ModelRuns.of([worse, worse], folds=3)
    tri = ModelRuns.of([better, better], folds=3)
    assert two.per_clip["R@1"].shape == (2, 1, 36) and two.per_clip["R@1"].mean() == pytest.approx(0.25)
    assert two.n == "36 clips (3-fold: each a test clip once) × 2 training seeds"
    assert two.label.startswith("CLAP-style") and tri.label.startswith("CLMP tri-modal")
    e = alignment_effect(two, tri, "R@1", margin=0.05)
    assert e.estimate == pytest.approx(0.5) and e.verdict == "reproduced" and e.n.startswith("36 clips (3-fold")
    one_split = alignment_effect([worse[0], worse[0]], [better[0], better[0]])
    assert one_split.n.startswith("12 test clips × 2")  # runs on the dataset's own split, as before
    with pytest.raises(ValueError, match="same training seeds and test clips"):
        alignment_effect(ModelRuns.of([worse[:2]], folds=2), tri)
    assert list(retrieval_summary({"a": two, "b": tri})["n"]) == [two.n, tri.n]


def test_claim_aligners_trains_each_fold_and_seed_once_in_order():
    n, asked = 8, []

    class View:
        def __init__(self, fold):
            self.fold = fold

        def alignment(self, variant, seed):
            asked.append((self.fold, variant, seed))
            hits = np.arange(n) % 2 == 0 if variant == "bimodal" else np.arange(n) < n - self.fold
            return _named(_alignment_run(hits), variant != "bimodal")

    stages = SimpleNamespace(progress=False, with_fold=lambda i, k: View(i))
    runs = claim_aligners(stages, [0, 1], folds=3, variants=("bimodal", "trimodal-select-at"))
    assert sorted(asked) == sorted((f, v, s) for f in range(3) for v in ("bimodal", "trimodal-select-at")
                                   for s in (0, 1)) and len(asked) == 12
    tri = runs["trimodal-select-at"].per_clip["R@1"]
    assert tri.shape == (2, 1, 24) and tri[0, 0].tolist() == [1.0] * 8 + [1.0] * 7 + [0.0] + [1.0] * 6 + [0.0] * 2
    assert runs["bimodal"].folds == 3


def test_results_config_folds_and_what_the_alignment_intervals_cover():
    assert "all clips (5-fold)" in scope_note(ResultsConfig(aligner_seeds=[0, 1], aligner_folds=5))
    assert "cover test clips and 2 aligner" in scope_note(ResultsConfig(aligner_seeds=[0, 1]))
    for bad in (1, -2):
        with pytest.raises(ValueError, match="aligner_folds"):
            ResultsConfig(aligner_folds=bad)


def test_table1_refuses_unknown_systems_and_the_caption_claim_is_named_by_its_captions():
    with pytest.raises(ValueError, match="unknown Table 1 systems"):
        table1_runs(SimpleNamespace(), ResultsConfig(), None, None, systems=["MMGen", "MusicGen"])
    assert caption_claim("sound") == f"{GENERATION_CLAIM} [sound captions]"
