"""Melody database, retrieval and Intersection Rate (mmgen_core.retrieval, mmgen_core.isr)."""
import dataclasses
import json

import faiss
import numpy as np
import pandas as pd
import pytest

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import load_profile
from mmgen_core.reporting import plot_isr_latency
from mmgen_core.retrieval import (
    IndexConfig,
    RetrievalConfig,
    RetrievalError,
    VectorDB,
    choose_config,
    cluster_assignments,
    default_grid,
    describe_clusters,
    grid_from_config,
    intersection_rate,
    per_item_isr,
    recall_at_k,
    run_grid,
)

IDS = ["a", "b", "c", "d"]
E = np.eye(4, dtype=np.float32)
QUERY = np.array([[1.0, 0.9, 0.0, 0.0]], dtype=np.float32)  # top-2 of E: rows 0, 1


def random_unit(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("audio_rows, expected", [
    ([0, 1, 2, 3], 1.0),   # same top-2 {a, b}
    ([0, 2, 1, 3], 0.5),   # a→e0, b→e2, c→e1: top-2 {a, c}
    ([2, 3, 0, 1], 0.0),   # c→e0, d→e1: top-2 {c, d}
])
def test_isr_known_overlaps(audio_rows, expected):
    melody = VectorDB.build(E, IDS)
    audio = VectorDB.build(E[audio_rows], IDS)
    assert intersection_rate(melody, audio, QUERY, k=2) == expected


def test_isr_averages_over_queries():
    melody = VectorDB.build(E, IDS)
    audio = VectorDB.build(E[[2, 3, 0, 1]], IDS)
    # query 1: melody {a, b}, audio {c, d} → 0; query 2: melody {a, c}, audio {c, a} → 1
    queries = np.array([[1, 0.9, 0, 0], [1, 0, 0.9, 0]], dtype=np.float32)
    assert intersection_rate(melody, audio, queries, k=2) == pytest.approx(0.5)


def test_isr_needs_same_items():
    with pytest.raises(RetrievalError, match="same ids"):
        intersection_rate(VectorDB.build(E, IDS), VectorDB.build(E, ["a", "b", "c", "x"]), QUERY, k=1)


def test_per_item_isr_constructed_case():
    melody = VectorDB.build(E, IDS)
    audio = E.copy()
    audio[3] = [0.9, 0.0, 0.0, 0.1]  # audio d is closest to melody a: a miss at K=1, a hit at K=2
    assert per_item_isr(melody, audio, k=1) == 0.75
    assert per_item_isr(melody, audio, k=2) == 1.0
    assert per_item_isr(melody, audio[:2], k=1, query_ids=["b", "a"]) == 0.0


def test_flat_matches_numpy_brute_force():
    x, q = random_unit(300, 32, seed=1), random_unit(20, 32, seed=2) * 7.0  # queries get normalised
    result = VectorDB.build(x * 3.0, [str(i) for i in range(300)]).search(q, k=5)
    scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ x.T
    top = np.argsort(-scores, axis=1)[:, :5]
    np.testing.assert_array_equal(result.indices, top)
    np.testing.assert_allclose(result.scores, np.take_along_axis(scores, top, 1), rtol=1e-5, atol=1e-5)
    assert result.ids[0] == [str(i) for i in top[0]]


@pytest.mark.parametrize("config", [IndexConfig("flat"), IndexConfig("ivf", nlist=8, nprobe=2),
                                    IndexConfig("hnsw", M=8, ef_construction=32, ef_search=20)])
def test_save_load_round_trip(tmp_path, config):
    x, q = random_unit(200, 16, seed=3), random_unit(10, 16, seed=4)
    ids, tokens = [f"id{i}" for i in range(200)], [f"<C4>,<{i}>,<79>" for i in range(200)]
    db = VectorDB.build(x, ids, config, tokens=tokens)
    before = db.search(q, k=4)
    db.save(tmp_path / "db")
    loaded = VectorDB.load(tmp_path / "db")
    after = loaded.search(q, k=4)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.scores, before.scores)
    assert after.ids == before.ids and loaded.config == db.config
    np.testing.assert_array_equal(loaded.embeddings(after.indices[:, 0]), db.embeddings(before.indices[:, 0]))
    assert loaded.tokens_of(after.indices[0, 0]) == tokens[before.indices[0, 0]]
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["index.faiss", "meta.json", "vectors.npy"]


