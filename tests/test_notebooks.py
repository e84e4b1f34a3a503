"""Every numbered notebook runs headless under papermill on the smoke profile, in order, from scratch,
and the tables it writes hold sensible values (the check of Microsoft recommenders' notebook tests:
not only that no cell failed, but that what the notebooks computed is in range)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmgen_core import cli
from mmgen_core.audio import clip_frames, mels_of
from mmgen_core.compute import FP32_EAGER
from mmgen_core.config import load_profile
from mmgen_core.data import load_clips
from mmgen_core.evaluation.intervals import OUTCOMES, verdict
from mmgen_core.evaluation.speed import TRAINED_PARTS, bench_sampling, bench_training, unet_step_split
from mmgen_core.notebooks import NOTEBOOK_DIR, notebook_paths, run_notebooks
from mmgen_core.reporting import audio_durations, provenance
from mmgen_core.reporting.summary import SUMMARY_FILE, render_summary
from mmgen_core.reproduction.claims import GENERATION_CLAIM, ISR_CLAIM, MELODY_MARK, SMALL_DATA_CLAIM
from mmgen_core.reproduction.table1 import caption_claim
from mmgen_core.reproduction.melody_test import FOLLOWER, REAL
from mmgen_core.stages import Stages

MODES = {"text", "mmgen", "mmgen+roll"}
CEILING_PREFIX = "decoder ceiling"


def _table(tables: Path, name: str) -> pd.DataFrame:
    path = tables / f"{name}.csv"
    assert path.exists(), f"{name}.csv was not written"
    df = pd.read_csv(path)
    assert len(df) > 0, f"{name}.csv is empty"
    return df


def _in(series: pd.Series, lo: float, hi: float = np.inf, what: str = "") -> None:
    """Every value finite and in [lo, hi]."""
    x = pd.to_numeric(series, errors="raise").to_numpy(dtype=float)
    assert np.isfinite(x).all(), f"{what or series.name}: not finite: {x}"
    assert ((x >= lo) & (x <= hi)).all(), f"{what or series.name}: outside [{lo}, {hi}]: {x}"


def check_tables(tables: Path) -> None:
    """Ranges of the smoke run's tables: each could fail if the code computing it were broken."""
    ds = _table(tables, "dataset_summary").set_index("split")
    assert {"train", "test"} <= set(ds.index)
    _in(ds["clips"], 1, what="clips per split")
    _in(ds["seconds"], 0.1, what="seconds per split")
    _in(ds["notes_per_clip"], 1, what="notes per clip")
    _in(ds["caption_words"], 1, what="caption words")

    bp = _table(tables, "basic_pitch_accuracy")
    assert "all" in set(bp["texture"])
    bp = bp[bp["clips"] > 0]
    for col in ("f1_onset", "f1_offset", "f1_onset_tokens", "melody_recall"):
        _in(bp[col], 0, 1, what=f"Basic Pitch {col}")
    assert (bp["f1_onset"] > 0).any()  # transcription finds some of the rendered notes

    t2 = _table(tables, "table2_alignment_by_direction")
    assert {"A2T", "T2A", "A2M", "M2A", "T2M", "M2T"} <= set(t2["direction"])
    for col in ("R@1", "R@5", "R@10", "chance R@10", "mAP@10"):
        _in(t2[col], 0, 1, what=f"Table 2 {col}")
    assert (t2["R@1"] <= t2["R@5"]).all() and (t2["R@5"] <= t2["R@10"]).all()  # recall grows with k
    _in(t2["N test"], 1, what="Table 2 test clips")
    _in(t2["mean rank"], 0, t2["N test"].max(), what="mean rank")

    grid = _table(tables, "isr_grid")
    for col in ("isr", "isr_per_item", "recall_at_k"):
        _in(grid[col], 0, 1, what=f"ISR grid {col}")
    _in(grid["queries_per_s"], 1e-9, what="queries/s")
    assert grid["chosen"].astype(str).str.lower().eq("true").sum() == 1  # exactly one index is chosen
    flat = grid[grid["label"].str.startswith("Flat")]
    assert len(flat) and np.isclose(flat["recall_at_k"], 1.0).all()  # exact search finds its own top-k

    rates = _table(tables, "text_to_melody_match_rates")
    _in(rates.drop(columns="attribute").stack(), 0, 1, what="text → melody match rates")

    ceiling = _table(tables, "05_decoder_ceiling").set_index("score")["mean"]
    for k in ("vae_mel_l1", "vocoder_logmel_l1", "vocoder_mrstft", "vae+vocoder_logmel_l1", "vae+vocoder_mrstft"):
        _in(ceiling[[k]], 0, what=f"decoder ceiling {k}")
    for k in ("real_chroma", "vocoder_chroma", "vae+vocoder_chroma"):
        _in(ceiling[[k]], 0, 1, what=f"decoder ceiling {k}")
    assert ceiling["real_chroma"] > 0.2  # the real clips are renderings of their melodies
    choice = _table(tables, "05_vocoder_choice")
    assert choice["chosen"].astype(str).str.lower().eq("true").sum() == 1
    _in(choice["mrstft"], 0, what="vocoder MR-STFT")

    diff = _table(tables, "06_diffusion_training")
    assert set(diff["mode"]) == MODES
    _in(diff["steps"], 1, what="diffusion steps")
    _in(diff["train samples/s"], 1e-9, what="diffusion samples/s")
    _in(diff["final loss (mean of last 5 logs)"], 1e-9, 10, what="diffusion loss")  # ε-MSE of unit noise

    ref = _table(tables, "06_quality_reference").set_index("system")
    assert {"real clips (these)", "real clips (other split)", "decoder ceiling"} == set(ref.index)
    assert ref.loc["real clips (these)", "fad"] == pytest.approx(0, abs=1e-6)  # a set against itself
    curve = _table(tables, "06_quality_curve")
    assert len(curve) >= 2 and curve["steps"].is_monotonic_increasing and curve["cpu_minutes"].is_monotonic_increasing
    for df, what in ((ref, "reference"), (curve, "curve")):
        _in(df["fad"], 0, what=f"quality {what} FAD")
        _in(df["richness"], 0, 513, what=f"quality {what} harmonic richness")  # at most every bin of n_fft 1024
        _in(df["loudness_db"], -60, 0, what=f"quality {what} loudness")
        _in(df["kid"], -10, 10, what=f"quality {what} KID")
    assert curve["steps"].iloc[-1] == diff["steps"].iloc[0]  # the curve's last point is the trained UNet

    guid = _table(tables, "07_guidance_sweep")
    assert guid["guidance w"].is_monotonic_increasing and len(guid) >= 2
    _in(guid["chroma"], 0, 1, what="guidance sweep chroma")
    _in(guid["audio-text similarity"], -1, 1, what="guidance sweep audio-text similarity")
    speed = _table(tables, "07_sampler_speed")
    assert set(speed["sampler"]) == {"ddim", "dpm", "dpm-sde"}
    _in(speed["mel peak"], -20, 20, what="sampler mel peak")
    assert (speed["Δ low"] <= speed["Δ chroma"]).all() and (speed["Δ chroma"] <= speed["Δ high"]).all()
    _in(speed.filter(like="seconds per").squeeze(axis=1), 1e-6, what="seconds per clip")
    _in(speed["RTF"], 1e-9, what="RTF")
    _in(speed.filter(like="chroma (").squeeze(axis=1), 0, 1, what="sampler chroma")

    runs = _table(tables, "table1_runs")  # one row per generated set
    is_ceiling = runs["system"].str.startswith(CEILING_PREFIX)
    assert is_ceiling.sum() == 1  # one set: the real clips resynthesised, no training or sampling seed
    smoke = load_profile("smoke").sections["results"]
    trained = runs.loc[~is_ceiling, "train_seed"].nunique()  # the profile's seeds, and sequential ones while undecided
    assert len(smoke["unet_seeds"]) <= trained <= max(smoke["max_unet_seeds"], len(smoke["unet_seeds"]))
    per_system = len(smoke["seeds"]) * trained
    assert (runs[~is_ceiling].groupby("system").size() == per_system).all()  # every training × sampling seed
    _in(runs["fad"], 0, what="FAD")
    _in(runs["kl"], 0, what="KL")
    _in(runs["is"], 1, what="Inception score")  # exp(mean KL) ≥ 1

    clips = _table(tables, "table1_clips")  # one row per generated clip
    assert len(clips) == len(runs) * smoke["n_clips"]
    _in(clips["text_audio"], -1, 1, what="text-audio cosine")
    _in(clips["chroma_target"], 0, 1, what="chroma to the target melody")
    _in(clips["emb_dist"], 0, what="embedding distance to the reference clip")
    text_only = clips["system"].str.startswith("text only")
    assert clips.loc[text_only, ["chroma_cond", "note_f1_cond"]].isna().all().all()  # no melody to follow
    _in(clips.loc[~text_only, "chroma_cond"], 0, 1, what="chroma to the conditioning melody")
    _in(clips.loc[~text_only, "note_f1_cond"], 0, 1, what="note F1 to the conditioning melody")

    ci = _table(tables, "table1_intervals")
    finite = ci.dropna(subset=["estimate"])
    assert {"fad_inf", "kid", "text_audio"} <= set(finite["metric"])
    assert (finite["low"] <= finite["estimate"]).all() and (finite["estimate"] <= finite["high"]).all()
    mean_ta = clips[clips.system.str.startswith("MMGen+roll (ours)")]["text_audio"].mean()
    assert ci.set_index(["system", "metric"]).loc[("MMGen+roll (ours)", "text_audio"), "estimate"] == pytest.approx(mean_ta)

    t1 = _table(tables, "table1")
    assert list(t1["system"]) == list(dict.fromkeys(runs["system"]))
    assert not t1[["fad_inf", "kid", "fad", "is"]].isin(["n/a", "nan", "nan ± nan"]).any().any()

    seeds = _table(tables, "table2_seeds")
    assert len(seeds) == 2 and seeds["n"].str.contains(f"{len(smoke['aligner_seeds'])} training seeds").all()
    assert seeds["n"].str.contains(f"{smoke['aligner_folds']}-fold: each a test clip once").all()  # every clip scored

    claims = _table(tables, "claims")
    for col in ("claim", "evidence", "verdict", "n"):
        assert claims[col].notna().all() and claims[col].astype(str).str.strip().ne("").all(), f"claims: empty {col}"
    assert set(claims["verdict"]) <= set(OUTCOMES)
    assert len(claims.dropna(subset=["estimate"])) >= 2
    assert claims.set_index("claim")["margin"].notna().sum() >= 2  # the margins fixed before the run are written
    _rule(claims, "claims")  # the one rule, applied to the written interval and margin
    check_claims_tables(tables)


