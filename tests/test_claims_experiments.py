"""The two claims experiments of notebook 09: the ISR claims grid, the generation cache, ρ(ISR, quality) and its
verdict, the nested training fractions and their artifact keys, the small-data row, and the claims table merge."""
from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import measured_set, synth

from mmgen_core.alignment import CLMP, AlignmentConfig, alignment_dir, resolve_variant
from mmgen_core.artifacts import stage_dir
from mmgen_core.audio import save_audio
from mmgen_core.audio.frontend import AUDIOLDM_MEL
from mmgen_core.config import load_profile
from mmgen_core.data import Item, Manifest, TrainFraction, fraction_ids, fraction_table, subset_key, train_fraction
from mmgen_core.decoder import Decoder, VAEConfig, Vocoder, VocoderConfig, build_hifigan, build_vae, decoder_dir
from mmgen_core.decoder.stage import FORMAT as DECODER_FORMAT
from mmgen_core.diffusion import DiffusionConfig, build_unet, conditions_dir
from mmgen_core.evaluation import EvaluationConfig
from mmgen_core.evaluation.harness import EvalSet, Harness, Margins, Measurements
from mmgen_core.melody import Note, notes_to_text, save_midi
from mmgen_core.pipeline import GenerationConfig, MMGenPipeline, score_melodies
from mmgen_core.reproduction import (
    ISR_CLAIM,
    SMALL_DATA_CLAIM,
    CaptionRun,
    ClaimsConfig,
    GenerationCache,
    IsrGrid,
    IsrRun,
    PinnedRetrieval,
    ResultsConfig,
    ScalingRun,
    claims,
    caption_pairs,
    clip_seed,
    isr_claim_row,
    isr_generations,
    isr_per_caption,
    load_experiment_claims,
    measure_grid,
    per_caption_effect,
    per_caption_effects,
    rank_effect,
    scaling_effects,
    small_data_not_run,
    small_data_row,
    system_name,
    update_claims_table,
)
from mmgen_core.evaluation.intervals import Effect
from mmgen_core.reporting.melody import reach_note
from mmgen_core.reproduction.isr_claim import CAPTION_SYSTEM
from mmgen_core.retrieval import IndexConfig, RetrievalError, VectorDB, claims_grid
from mmgen_core.stages import Stages

# ----------------------------------------------------------------------------- the claims grid


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_claims_grid_spans_every_family_at_tiny_size_and_skips_with_reasons_when_small():
    grid, skipped = claims_grid(480, 512)
    kinds = [c.kind for c in grid]
    assert len(grid) >= 8 and not skipped and set(kinds) == {"flat", "ivf", "pq", "ivfpq", "hnsw"}
    assert grid[0] == IndexConfig("flat") and len(set(grid)) == len(grid)  # no duplicate configuration
    assert {c.nprobe for c in grid if c.kind == "ivf"} == {1, 2, 4, 8}
    assert {c.nlist for c in grid if c.kind == "ivf"} == {120} and {c.pq_bits for c in grid if c.kind == "pq"} == {8}
    assert {c.ef_search for c in grid if c.kind == "hnsw"} == {1, 2, 4}
    small, why = claims_grid(3, 512)
    assert [c.kind for c in small] == ["flat", "hnsw", "hnsw"]
    assert any(w.startswith("IVF") for w in why) and any(w.startswith("PQ") for w in why)
    with pytest.raises(RetrievalError):
        claims_grid(0, 8)


@pytest.mark.parametrize("n", [4, 9, 19, 300])
def test_every_claims_grid_configuration_builds_within_faiss_limits(n):
    x = _unit(np.random.default_rng(n).normal(size=(n, 16)))
    grid, _ = claims_grid(n, 16)
    for config in grid:
        db = VectorDB.build(x, [f"i{i}" for i in range(n)], config)
        assert (db.search(x[:3], 1).indices >= -1).all(), config.label


def test_pq_indexes_explain_faiss_limits_and_round_trip(tmp_path):
    x = _unit(np.random.default_rng(0).normal(size=(20, 16)))
    ids = [f"i{i}" for i in range(20)]
    with pytest.raises(RetrievalError, match="256 centroids per code need at least as many"):
        VectorDB.build(x, ids, IndexConfig("pq", pq_m=2, pq_bits=8))
    with pytest.raises(RetrievalError, match="does not divide the dimension 16"):
        VectorDB.build(x, ids, IndexConfig("pq", pq_m=3, pq_bits=2))
    with pytest.raises(RetrievalError, match="pq_bits"):
        IndexConfig("pq", pq_bits=0)
    cfg = IndexConfig("ivfpq", nlist=4, nprobe=2, pq_m=2, pq_bits=3)
    db = VectorDB.build(x, ids, cfg)
    assert cfg.label == "IVF-PQ nlist4 nprobe2 2×3b" and IndexConfig(kind="ivfpq", **cfg.params()) == cfg
    back = VectorDB.load(db.save(tmp_path / "db"))
    assert back.config == cfg and (back.search(x, 2).indices == db.search(x, 2).indices).all()