def test_embeddings_are_the_stored_unit_vectors():
    x = random_unit(50, 8) * 5.0
    db = VectorDB.build(x, [str(i) for i in range(50)], tokens=[f"t{i}" for i in range(50)])
    r = db.embeddings(db.search(x[[7, 9]], k=1).indices[:, 0])
    np.testing.assert_allclose(r, x[[7, 9]] / 5.0, atol=1e-6)
    assert db.tokens_of([[7, 9]]) == [["t7", "t9"]]
    with pytest.raises(RetrievalError, match="without tokens"):
        VectorDB.build(x, [str(i) for i in range(50)]).tokens_of(0)


def test_bad_input_gives_clear_errors(tmp_path):
    db = VectorDB.build(E, IDS)
    with pytest.raises(RetrievalError, match="dimension 3 but the database holds 4-d"):
        db.search(np.ones((1, 3)), k=1)
    with pytest.raises(RetrievalError, match="k=5 but the database holds 4"):
        db.search(QUERY, k=5)
    with pytest.raises(RetrievalError, match="empty database"):
        VectorDB.build(np.zeros((0, 4)), [])
    with pytest.raises(RetrievalError, match="empty database"):
        VectorDB.build([], [])
    with pytest.raises(RetrievalError, match="2-D"):
        db.search(np.ones(4), k=1)
    with pytest.raises(RetrievalError, match="NaN/inf"):
        VectorDB.build(np.array([[1.0, np.nan, 0, 0]]), ["a"])
    with pytest.raises(RetrievalError, match="NaN/inf"):
        db.search(np.array([[np.inf, 0, 0, 0]]), k=1)
    with pytest.raises(RetrievalError, match="nlist=8 > 4"):
        VectorDB.build(E, IDS, IndexConfig("ivf", nlist=8))
    with pytest.raises(RetrievalError, match="unique"):
        VectorDB.build(E, ["a", "a", "b", "c"])
    with pytest.raises(RetrievalError, match="missing"):
        VectorDB.load(tmp_path / "nothing")
    with pytest.raises(RetrievalError, match="unknown"):
        IndexConfig("annoy")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    db = VectorDB.build(E, IDS)
    db.save(tmp_path)
    meta_before = (tmp_path / "meta.json").read_text()
    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dumps", disk_full)  # fails while writing meta.json, the last file
    with pytest.raises(OSError):
        db.save(tmp_path)
    assert (tmp_path / "meta.json").read_text() == meta_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.faiss", "meta.json", "vectors.npy"]


def test_recall_at_k_against_flat():
    x, q = random_unit(400, 16, seed=5), random_unit(30, 16, seed=6)
    ids = [str(i) for i in range(400)]
    exact = VectorDB.build(x, ids).search(q, k=10)
    assert recall_at_k(exact, exact) == 1.0
    ivf = VectorDB.build(x, ids, IndexConfig("ivf", nlist=20, nprobe=1)).search(q, k=10)
    assert 0.0 < recall_at_k(ivf, exact) < 1.0  # one cluster of 20 misses some true neighbours


def test_cluster_assignments_are_nearest_centroids():
    x = random_unit(120, 8, seed=7)
    db = VectorDB.build(x, [str(i) for i in range(120)], IndexConfig("ivf", nlist=6))
    labels = cluster_assignments(db)
    centroids = faiss.extract_index_ivf(db.index).quantizer.reconstruct_n(0, 6)
    np.testing.assert_array_equal(labels, np.argmax(db.vectors @ centroids.T, axis=1))
    with pytest.raises(RetrievalError, match="IVF"):
        cluster_assignments(VectorDB.build(x, [str(i) for i in range(120)]))