def _rule(df: pd.DataFrame, what: str, non_inferiority: pd.Series | None = None) -> None:
    """Rows with an estimate: low ≤ estimate ≤ high and the outcome the one rule gives from the written interval and
    margin (one training run: inconclusive); exploratory rows carry no outcome; rows without an estimate:
    inconclusive."""
    rated = df.dropna(subset=["estimate"])
    assert ((rated["low"] <= rated["estimate"]) & (rated["estimate"] <= rated["high"])).all(), what
    for i, r in rated.iterrows():
        if r["verdict"] == "exploratory":
            continue
        kind = ("non-inferiority" if "non-inferiority" in str(r.get("effect", ""))
                or (non_inferiority is not None and non_inferiority[i]) else "superiority")
        one_run = bool(re.search(r"\b1 training seed", str(r["n"])))
        expect = "inconclusive" if one_run else verdict(r["low"], r["high"], r.get("margin", np.nan), kind)
        assert r["verdict"] == expect, (what, r.to_dict())
    assert (df.loc[df["estimate"].isna(), "verdict"].isin(["inconclusive", "exploratory"])).all(), what


def check_claims_tables(tables: Path) -> None:
    """Notebook 09's tables: the claims grid really differs, the fractions are nested, every verdict follows the
    rule from its interval, and the two rows reached the claims table."""
    smoke = load_profile("smoke").sections["claims"]
    grid = _table(tables, "09_isr_grid")
    for col in ("isr", "isr_per_item", "recall_at_k"):
        _in(grid[col], 0, 1, what=f"claims grid {col}")
    flat = grid[grid["kind"] == "flat"]
    assert len(flat) == 1 and flat["recall_at_k"].iloc[0] == 1 and flat["changed_vs_exact"].iloc[0] == 0
    assert {"ivf", "pq", "hnsw"} <= set(grid["kind"]) and len(grid) >= 8  # every family fits the smoke data
    assert grid["retrieved_set"].nunique() >= 2  # configurations that retrieve different melodies
    assert grid["isr"].nunique() >= 2
    per_caption = _table(tables, "09_isr_per_caption")  # the captions whose melody some configuration changes
    assert set(per_caption["metric"]) == {"emb_dist", "text_audio", "chroma_target"}
    assert set(per_caption["verdict"]) == {"exploratory"} and per_caption["n"].str.contains("× 2 sampling seeds").all()

    quality = _table(tables, "09_isr_quality")
    assert set(quality["mode"]) == set(smoke["isr_modes"]) and len(quality) == len(grid) * len(smoke["isr_modes"])
    for m in ("fad_inf", "kid", "chroma_target", "text_audio"):
        q = quality.dropna(subset=[m])
        assert len(q) and ((q[f"{m}_low"] <= q[m]) & (q[m] <= q[f"{m}_high"])).all(), m
        same = q.groupby(["mode", "retrieved_set"])[m].nunique()
        assert (same == 1).all(), m  # configurations retrieving the same melodies share one generation
    _in(quality["chroma_target"], 0, 1, what="ISR chroma to the target melody")
    _rule(_table(tables, "09_isr_effects"), "ISR effects")

    fractions = _table(tables, "09_fractions")
    assert list(fractions["fraction"]) == smoke["fractions"] and fractions["train_clips"].is_monotonic_increasing
    assert fractions["contains_smaller"].astype(str).str.lower().eq("true").all()  # nested, checked on the sets
    curves = _table(tables, "09_scaling_curves")
    assert set(curves["system"]) == {"text @ 1"} | {f"mmgen @ {f:g}" for f in smoke["fractions"]}
    assert curves["n"].str.contains(f"{len(smoke['fraction_seeds'])} training seeds").all()
    c = curves.dropna(subset=["estimate"])
    assert ((c["low"] <= c["estimate"]) & (c["estimate"] <= c["high"])).all()
    effects = _table(tables, "09_scaling_effects")
    assert set(effects["fraction"]) == set(smoke["fractions"])
    assert set(effects.loc[effects["metric"] != "fad_inf", "verdict"]) == {"exploratory"}
    _rule(effects, "small-data effects", effects["metric"] == "fad_inf")

    moves = _table(tables, "09_melody_counterfactual")
    assert list(dict.fromkeys(moves["captions"])) == smoke["caption_sets"] and set(moves["swap"]) == {"key", "contour"}
    for m in ("pcp_move", "chroma_move"):
        assert ((moves[f"{m} low"] <= moves[m]) & (moves[m] <= moves[f"{m} high"])).all(), m
        control = moves[moves["system"] == "text only (control)"]
        assert len(control) == 2 * len(smoke["caption_sets"]) and (control[[m, f"{m} low", f"{m} high"]] == 0).all().all()
        follower = moves[(moves["system"] == FOLLOWER) & (moves["swap"] == "key")]
        assert (follower[m] > 0.5).all(), m  # the melody rendered moves with its key: the measures can see a move
    assert (moves.loc[moves["system"] == REAL, "swap"] == "key").all()
    assert set(moves.loc[moves["system"].isin(["MMGen", "MMGen+roll"]), "pcp_move outcome"]) == {
        "inconclusive (one training run)"}  # smoke: one UNet training seed
    probes = _table(tables, "09_melody_probes")
    assert {"key", "mode", "tempo", "pitch range"} == set(probes["target"])
    assert set(probes["input"]) == {"r (melody)", "q (caption)", "[q, r]"}
    assert ((probes["low"] <= probes["estimate"]) & (probes["estimate"] <= probes["high"])).all()
    acc = probes[probes["score"] == "accuracy"]
    _in(acc["estimate"], 0, 1, what="probe accuracy")
    generation = _table(tables, "claims").set_index("claim").loc[GENERATION_CLAIM, "evidence"]
    assert MELODY_MARK in generation and "MMGen+roll:" in generation  # the claim cites the counterfactual

    rows = _table(tables, "claims_experiments")
    assert list(rows["claim"]) == [caption_claim("sound"), ISR_CLAIM, SMALL_DATA_CLAIM]  # smoke: both caption sets
    assert rows.set_index("claim").loc[caption_claim("sound"), "verdict"] == "inconclusive"  # one training run
    _rule(rows, "claims_experiments")
    merged = _table(tables, "claims").set_index("claim")
    for _, r in rows.iterrows():
        assert merged.loc[r["claim"], "evidence"] == r["evidence"]  # notebook 09's rows replaced the placeholders
    assert "the counterfactual" in merged.loc[ISR_CLAIM, "evidence"]  # whether the melody moves the music at all