def test_grid_with_known_overlaps():
    """Four items in the plane. The melody and audio databases hold them in different places, so that for the
    query (1, 0) the melody top-2 is {a, b} and the audio top-2 is {a, c}: eq. 8 gives exactly 1/2, for Flat
    and for an HNSW that searches the whole (4-item) graph."""
    melody = np.array([[1, 0], [0.8, 0.6], [-1, 0], [0, -1]], dtype=np.float32)
    audio = np.array([[1, 0], [-1, 0], [0.8, 0.6], [0, -1]], dtype=np.float32)
    ids = ["a", "b", "c", "d"]
    q = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)  # (-1, 0): melody {c, d}, audio {b, d}
    configs = [IndexConfig("flat"), IndexConfig("hnsw", M=4, ef_search=8)]
    table, rows, overlaps, skipped = measure_grid(melody, audio, ids, q, configs, 2)
    assert not skipped and np.allclose(table["isr"], 0.5) and (rows == [[0, 2], [0, 2]]).all()
    assert np.allclose(overlaps, 0.5) and overlaps.shape == (2, 2)  # each query's own eq. 8 term
    assert np.allclose(table["isr_per_item"], 0.5)  # audio b and c find their own melody in the top-2 of only one
    assert (table["changed_vs_exact"] == 0).all() and table["retrieved_set"].nunique() == 1


def test_claims_grid_orders_isr_from_exact_to_coarse():
    """Clustered melodies, their audio a small perturbation of them: exact search agrees with the audio index
    most; fewer IVF lists scanned, one PQ code and a one-candidate HNSW walk agree less, and retrieve other
    melodies for some queries (distinct retrieved sets)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    melody = _unit(centres[rng.integers(0, 20, 400)] + 0.6 * rng.normal(size=(400, 32)))
    audio = _unit(melody + 0.15 * rng.normal(size=(400, 32)))
    queries = _unit(melody[:60] + 0.3 * rng.normal(size=(60, 32)))
    grid, _ = claims_grid(400, 32)
    table, _, _, _ = measure_grid(melody, audio, [f"i{i}" for i in range(400)], queries, grid, 5)
    isr = dict(zip(table["config"], table["isr"]))
    per_item = dict(zip(table["config"], table["isr_per_item"]))
    assert isr["Flat"] == table["isr"].max() and per_item["Flat"] == max(per_item.values())
    assert isr["IVF nlist100 nprobe1"] < isr["IVF nlist100 nprobe8"] <= isr["Flat"]
    assert isr["PQ 1×8b"] < isr["Flat"] and isr["HNSW M4 efC16 efS1"] < isr["Flat"]
    assert table["retrieved_set"].nunique() >= 6 and table.loc[0, "changed_vs_exact"] == 0


# ----------------------------------------------------------------------------- ρ(ISR, quality) and its outcome

D = 6


def _systems(isr: np.ndarray, slope: float, seed: int = 0, n_clips: int = 24, runs: int = 2) -> Measurements:
    """One system per configuration over ``runs`` training runs: per-clip text–audio score ``slope · isr`` + clip
    effect + noise, and backbone rows shifted away from the references by ``slope · (1 − isr)`` (a lower KID
    where the score is higher)."""
    rng = np.random.default_rng(seed)
    clip = rng.normal(0, 0.2, n_clips)
    refs = [rng.normal(0, 1, (2, D)) for _ in range(n_clips)]
    m = Measurements([f"c{i}" for i in range(n_clips)], EvaluationConfig())
    for j, x in enumerate(isr):
        shift = max(0.0, slope * (1 - x)) if slope > 0 else max(0.0, -slope * x)
        for t in range(runs):
            m.add(f"set {j}", t, 0, measured_set(rng, shift, refs, {"text_audio": slope * x + clip}, noise=0.05))
    return m


@pytest.mark.parametrize("slope, verdict", [(1.0, "reproduced"), (0.0, "inconclusive"), (-1.0, "contradicted")])
def test_rank_effect_over_configurations_and_runs_follows_the_rule(slope, verdict):
    isr = np.linspace(0.1, 0.9, 8)
    m = _systems(isr, slope)
    e = rank_effect(isr, m.systems(), m, "text_audio", "ρ(ISR, text_audio)", "8 points", margin=0.05)
    assert e.verdict == verdict and -1 <= e.low <= e.estimate <= e.high <= 1 and e.runs == 2
    if slope:
        assert np.sign(e.estimate) == np.sign(slope)
    assert rank_effect(isr, m.systems(), _systems(isr, slope, runs=1), "text_audio", "ρ", "8").verdict == "inconclusive"


def test_rank_effect_signs_lower_is_better_metrics_and_counts_repeated_points_once():
    isr = np.linspace(0.1, 0.9, 6)
    m = _systems(isr, 2.0)
    e = rank_effect(isr, m.systems(), m, "kid", "ρ(ISR, −kid)", "6 points")
    assert e.estimate > 0.8 and e.verdict == "reproduced"  # higher ISR, lower KID: the paper's direction
    assert rank_effect(list(isr[:3]) * 5, m.systems()[:3] * 5, m, "kid", "ρ", "3 points") is None  # 3 distinct points


def test_rank_effect_is_not_sure_of_a_difference_carried_by_one_clip():
    """Two retrieved sets that differ on one clip of 20: without that clip there is no association (ρ = 0), so the
    clip jackknife reaches zero; a rule that ignored it would call the claim reproduced on one clip."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.05, 20)
    better = base.copy()
    better[0] += 0.2
    refs = [rng.normal(0, 1, (2, D)) for _ in range(20)]
    m = Measurements([f"c{i}" for i in range(20)], EvaluationConfig())
    for t in range(3):
        m.add("low", t, 0, measured_set(rng, 0.0, refs, {"text_audio": base}, noise=0.0))
        m.add("high", t, 0, measured_set(rng, 0.0, refs, {"text_audio": better}, noise=0.0))
    e = rank_effect([0.1, 0.2, 0.3, 0.6, 0.7, 0.8], ["low"] * 3 + ["high"] * 3, m, "text_audio", "ρ", "6 points")
    assert e.estimate > 0.8 and e.low <= 0 and e.verdict == "inconclusive"