def test_describe_clusters_counts_majorities():
    meta = [{"instrument": "piano", "key": "C"}, {"instrument": "piano", "key": "G"},
            {"instrument": "violin", "key": "G"}, {"instrument": "flute"}]
    df = describe_clusters(np.array([1, 1, 1, 0]), meta, ["instrument", "key"])
    assert list(df["cluster"]) == [1, 0] and list(df["size"]) == [3, 1]
    assert df.loc[0, "instrument"] == "piano" and df.loc[0, "instrument_share"] == pytest.approx(2 / 3)
    assert df.loc[0, "key"] == "G" and pd.isna(df.loc[1, "key"]) and df.loc[1, "key_share"] == 0.0


def test_default_grid_caps_small_databases():
    small = default_grid(10)
    assert [c.kind for c in small].count("flat") == 1
    assert all(c.nlist <= 10 and c.nprobe <= c.nlist for c in small if c.kind == "ivf")
    assert {c.ef_construction for c in small if c.kind == "hnsw"} == {64}
    big = default_grid(5000)
    assert IndexConfig("hnsw", M=32, ef_construction=2048, ef_search=128) in big
    assert {c.nprobe for c in big if c.kind == "ivf"} == {1, 4, 16}


def test_run_grid_and_choose_config():
    melody = random_unit(80, 16, seed=8)
    audio = melody + 0.3 * random_unit(80, 16, seed=9)
    ids = [str(i) for i in range(80)]
    configs = default_grid(80)
    df = run_grid(melody, audio, ids, configs, k=3, repeats=1)
    assert len(df) == len(configs)
    assert {"label", "kind", "params", "isr", "isr_per_item", "recall_at_k", "build_s",
            "ms_per_query", "queries_per_s", "index_bytes"} <= set(df.columns)
    flat = df[df.kind == "flat"].iloc[0]
    assert flat.recall_at_k == 1.0
    assert flat.isr_per_item == per_item_isr(VectorDB.build(melody, ids), audio, k=3)
    assert ((df.isr >= 0) & (df.isr <= 1)).all() and (df.index_bytes > 0).all()
    chosen = choose_config(df)
    assert df.loc[df.label == chosen.label, "isr"].iloc[0] == df.isr.max()
    plot_isr_latency(df)


def test_choose_config_prefers_isr_then_grid_order():
    rows = [("flat", {}, 0.60, 1.0), ("ivf", {"nlist": 9, "nprobe": 1}, 0.40, 0.1),
            ("hnsw", {"M": 32, "ef_construction": 2048, "ef_search": 128}, 0.60, 0.5),
            ("hnsw", {"M": 16, "ef_construction": 64, "ef_search": 16}, 0.55, 0.2)]
    df = pd.DataFrame(rows, columns=["kind", "params", "isr", "ms_per_query"])
    assert choose_config(df) == IndexConfig("flat")  # tied with a faster HNSW: the fixed order wins, not latency
    assert choose_config(df.iloc[::-1]) == IndexConfig("hnsw", M=32, ef_construction=2048, ef_search=128)
    df.loc[1, "isr"] = 0.7
    assert choose_config(df) == IndexConfig("ivf", nlist=9, nprobe=1)


def test_set_search_params_changes_results_without_rebuild():
    x, q = random_unit(400, 16, seed=10), random_unit(30, 16, seed=11)
    db = VectorDB.build(x, [str(i) for i in range(400)], IndexConfig("ivf", nlist=20, nprobe=1))
    exact = VectorDB.build(x, db.ids).search(q, k=5)
    db.set_search_params(nprobe=20)
    assert db.config.nprobe == 20 and recall_at_k(db.search(q, k=5), exact) == 1.0


@pytest.mark.parametrize("name", ["smoke", "tiny", "paper"])
def test_profiles_have_valid_retrieval_sections(name):
    cfg = load_profile(name).section("retrieval", RetrievalConfig)
    assert grid_from_config(cfg, 20)
    if name == "paper":
        assert cfg.fixed_index() == IndexConfig("hnsw", M=32, ef_construction=2048, ef_search=128)
    with pytest.raises(RetrievalError):
        dataclasses.replace(cfg, select_by="best")


# ---------------------------------------------------------------- the stage: load_or_build_database, retrieve

from types import SimpleNamespace  # noqa: E402