@pytest.mark.slow
def test_all_notebooks_run_on_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("MMGEN_ROOT", str(tmp_path))  # fresh artifacts: each notebook builds what it lacks
    timings = run_notebooks("smoke")
    assert [name for name, _ in timings] == [p.name for p in notebook_paths()]
    out = tmp_path / "results" / "smoke"
    for name, _ in timings:
        text = (out / "notebooks" / name).read_text()
        assert str(tmp_path) not in text  # executed copies are portable: no machine paths
        nb = json.loads(text)
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[:1]}"
        # shows every figure it draws (the kernel draws inline), matches its source, records its run
        assert provenance.check_executed(out / "notebooks" / name, NOTEBOOK_DIR) == []
        assert nb["metadata"]["mmgen"]["profile"] == "smoke" and nb["metadata"]["mmgen"]["commit"]
    assert (out / "notebooks" / "timings.csv").exists()
    record = provenance.load(out)
    assert len(record["runs"]) == 1 and set(record["notebooks"]) == {n for n, _ in timings}
    assert record["files"]["tables/table1.csv"] == "08_results.ipynb"
    assert (out / SUMMARY_FILE).read_text() == render_summary(out) and "## The paper's claims" in render_summary(out)
    assert list((out / "tables").glob("*.md")) and list((out / "figures").glob("*.png"))
    check_tables(out / "tables")
    assert list((tmp_path / "artifacts" / "smoke").glob("unet-text-*/unet-at-*/unet/config.json"))  # curve snapshots
    cores = os.cpu_count() or 1  # 06 trains the two UNets 00 left missing at once, the cores shared out
    training = _table(out / "tables", "06_diffusion_training").set_index("mode")
    assert (training.loc[["text", "mmgen"], "threads"] == max(1, cores // min(2, cores))).all()
    reports = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "smoke").glob("unet-*/done.json")]
    shared = [r for r in reports if r.get("threads", cores) < torch.get_num_threads()]
    assert cores < 2 or len(shared) >= 5  # 06's two UNets and 08's second training seed of all three modes
    quick = _table(out / "tables", "00_quickstart_times").set_index(["model", "part"])["seconds"]
    assert quick["quick model"].gt(0).any() and set(quick.index.get_level_values(0)) == {"quick model", "full model"}
    listen = (out / "listen.html").read_text()
    assert listen.count("<audio controls") == 2 * 5 and (out / "figures" / "listen_01.png").exists()
    assert all(d > 0 for d in audio_durations(out / "listen.html"))  # a browser plays every clip of the page
    check_bench(Stages(load_profile("smoke"), train_missing=False, progress=False))
    # tiny's make reproduce leaves the small-data experiment to make evidence: 09 then says so in its claim row
    run_notebooks("smoke", {"claims.small_data": False}, only=["09"])
    rows = _table(out / "tables", "claims_experiments").set_index("claim")
    small = rows.index[rows.index.str.startswith("Small data")][0]
    assert rows.loc[small, "verdict"] == "inconclusive" and pd.isna(rows.loc[small, "estimate"])
    assert "not run in this pass" in rows.loc[small, "evidence"] and "make evidence" in rows.loc[small, "evidence"]
    isr = rows.index[rows.index.str.startswith("A higher Intersection Rate")][0]
    assert pd.notna(rows.loc[isr, "estimate"]) or "not measurable" in rows.loc[isr, "evidence"]
    _rule(rows.reset_index(), "claims_experiments without small data")
    assert _table(out / "tables", "claims").set_index("claim").loc[small, "evidence"] == rows.loc[small, "evidence"]
    check_cli_loop(tmp_path)