# ----------------------------------------------------------------------------- generation cache and pinned retrieval

SECONDS = 0.64
DIFF = DiffusionConfig(block_out_channels=[8, 16], attention=[False, True], head_channels=8, norm_num_groups=4)


def test_generation_cache_makes_each_key_once():
    calls = []

    def make(keys):
        calls.append(list(keys))
        return [np.full(3, hash(k) % 97, dtype=float) for k in keys]

    cache = GenerationCache()
    a = cache.get([("mmgen", "t0", "c1", 0), ("mmgen", "t1", "c2", 0)], make)
    b = cache.get([("mmgen", "t0", "c1", 0), ("mmgen", "t1", "c3", 0)], make)  # t0 retrieves the same melody
    assert calls == [[("mmgen", "t0", "c1", 0), ("mmgen", "t1", "c2", 0)], [("mmgen", "t1", "c3", 0)]]
    assert a[0] is b[0] and (cache.made, cache.reused, len(cache)) == (3, 1, 3)
    with pytest.raises(ValueError, match="returned 0 values"):
        cache.get([("x",)], lambda keys: [])


def _melody(k: int) -> list[Note]:
    return [Note(60 + (k + i) % 12, 0.15 * i, 0.15 * i + 0.12) for i in range(4)]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 4-clip training set and 4 test clips, a random aligner, a database and an mmgen+roll pipeline."""
    root = tmp_path_factory.mktemp("claims")
    items = []
    for k, split in enumerate(["train"] * 4 + ["test"] * 4):
        notes = _melody(k)
        save_audio(root / f"c{k}.wav", synth(notes, SECONDS))
        save_midi(notes, root / f"c{k}.mid")
        items.append(Item(id=f"c{k}", audio=f"c{k}.wav", captions=[f"tune number {k}"], melody=notes_to_text(notes),
                          melody_gt=notes_to_text(notes), split=split, meta={"score_midi": f"c{k}.mid"}))
    manifest = Manifest(root)
    manifest.write(items)
    torch.manual_seed(0)
    embedder = CLMP(AlignmentConfig(audio_spec_size=64, audio_patch=16, audio_window=2, audio_width=8,
                                    audio_depths=[1, 1], audio_heads=[1, 1], melody_tower="mean"), SECONDS).eval()
    train = manifest.items("train")
    db = VectorDB.build(embedder.embed_melody([it.melody for it in train]).float().numpy(), [it.id for it in train],
                        tokens=[it.melody for it in train])
    torch.manual_seed(1)
    decoder = Decoder(build_vae(VAEConfig(block_out_channels=[4, 4, 8], norm_num_groups=2)),
                      Vocoder("hifigan", build_hifigan(VocoderConfig(upsample_initial_channel=32, resblock_kernel_sizes=[3],
                                                                     resblock_dilation_sizes=[[1]])).eval()))
    gen = GenerationConfig(steps=2, candidates=1, batch_size=2, mode="mmgen+roll")
    pipe = MMGenPipeline(build_unet(DIFF, "mmgen+roll", 8), decoder, embedder, db, DIFF, gen, SECONDS,
                         melody_notes=score_melodies(db, manifest))
    return SimpleNamespace(manifest=manifest, embedder=embedder, db=db, pipe=pipe, gen=gen)


def test_pinned_retrieval_conditions_on_the_given_melody(small):
    pipe = small.pipe
    pipe.melody_db = PinnedRetrieval(small.db, [2])
    try:
        a = pipe(["tune number 5"], seed=clip_seed("c5", 0), progress=False)
        b = pipe(["tune number 5"], seed=clip_seed("c5", 0), progress=False)
        pipe.melody_db = PinnedRetrieval(small.db, [3])
        c = pipe(["tune number 5"], seed=clip_seed("c5", 0), progress=False)
    finally:
        pipe.melody_db = small.db
    assert a.melody_ids == ["c2"] and c.melody_ids == ["c3"]
    assert [n.pitch for n in a.melodies[0]] == [n.pitch for n in _melody(2)]
    assert np.array_equal(a.waveforms, b.waveforms) and not np.array_equal(a.waveforms, c.waveforms)
    assert clip_seed("c5", 0) == clip_seed("c5", 0) != clip_seed("c6", 0)
    with pytest.raises(RetrievalError):
        PinnedRetrieval(small.db, [2]).search(np.zeros((2, 4)), 1)


def test_isr_generations_reuse_audio_for_identical_retrievals(small, monkeypatch):
    """Three configurations over four test captions: the first two retrieve the same melodies, the third another
    melody for one caption. 4 + 1 clips are generated, the rest reused, and identical retrievals score alike."""
    items = small.manifest.items("test")
    rows = np.array([[0, 1, 2, 0], [0, 1, 2, 0], [0, 3, 2, 0]])
    table = pd.DataFrame({"config": ["A", "B", "C"], "kind": ["flat"] * 3, "isr": [0.9, 0.8, 0.4],
                          "isr_per_item": [1.0, 1.0, 0.5], "retrieved_set": [0, 0, 1]})
    grid = IsrGrid(table, rows, items, np.zeros((4, 4)), [], 1)
    calls = []
    pipe_call = MMGenPipeline.__call__

    def counted(self, *args, **kw):
        calls.append((args[0][0], self.melody_db.rows.tolist()))
        return pipe_call(self, *args, **kw)

    monkeypatch.setattr(MMGenPipeline, "__call__", counted)
    run_stages = SimpleNamespace(unet=lambda mode: (small.pipe.unet, {}), pipeline_of=lambda unet, gen: small.pipe,
                                 generation_config=small.gen, unet_folder=lambda mode: SimpleNamespace(name="unet-x"))
    stages = SimpleNamespace(melody_db=small.db, generation_config=small.gen, with_unet_seed=lambda t: run_stages,
                             harness=lambda its, cfg: Harness(EvalSet.from_items(small.manifest, its), cfg,
                                                              small.embedder, progress=False))
    run = isr_generations(stages, grid, "mmgen+roll", ClaimsConfig(seeds=[0], isr_clips=0),
                          ResultsConfig(sampler="ddim", steps=2), EvaluationConfig(bootstrap=0, fad_inf=True))
    assert len(calls) == 5 and (run.made, run.reused) == (5, 3)
    assert ("tune number 5", [3]) in calls and small.pipe.melody_db is small.db
    a, b = (run.harness.sets[f"retrieved set {i}", 0, 0].clips for i in (0, 1))
    assert a[0].values["richness"] == b[0].values["richness"]  # the same (caption, melody): the same clip
    assert a[1].values["richness"] != b[1].values["richness"]  # another melody for caption 1: another clip
    assert run.harness.run_values("retrieved set 0", "chroma_target").shape == (1, 5)
    assert run.n_text().startswith("3 distinct (ISR, generation) points of 3 configurations × 4 clips")
    row = isr_claim_row({"mmgen+roll": run}, "mmgen+roll")
    assert row["claim"] == ISR_CLAIM and row["verdict"] == "inconclusive" and "not measurable" in row["evidence"]


def test_isr_per_caption_generates_each_pair_once_sharing_clips_with_the_grid(small):
    """Four configurations (A: exact search) over four captions: each caption's melodies are its pairs (10, 6 of them
    approximate), generated per sampling seed; seed 0's clips are the grid's own (the shared cache), seed 1's new."""
    items = small.manifest.items("test")
    rows = np.array([[0, 1, 2, 0], [1, 3, 2, 0], [2, 1, 0, 0], [0, 2, 2, 3]])
    table = pd.DataFrame({"config": ["A", "B", "C", "D"], "kind": ["flat", "hnsw", "ivf", "pq"],
                          "isr": [0.9, 0.8, 0.4, 0.3], "isr_per_item": [1.0, 1.0, 0.5, 0.5], "retrieved_set": [0, 1, 2, 3]})
    overlaps = np.array([[0.6, 0.8, 0.2, 0.4], [0.2, 0.6, 0.4, 0.4], [0.2, 0.4, 0.2, 0.2], [0.8, 0.2, 0.6, 0.0]])
    grid = IsrGrid(table, rows, items, np.zeros((4, 4)), [], 1, overlaps)
    pairs = caption_pairs(grid)
    assert list(zip(pairs["clip"], pairs["melody_row"], pairs["exact"]))[:3] == [(0, 0, True), (0, 1, False),
                                                                                 (0, 2, False)]
    assert len(pairs) == 10 and int((~pairs["exact"]).sum()) == 6
    first = pairs.set_index(["clip", "melody_row"])
    assert first.loc[(0, 0), "intersection"] == pytest.approx(0.7) and first.loc[(0, 0), "configs"] == "A, D"
    run_stages = SimpleNamespace(unet=lambda mode: (small.pipe.unet, {}), pipeline_of=lambda unet, gen: small.pipe,
                                 generation_config=small.gen, unet_folder=lambda mode: SimpleNamespace(name="unet-x"))
    stages = SimpleNamespace(melody_db=small.db, generation_config=small.gen, with_unet_seed=lambda t: run_stages,
                             harness=lambda its, cfg: Harness(EvalSet.from_items(small.manifest, its), cfg,
                                                              small.embedder, progress=False))
    cfg = ClaimsConfig(seeds=[0], isr_clips=0, isr_caption_seeds=[0, 1])
    results, ev = ResultsConfig(sampler="ddim", steps=2), EvaluationConfig(bootstrap=0, fad_inf=True)
    cache = GenerationCache()
    isr_generations(stages, grid, "mmgen+roll", cfg, results, ev, cache)
    made = cache.made
    run = isr_per_caption(stages, grid, "mmgen+roll", cfg, results, ev, cache)
    assert made == 10 and cache.made - made == 10  # seed 0: the grid's 10 distinct clips; seed 1: 10 new
    assert run.harness.evalset.ids == [items[c].id for c in pairs["clip"]] and run.values("text_audio").shape == (1, 10)
    assert run.n_text() == "6 (caption, approximate melody) pairs of 4 captions × 2 sampling seeds × 1 training seed"
    clips, dx, dq = run.deltas("text_audio")
    assert list(clips) == [0, 0, 1, 1, 2, 3] and dx == pytest.approx([-0.5, -0.5, 0.0, -0.4, -0.2, -1 / 3])
    assert dq.shape == (1, 6)
    few = ClaimsConfig(isr_caption_seeds=[])
    assert isr_per_caption(stages, grid, "mmgen+roll", few, results, ev).harness is None  # not asked for
    with pytest.raises(ValueError, match="exact search"):
        caption_pairs(IsrGrid(table.assign(kind="hnsw"), rows, items, np.zeros((4, 4)), [], 1, overlaps))