from mmgen_core.data import Item
from mmgen_core.reproduction import PAPER_ISR
from mmgen_core.retrieval import (
    DatabaseStage,
    SearchResult,
    chance_match,
    cluster_purity,
    grid_table,
    item_attributes,
    load_grid,
    load_or_build_database,
    match_table,
    modality_isr,
    retrieve,
    save_grid,
)

INSTRUMENTS, STYLES = ["flute", "harp", "violin"], ["reel", "chorale"]


def fake_items(n, split="train", prefix="t"):
    return [Item(id=f"{prefix}{i}", audio=f"{prefix}{i}.wav",
                 captions=[f"{STYLES[i % 2]} on {INSTRUMENTS[i % 3]} #{i}"],
                 melody=f"<C4>,<{i}>,<79>", split=split,
                 meta={"instrument": INSTRUMENTS[i % 3], "style": STYLES[i % 2], "tonic": "C", "mode": "major"})
            for i in range(n)]


class FakeManifest:
    def __init__(self, items):
        self._items = items

    def items(self, split=None):
        return [it for it in self._items if split is None or it.split == split]


class FakeRun:
    """What load_or_build_database needs of an AlignmentRun: a folder and exported embeddings."""

    def __init__(self, folder, ids, seed=0, melody=True):
        self.folder, self.variant = folder, "trimodal"
        m = random_unit(len(ids), 16, seed)
        a = m + 0.2 * random_unit(len(ids), 16, seed + 1)
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        self.sets = {"train": SimpleNamespace(split="train", ids=list(ids), audio=a, text=a.copy(),
                                              melody=m if melody else None)}

    def embeddings(self, split="train"):
        return self.sets[split]


def _cfg(profile):
    return profile.section("retrieval", RetrievalConfig)


@pytest.fixture
def stage_inputs(tmp_path):
    items = fake_items(60)
    return (load_profile("smoke", root=tmp_path), FakeRun(tmp_path / "alignment-abc", [it.id for it in items]),
            FakeManifest(items + fake_items(5, "test", "q")))


def test_load_or_build_database_builds_then_reuses(stage_inputs, monkeypatch):
    import mmgen_core.retrieval.stage as isr

    profile, run, manifest = stage_inputs
    stage = load_or_build_database(_cfg(profile), run, manifest, profile.artifacts, progress=False)
    assert isinstance(stage, DatabaseStage) and not stage.reused and stage.selected_by == "isr"
    assert stage.folder.parent == profile.artifacts and stage.folder.name.startswith("retrieval-")
    assert len(stage.grid) == 3 and stage.config == stage.db.config
    assert stage.config == dataclasses.replace(choose_config(stage.grid), nlist=stage.config.nlist)
    assert stage.db.ids == run.embeddings().ids and stage.db.tokens_of(5) == "<C4>,<5>,<79>"
    np.testing.assert_allclose(stage.db.vectors, run.embeddings().melody, atol=1e-6)
    files = {p.name for p in stage.folder.iterdir()}
    assert {"grid.csv", "done.json", "meta.json", "index.faiss", "vectors.npy"} <= files

    monkeypatch.setattr(isr, "run_grid", lambda *a, **k: pytest.fail("a reused stage must not rerun the grid"))
    again = load_or_build_database(_cfg(profile), run, manifest, profile.artifacts, progress=False)
    assert again.reused and again.folder == stage.folder and again.config == stage.config
    pd.testing.assert_frame_equal(again.grid, stage.grid)
    q = run.embeddings().audio[:7]
    np.testing.assert_array_equal(retrieve(again, q, 3).indices, retrieve(stage, q, 3).indices)


def test_database_stage_rebuilds_when_inputs_change(stage_inputs):
    profile, run, manifest = stage_inputs
    first = load_or_build_database(_cfg(profile), run, manifest, profile.artifacts, progress=False)
    retrained = FakeRun(run.folder.with_name("alignment-def"), run.embeddings().ids, seed=5)  # another aligner
    again = load_or_build_database(_cfg(profile), retrained, manifest, profile.artifacts, progress=False)
    assert again.folder != first.folder
    with pytest.raises(CheckpointError, match="04_retrieval_isr"):  # a missing database, and no building allowed
        load_or_build_database(_cfg(profile), FakeRun(run.folder.with_name("alignment-x"), run.embeddings().ids),
                               manifest, profile.artifacts, build_missing=False)
    fixed = load_profile("smoke", {"retrieval.index": {"kind": "hnsw", "M": 8, "ef_construction": 32,
                                                       "ef_search": 16}}, root=profile.root)
    stage = load_or_build_database(_cfg(fixed), run, manifest, fixed.artifacts, progress=False)
    assert stage.folder != first.folder and stage.grid is None and stage.selected_by == "profile"
    assert stage.config == IndexConfig("hnsw", M=8, ef_construction=32, ef_search=16)
    assert load_or_build_database(_cfg(fixed), run, manifest, fixed.artifacts).selected_by == "profile"