def check_cli_loop(root: Path) -> None:
    """The loop without a notebook, on the smoke artifacts the notebooks built: train (here: load) a stage,
    evaluate a run's systems from the harness's cache into results/smoke/<run>/, export a pipeline and generate
    from it; bad input answered with exit 2 and a message."""
    from mmgen_core import cli

    assert cli.main(["train", "unet", "--profile", "smoke", "--mode", "text"]) == 0  # built by notebook 06: loaded
    assert cli.main(["train", "alignment", "--profile", "smoke", "--variant", "bimodal"]) == 0
    assert cli.main(["evaluate", "--profile", "smoke", "--run", "cli", "--no-train",
                     "--systems", "text only (AudioLDM-style),MMGen"]) == 0
    t1 = _table(root / "results" / "smoke" / "cli" / "tables", "table1")
    assert list(t1["system"]) == ["text only (AudioLDM-style)", "MMGen", "decoder ceiling (real clips → VAE → vocoder)"]
    assert cli.main(["evaluate", "--profile", "smoke", "--no-train", "--systems", "MusicGen"]) == 2
    assert cli.main(["export", str(root / "exported"), "--profile", "smoke", "--mode", "mmgen"]) == 0
    assert cli.main(["export", str(root / "exported"), "--profile", "smoke"]) == 2  # not empty: nothing overwritten
    assert cli.main(["generate", "--text", "a calm folk tune", "--pipeline", str(root / "exported"), "--steps", "2",
                     "--out", str(root / "exported.wav")]) == 0 and (root / "exported.wav").exists()
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "everything", "--profile", "smoke"])
    assert e.value.code == 2