def _caption_run(slope: float, n_captions: int = 8, runs: int = 2) -> CaptionRun:
    """Each caption: its exact melody (intersection 0.5) and two approximate ones; emb_dist = 1 − slope ×
    intersection + noise, so that a higher intersection is better music when ``slope`` > 0."""
    rng = np.random.default_rng(1)
    pairs = pd.DataFrame([{"clip": c, "clip_id": f"c{c}", "melody_row": r, "exact": r == 0,
                           "intersection": 0.5 if r == 0 else float(rng.uniform(0, 1)), "configs": "x"}
                          for c in range(n_captions) for r in range(3)])
    refs = [rng.normal(0, 1, (2, D)) for _ in range(len(pairs))]
    m = Measurements(list(pairs["clip_id"]), EvaluationConfig())
    for t in range(runs):
        dist = 1 - slope * pairs["intersection"].to_numpy() + rng.normal(0, 0.02, len(pairs))
        m.add(CAPTION_SYSTEM, t, 0, measured_set(rng, 0.0, refs, {"emb_dist": dist, "text_audio": 0.3,
                                                                  "chroma_target": 0.2}))
    return CaptionRun("mmgen", pairs, m, [0])


@pytest.mark.parametrize("slope, sign", [(1.0, 1), (-1.0, -1)])
def test_per_caption_rho_follows_the_intersection_against_each_captions_exact_melody(slope, sign):
    run = _caption_run(slope)
    e = per_caption_effect(run, "emb_dist")
    assert e.name == "Spearman ρ(Δ intersection, Δ−emb_dist) per caption, mmgen" and e.runs == 2
    assert sign * e.estimate > 0.9 and sign * e.low > 0  # higher intersection, lower distance: positive
    assert e.n.startswith("16 (caption, approximate melody) pairs of 8 captions × 1 sampling seed × 2 training seeds")
    table = per_caption_effects({"mmgen": run})
    assert list(table["metric"]) == ["emb_dist", "text_audio", "chroma_target"]
    assert set(table["verdict"]) == {"exploratory"}
    deltas = run.deltas_table()
    assert len(deltas) == 16 and np.sign(np.corrcoef(deltas["d_intersection"], deltas["d_emb_dist"])[0, 1]) == sign