def test_database_stage_bad_inputs(stage_inputs):
    profile, run, manifest = stage_inputs
    with pytest.raises(RetrievalError, match="no melody tower"):
        load_or_build_database(_cfg(profile), FakeRun(run.folder, run.embeddings().ids, melody=False), manifest,
                               profile.artifacts)
    with pytest.raises(RetrievalError, match="not in the manifest"):
        load_or_build_database(_cfg(profile), FakeRun(run.folder, ["t0", "zz"]), manifest, profile.artifacts)
    items = fake_items(3)
    items[1].melody = None
    with pytest.raises(RetrievalError, match="no melody tokens"):
        load_or_build_database(_cfg(profile), FakeRun(run.folder, [it.id for it in items]), FakeManifest(items),
                               profile.artifacts)


def test_retrieve_gives_ids_scores_embeddings_tokens():
    x = random_unit(40, 8, seed=12)
    ids, tokens = [f"m{i}" for i in range(40)], [f"tok{i}" for i in range(40)]
    db = VectorDB.build(x, ids, tokens=tokens)
    got = retrieve(db, x[[3, 8]] * 2.0, k=2)
    assert isinstance(got, SearchResult) and len(got) == 2
    assert got.top_ids == ["m3", "m8"] and got.top_tokens == ["tok3", "tok8"]
    np.testing.assert_allclose(got.top_scores, 1.0, atol=1e-5)
    assert got.embeddings.shape == (2, 2, 8)
    np.testing.assert_allclose(got.top_embeddings, x[[3, 8]], atol=1e-6)
    assert [t[1] for t in got.tokens] == [tokens[i] for i in got.indices[:, 1]]
    rec = got.records()[1]
    assert rec["ids"][0] == "m8" and rec["tokens"][0] == "tok8" and rec["embeddings"].shape == (2, 8)
    one = retrieve(db, x[5], k=1)  # a single 1-D vector is one query
    assert one.top_ids == ["m5"]
    with pytest.raises(RetrievalError, match="without tokens"):
        _ = retrieve(VectorDB.build(x, ids), x[:1]).top_tokens


def test_retrieve_fills_ivf_holes_exactly():
    x, q = random_unit(200, 8, seed=13), random_unit(20, 8, seed=14)
    ids = [str(i) for i in range(200)]
    ivf = VectorDB.build(x, ids, IndexConfig("ivf", nlist=40, nprobe=1), tokens=ids)
    assert (ivf.search(q, 30).indices < 0).any()  # one cluster of ~5 cannot give 30 hits
    got = retrieve(ivf, q, 30)
    assert (got.indices >= 0).all() and all(len(row) == 30 for row in got.ids)
    exact = VectorDB.build(x, ids).search(q, 30)
    holes = (ivf.search(q, 30).indices < 0).any(axis=1)
    np.testing.assert_array_equal(got.indices[holes], exact.indices[holes])
    np.testing.assert_allclose(got.scores[holes], exact.scores[holes], atol=1e-5)


def test_grid_csv_round_trip_and_report_table(tmp_path):
    melody = random_unit(50, 8, seed=15)
    df = run_grid(melody, melody, [str(i) for i in range(50)], default_grid(50)[:4], k=2, repeats=1)
    back = load_grid(save_grid(df, tmp_path / "grid.csv"))
    assert back["params"].tolist() == df["params"].tolist()
    assert choose_config(back) == choose_config(df)
    table = grid_table(df, choose_config(df))
    assert table["chosen"].sum() == 1 and "index_kib" in table and "params" not in table
    assert {r["label"] for r in PAPER_ISR} >= {"Flat", "HNSW M32 efC2048 efS128"}