def check_bench(stages: Stages) -> None:
    """`make bench`'s measurements on the smoke artifacts: fp32 eager and the default compute settings train
    every part on the same batches to close losses, and the default sampler stays within the data's range."""
    for part in TRAINED_PARTS:
        base, new = (bench_training(stages, part, c, steps=4) for c in (FP32_EAGER, stages.compute_config))
        assert base["samples/s"] > 0 and new["samples/s"] > 0 and base["peak MB"] > 0, part
        assert new["loss"] == pytest.approx(base["loss"], rel=0.1), part
    split = unet_step_split(stages, stages.compute_config, steps=2, warmup=1)
    phases = ("forward + loss", "backward", "optimiser", "EMA")
    assert all(split[k] > 0 for k in phases) and split["total"] == pytest.approx(sum(split[k] for k in phases))
    gen = stages.generation_config
    out = bench_sampling(stages.pipeline("mmgen+roll"), stages.dataset, sampler=gen.sampler, steps=gen.steps,
                         clip_x0=gen.clip_x0, clips=2, seconds=2.0)
    _, wavs = load_clips(stages.dataset, "valid", clip_frames(stages.clip_seconds))
    assert out["RTF"] > 0 and len(out["chroma"]) == 2 and all(0 <= c <= 1 for c in out["chroma"])
    decoded = stages.decoder.decode(stages.decoder.encode(mels_of(wavs)))
    assert out["mel peak"] <= float(decoded.amax()) + 1.0  # the default sampler does not overshoot the data