def test_the_isr_row_carries_the_per_caption_evidence_and_what_the_counterfactual_says():
    moves = pd.DataFrame([{"system": "MMGen", "swap": "key", "pcp_move": 0.5, "pcp_move low": 0.3,
                           "pcp_move high": 0.7, "pcp_move outcome": "reaches the music"}])
    reach = reach_note(moves, "mmgen")
    assert "reaches the music (the key change moves its pitch classes +0.500 [+0.300, +0.700]" in reach
    assert "nothing against" in reach_note(moves.assign(**{"pcp_move outcome": "no move"}), "mmgen")
    assert "cannot tell" in reach_note(moves.assign(**{"pcp_move outcome": "inconclusive"}), "mmgen")
    assert "not run" in reach_note(None, "mmgen") and "not run" in reach_note(moves, "mmgen+roll")
    isr = np.linspace(0.1, 0.9, 6)
    measured = _systems(isr, 1.0)
    h = Measurements(measured.ids, EvaluationConfig())
    for (system, t, k), m in measured.sets.items():
        h.add(f"retrieved {system}", t, k, m)
    table = pd.DataFrame({"config": [f"c{j}" for j in range(6)], "kind": "ivf", "isr": isr, "isr_per_item": isr,
                          "retrieved_set": range(6)})
    run = IsrRun("mmgen", IsrGrid(table, np.zeros((6, 24), int), [None] * 24, np.zeros((24, 4)), [], 5), h, 6, 0, 1)
    row = isr_claim_row({"mmgen": run}, "mmgen", per_caption={"mmgen": _caption_run(1.0)}, reach=reach)
    assert "per caption, mmgen" in row["evidence"] and reach in row["evidence"]