def test_modality_isr_per_query_set():
    melody = random_unit(30, 8, seed=16)
    ids = [str(i) for i in range(30)]
    df = modality_isr(melody, melody, ids, {"train audio": (melody, ids), "free text": (melody[:4], None)},
                      [IndexConfig("flat")], k=1)
    assert list(df["queries"]) == ["train audio", "free text"]
    assert (df["isr"] == 1.0).all() and df.loc[0, "isr_per_item"] == 1.0 and pd.isna(df.loc[1, "isr_per_item"])
    assert df.loc[0, "chance"] == pytest.approx(1 / 30)


def test_item_attributes_and_match_rates():
    items = fake_items(6)
    assert item_attributes(items[0]) == {"instrument": "flute", "style": "reel", "key": "C major"}
    assert item_attributes(Item("x", "x.wav", ["c"], meta={"instrument": ""}), ["instrument", "key"]) == \
        {"instrument": None, "key": None}
    pool = {it.id: it for it in items}
    got = SearchResult(np.array([[0.9], [0.5]]), np.array([[3], [1]]), [["t3"], ["t1"]], np.zeros((2, 1, 4)))
    table = match_table([items[0], items[1]], got, pool)
    assert table["retrieved_id"].tolist() == ["t3", "t1"]
    assert table["same_instrument"].tolist() == [True, True] and table["same_style"].tolist() == [False, True]
    assert table["same_key"].all()
    chance = chance_match(items[:1], items)
    assert chance == {"instrument": pytest.approx(2 / 6), "style": pytest.approx(3 / 6), "key": 1.0}


def test_cluster_purity_beats_shuffles_only_when_clusters_follow_metadata():
    meta = [{"instrument": INSTRUMENTS[i % 3]} for i in range(60)]
    by_instrument = np.array([i % 3 for i in range(60)])
    df = cluster_purity(by_instrument, meta, ["instrument"])
    assert df.loc[0, "purity"] == 1.0 and df.loc[0, "shuffled_purity"] < 0.6 and df.loc[0, "n_values"] == 3
    unrelated = np.array([(i // 3) % 4 for i in range(60)])  # each cluster holds 5 of every instrument
    assert cluster_purity(unrelated, meta, ["instrument"]).loc[0, "purity"] == pytest.approx(1 / 3)


def test_paper_comparison_and_choice_summary():
    from mmgen_core.reproduction import paper_comparison
    from mmgen_core.retrieval import choice_summary

    rows = [("flat", {}, 0.60, 1.0), ("ivf", {"nlist": 9, "nprobe": 1}, 0.40, 0.1),
            ("ivf", {"nlist": 9, "nprobe": 4}, 0.55, 0.3),
            ("hnsw", {"M": 32, "ef_construction": 256, "ef_search": 64}, 0.60, 0.5),
            ("hnsw", {"M": 16, "ef_construction": 64, "ef_search": 16}, 0.55, 0.2)]
    df = pd.DataFrame(rows, columns=["kind", "params", "isr", "ms_per_query"])
    df["label"] = [IndexConfig(kind=k, **p).label for k, p in zip(df.kind, df.params)]
    df["isr_per_item"] = df["isr"] / 2
    cmp = paper_comparison(df)
    assert cmp["index (ours)"].tolist() == ["Flat", "HNSW M32 efC256 efS64", "IVF nlist9 nprobe1"]
    assert cmp["ISR (paper, MusicCaps)"].tolist() == [0.632, 0.632, 0.359]
    assert choose_config(df) == IndexConfig("flat")
    text = choice_summary(df, IndexConfig("hnsw", M=32, ef_construction=256, ef_search=64))
    assert "HNSW M32 efC256 efS64" in text and "tied with 1" in text and "Flat (exact) scores 0.600" in text
    assert "IVF nlist9 nprobe1 at 0.400" in text
    with pytest.raises(RetrievalError, match="not in the grid"):
        choice_summary(df, IndexConfig("hnsw", M=8))
    assert "every configuration scores the same" in choice_summary(df.assign(isr=0.5), IndexConfig("flat"))