# ----------------------------------------------------------------------------- nested fractions and their keys


def _manifest(root, n_train: int = 40) -> Manifest:
    items = [Item(id=f"t{i:02d}", audio=f"t{i}.wav", captions=["x"], split="train", meta={"work": f"w{i // 4}"})
             for i in range(n_train)]
    items += [Item(id=f"v{i}", audio=f"v{i}.wav", captions=["x"], split=s) for i, s in enumerate(["valid", "test"] * 3)]
    m = Manifest(root)
    m.write(items)
    return m


def test_fractions_are_nested_and_seeded(tmp_path):
    m = _manifest(tmp_path)
    sets = fraction_ids(m, [0.125, 0.25, 0.5, 1.0], seed=3)
    sizes = [len(v) for v in sets.values()]
    assert sizes == [5, 10, 20, 40]
    ordered = list(sets.values())
    assert all(set(a) <= set(b) for a, b in zip(ordered, ordered[1:]))  # a smaller fraction inside every larger one
    assert fraction_ids(m, [0.25], seed=3)[0.25] == sets[0.25]  # same seed, same set, asked alone
    assert fraction_ids(m, [0.25], seed=4)[0.25] != sets[0.25]  # another seed, another draw
    assert all(r["contains_smaller"] for r in fraction_table(m, [0.5, 0.25, 1.0], seed=3))
    by_work = fraction_ids(m, [0.2, 0.5], seed=0, group_key="work")
    works = {f: {int(i[1:]) // 4 for i in ids} for f, ids in by_work.items()}
    assert all(len(ids) == 4 * len(works[f]) for f, ids in by_work.items()) and works[0.2] <= works[0.5]
    for bad in (0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            fraction_ids(m, [bad])


def test_train_fraction_view_keeps_valid_and_test_and_refuses_writes(tmp_path):
    m = _manifest(tmp_path)
    assert train_fraction(m, 1.0) is m and subset_key(m) == {}
    f = train_fraction(m, 0.25, seed=1)
    assert isinstance(f, TrainFraction) and len(f.items("train")) == 10 and f.root == m.root
    assert [it.id for it in f.items("test")] == [it.id for it in m.items("test")]
    assert len(f.items()) == 10 + 6 and subset_key(f) == {"train_fraction": 0.25, "fraction_seed": 1}
    with pytest.raises(TypeError, match="read-only"):
        f.append(m.items()[0])


def test_a_fraction_gets_its_own_folders_and_the_whole_data_keeps_its_keys(tmp_path):
    m = _manifest(tmp_path / "data-abc")
    profile = load_profile("smoke", root=tmp_path)
    s = Stages(profile)
    cfg = resolve_variant(s.alignment_config, "trimodal")
    full = alignment_dir(cfg, m, profile.artifacts, 0)
    assert full == stage_dir(profile.artifacts, "alignment", cfg, upstream=[m.root], seed=0)  # the formula before
    half = alignment_dir(cfg, train_fraction(m, 0.5), profile.artifacts, 0)
    assert half != full and half != alignment_dir(cfg, train_fraction(m, 0.5, seed=1), profile.artifacts, 0)
    dec = decoder_dir(s.vae_config, s.vocoder_config, m, profile.artifacts, 0)
    assert dec == stage_dir(profile.artifacts, "decoder", s.vae_config, s.vocoder_config, upstream=[m.root],
                            mel=asdict(AUDIOLDM_MEL), seed=0, format=DECODER_FORMAT)  # the formula before
    c_full = conditions_dir(s.diffusion_config, m, dec.name, full.path, None, profile.artifacts, 0)
    c_half = conditions_dir(s.diffusion_config, train_fraction(m, 0.5), dec.name, full.path, None, profile.artifacts, 0)
    assert c_full != c_half


def test_stages_on_a_fraction_share_the_decoder_and_nothing_trained_on_data(tmp_path):
    m = _manifest(tmp_path / "data-abc")
    s = Stages(load_profile("smoke", root=tmp_path))
    s.__dict__.update(dataset=m, _decoder=("decoder", "report"), database="db", conditions="rows")
    assert s.with_train_fraction(1.0) is s
    f = s.with_train_fraction(0.5)
    assert len(f.dataset.items("train")) == 20 and f._decoder is s._decoder
    assert "database" not in f.__dict__ and "conditions" not in f.__dict__ and f._runs == {} and f._unets == {}
    assert s.dataset is m and s.__dict__["database"] == "db"  # the whole-data stages are untouched


# ----------------------------------------------------------------------------- the small-data row and the claims table


def _scaling(shifts: dict[float, float], n_clips: int = 24) -> ScalingRun:
    """text @ 1 at shift 1; mmgen @ f at ``shifts[f]`` (lower shift = closer to the references = better), 2 runs."""
    rng = np.random.default_rng(0)
    refs = [rng.normal(0, 1, (2, D)) for _ in range(n_clips)]
    m = Measurements([f"c{i}" for i in range(n_clips)], EvaluationConfig())
    names = {system_name("text", 1.0): 1.0, **{system_name("mmgen", f): s for f, s in shifts.items()}}
    for name, shift in names.items():
        for t in range(2):
            m.add(name, t, 0, measured_set(rng, shift, refs, {"text_audio": 0.3 - 0.1 * shift, "chroma_target": 0.2}))
    rows = [{"system": n, "mode": n.split(" @ ")[0], "fraction": float(n.split(" @ ")[1]),
             "train_clips": int(40 * float(n.split(" @ ")[1]))} for n in names]
    fractions = pd.DataFrame({"fraction": [0.25, 0.5, 1.0], "train_clips": [10, 20, 40], "contains_smaller": True})
    return ScalingRun(pd.DataFrame(rows), fractions, m, system_name("text", 1.0), ["mmgen"], 30, Margins())


def test_small_data_row_takes_the_smallest_non_inferior_fraction():
    run = _scaling({0.25: 1.6, 0.5: 0.0, 1.0: 0.0})
    eff = scaling_effects(run)
    assert set(eff["fraction"]) == {0.25, 0.5, 1.0} and len(eff) == 3 * 4
    assert (eff["low"] <= eff["estimate"]).all() and (eff["estimate"] <= eff["high"]).all()
    assert set(eff.loc[eff.metric != "fad_inf", "verdict"]) == {"exploratory"}
    assert eff.loc[eff.metric == "fad_inf", "margin"].gt(0).all()
    row = small_data_row(run)
    assert row["claim"] == SMALL_DATA_CLAIM and row["verdict"] == "reproduced"
    assert "at fraction 0.5 (20 of 40 training clips)" in row["effect"] and "non-inferiority" in row["effect"]
    assert row["estimate"] > 0 and row["n"].startswith("24 clips × 1 sampling seed × 2 training seeds")


def test_small_data_row_without_a_non_inferior_fraction_shows_the_smallest():
    row = small_data_row(_scaling({0.25: 2.5, 0.5: 2.5, 1.0: 0.0}))  # only all the data rivals the text model
    assert "at fraction 0.25" in row["effect"] and row["verdict"] == "contradicted"
    assert "no fraction below 1 reached 'reproduced' (fractions tested: 0.25, 0.5, 1)" in row["evidence"]


def test_claims_config_rejects_bad_sizes():
    for bad in ({"fractions": [0.5, 1.5]}, {"fractions": [1.0, 0.5]}, {"fractions": [0, 1]}, {"isr_modes": ["text"]},
                {"fraction_modes": ["nope"]}, {"isr_by": "recall"}, {"fraction_seeds": []}, {"isr_seeds": []},
                {"margins": {"fad_inf": -0.1}}, {"relative_margins": ["nope"]}):
        with pytest.raises(ValueError):
            ClaimsConfig(**bad)


def test_a_pass_without_the_small_data_experiment_says_so_in_its_row():
    row = small_data_not_run(ClaimsConfig(fraction_steps=1600))
    assert row["claim"] == SMALL_DATA_CLAIM and row["verdict"] == "inconclusive" and np.isnan(row["estimate"])
    assert "not run in this pass" in row["evidence"] and "1600 steps" in row["evidence"]
    assert ClaimsConfig().small_data  # the experiment runs unless a profile turns it off


def test_experiment_rows_replace_the_placeholders_in_either_order(tmp_path):
    gen = [Effect("fad", 0.1, -0.1, 0.3, "3 clips")]
    al = [Effect("R@1", 0.1, 0.05, 0.15, "3 clips")]
    base = claims(gen, al, 480)
    assert list(base.claim[2:]) == [ISR_CLAIM, SMALL_DATA_CLAIM] and (base.verdict[2:] == "inconclusive").all()
    rows = [{"claim": SMALL_DATA_CLAIM, "effect": "x", "estimate": 0.5, "low": 0.1, "high": 0.9, "n": "30 clips",
             "evidence": "e", "verdict": "reproduced"}]
    assert load_experiment_claims(tmp_path) == []
    first = update_claims_table(tmp_path, rows, note="n")  # before notebook 08: the rows alone
    assert len(first) == 1 and (tmp_path / "tables" / "claims_experiments.md").exists()
    back = load_experiment_claims(tmp_path)
    merged = claims(gen, al, 480, experiments=back)  # notebook 08 after 09
    assert len(merged) == 4 and merged.set_index("claim").loc[SMALL_DATA_CLAIM, "verdict"] == "reproduced"
    base.to_csv(tmp_path / "tables" / "claims.csv", index=False)  # notebook 09 after 08
    table = update_claims_table(tmp_path, rows, note="n")
    assert len(table) == 4 and table.set_index("claim").loc[SMALL_DATA_CLAIM, "estimate"] == 0.5
    assert pd.read_csv(tmp_path / "tables" / "claims.csv").set_index("claim").loc[SMALL_DATA_CLAIM, "low"] == 0.1


def test_plots_draw_one_point_per_configuration_and_the_baseline_band():
    import matplotlib

    matplotlib.use("Agg")
    from mmgen_core.reporting import plot_caption_deltas, plot_isr_quality, plot_scaling

    table = pd.DataFrame({"config": ["Flat", "PQ 1×8b", "HNSW"], "kind": ["flat", "pq", "hnsw"], "isr": [0.5, 0.3, 0.2],
                          "fad_inf": [10.0, 12.0, 13.0], "fad_inf_low": [9.0, 11.0, 12.0],
                          "fad_inf_high": [11.0, 13.0, 14.0]})
    ax = plot_isr_quality(table, "fad_inf")
    assert len(ax.containers) == 3 and ax.get_xlabel().startswith("Intersection Rate")
    curves = pd.DataFrame({"system": ["text @ 1", "mmgen @ 0.5", "mmgen @ 1"], "mode": ["text", "mmgen", "mmgen"],
                           "train_clips": [40, 20, 40], "metric": "kid", "estimate": [0.3, 0.4, 0.2],
                           "low": [0.2, 0.3, 0.1], "high": [0.4, 0.5, 0.3]})
    ax = plot_scaling(curves, "kid", baseline="text @ 1")
    assert len(ax.lines) >= 2 and [t.get_text() for t in ax.get_xticklabels()] == ["20", "40"]
    ax = plot_caption_deltas(_caption_run(1.0).deltas_table(), "emb_dist")
    assert len(ax.collections[0].get_offsets()) == 16 and "up = better" in ax.get_ylabel()
    assert "↓" not in ax.get_ylabel() and ax.get_ylabel().startswith("Δ −embedding distance")
