"""The paper's tables and claims, computed end to end (notebook 08).

Table 1 generates music for held-out captions with every system — the text-only baseline, MMGen,
MMGen+roll, MMGen with the *oracle* melody (the target clip's own) — over several seeds, and scores it
against the real clips: FAD/KL/IS (evaluation backbone), text–audio similarity (our aligner, CLAP-score
style), chroma similarity and Basic Pitch note F1 to the melody. The decoder ceiling resynthesises the
real clips. The paper's own numbers are kept apart and labelled as theirs.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .audio import load_audio
from .melody import Note, note_scores

# system → (UNet conditioning mode, where its melody comes from)
SYSTEMS: dict[str, tuple[str, str | None]] = {
    "text only (AudioLDM-style)": ("text", None),
    "MMGen": ("mmgen", "retrieved"),
    "MMGen+roll (ours)": ("mmgen+roll", "retrieved"),
    "MMGen, oracle melody": ("mmgen", "oracle"),
    "MMGen+roll, oracle melody": ("mmgen+roll", "oracle"),
}
CEILING = "decoder ceiling (real clips → VAE → vocoder)"
METRICS = ("fad", "kl", "is", "text_audio", "chroma_target", "chroma_cond", "note_f1_cond")

# Paper Table 1 (their data and GPUs): (MusicBench FAD, KL, IS), (MusicCaps FAD, KL, IS); None = not reported.
PAPER_TABLE1 = {
    "MMGen": ((1.36, 1.08, 2.55), (2.15, 1.26, 2.26)),
    "AudioLDM-M": ((2.49, 2.21, 1.73), (3.62, 1.78, 2.03)),
    "AudioLDM 2-Full": ((2.19, 1.24, 2.58), (3.21, 1.28, 2.56)),
    "Mustango": ((1.74, 1.29, 2.75), (None, None, None)),
    "TANGO": ((1.91, 1.19, None), (4.05, 1.25, None)),
}


@dataclass
class ResultsConfig:
    """Profile section ``results``: how much of the test split to generate and how."""

    n_clips: int = 24  # held-out clips per system and seed (0 = the whole test split)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    sampler: str = "dpm"
    steps: int = 20
    candidates: int = 1
    isr_clips: int = 24  # clips generated per retrieval configuration for ISR vs FAD


def eval_items(manifest, cfg: ResultsConfig) -> list:
    """The held-out clips Table 1 is computed on (a fixed prefix of the test split)."""
    items = manifest.items("test")
    return items[:cfg.n_clips] if cfg.n_clips else items


def score_clips(wavs: Sequence[np.ndarray], refs: Sequence[np.ndarray], captions: Sequence[str],
                target_melodies: Sequence[Sequence[Note]], cond_melodies: Sequence[Sequence[Note]] | None,
                embedder, eval_cfg) -> dict[str, float]:
    """All Table 1 metrics of one set of generated clips against their paired real clips."""
    from .evaluation import chroma_similarity, evaluate_set
    from .extract import default_extractor

    out = evaluate_set(list(wavs), list(refs), config=eval_cfg)
    with torch.no_grad():
        a = embedder.embed_audio(list(wavs)).float()
        t = embedder.embed_text(list(captions)).float()
    row = {"fad": out["fad"], "kl": out["kl"], "is": out["is"], "text_audio": float((a * t).sum(-1).mean())}
    row["chroma_target"] = float(np.mean([chroma_similarity(w, m) for w, m in zip(wavs, target_melodies)]))
    if cond_melodies is None:
        row["chroma_cond"] = row["note_f1_cond"] = float("nan")
    else:
        row["chroma_cond"] = float(np.mean([chroma_similarity(w, m) for w, m in zip(wavs, cond_melodies)]))
        heard = default_extractor().notes(list(wavs))
        row["note_f1_cond"] = float(np.mean([note_scores(m, h)[2] for m, h in zip(cond_melodies, heard)]))
    return row


def table1_runs(profile, progress: bool = True) -> pd.DataFrame:
    """One row per (system, seed) with every metric; the decoder ceiling once (it has no seed)."""
    from .diffusion import item_notes
    from .evaluation import EvaluationConfig
    from .pipeline import MMGenPipeline

    cfg = profile.section("results", ResultsConfig)
    eval_cfg = profile.section("evaluation", EvaluationConfig)
    pipes = {mode: MMGenPipeline.from_profile(profile, mode) for mode in {m for m, _ in SYSTEMS.values()}}
    any_pipe = next(iter(pipes.values()))
    manifest = _manifest(profile)
    items = eval_items(manifest, cfg)
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    targets = [item_notes(manifest, it) for it in items]
    rows = []
    jobs = [(s, seed) for s in SYSTEMS for seed in cfg.seeds]
    for system, seed in tqdm(jobs, desc="Table 1", disable=not progress):
        mode, source = SYSTEMS[system]
        gen = pipes[mode](captions, melody=targets if source == "oracle" else None, seed=seed,
                          sampler=cfg.sampler, steps=cfg.steps, candidates=cfg.candidates, progress=False)
        cond = None if source is None else gen.melodies
        rows.append({"system": system, "seed": seed,
                     **score_clips(list(gen.waveforms), refs, captions, targets, cond, any_pipe.embedder, eval_cfg)})
    dec = any_pipe.decoder
    with torch.no_grad():
        from .decoder import mels_of

        mels = mels_of(torch.from_numpy(np.stack(refs)))
        ceiling = dec.vocode(dec.decode(dec.encode(mels))).numpy()
    rows.append({"system": CEILING, "seed": np.nan,
                 **score_clips(list(ceiling), refs, captions, targets, targets, any_pipe.embedder, eval_cfg)})
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean and standard deviation over seeds per system, as ``mean ± sd`` text and numeric columns."""
    order = list(dict.fromkeys(runs["system"]))
    g = runs.groupby("system", sort=False)[list(metrics)]
    mean, sd = g.mean().reindex(order), g.std(ddof=1).reindex(order)
    out = pd.DataFrame({"system": order, "seeds": runs.groupby("system", sort=False).size().reindex(order).values})
    for m in metrics:
        out[m] = [("n/a" if np.isnan(a) else f"{a:.3f}" if np.isnan(b) else f"{a:.3f} ± {b:.3f}")
                  for a, b in zip(mean[m].values, sd[m].values)]
    return out


def paper_table1() -> pd.DataFrame:
    """The paper's reported Table 1 (their datasets, their GPUs) in long form."""
    rows = []
    for system, (bench, caps) in PAPER_TABLE1.items():
        for data, vals in (("MusicBench", bench), ("MusicCaps", caps)):
            rows.append({"system": system, "data": data, **dict(zip(("fad", "kl", "is"), vals))})
    return pd.DataFrame(rows)


def isr_vs_quality(profile, grid: pd.DataFrame, progress: bool = True, by: str = "isr") -> pd.DataFrame:
    """Generate with MMGen under each retrieval configuration of the grid and measure FAD: does a
    configuration with a higher Intersection Rate give better music (the paper's claim)?"""
    from .evaluation import EvaluationConfig, evaluate_set
    from .pipeline import MMGenPipeline
    from .retrieval import IndexConfig, MelodyDB

    cfg = profile.section("results", ResultsConfig)
    eval_cfg = profile.section("evaluation", EvaluationConfig)
    pipe = MMGenPipeline.from_profile(profile, "mmgen")
    base = pipe.melody_db
    manifest = _manifest(profile)
    items = manifest.items("test")[:cfg.isr_clips or None]
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    vectors = base.embeddings(np.arange(len(base)))
    tokens = [base.tokens_of(i) for i in range(len(base))]
    queries = pipe.embedder.embed_text(captions).float().cpu().numpy()
    rows, scored = [], {}
    for _, g in tqdm(list(grid.iterrows()), desc="ISR vs FAD", disable=not progress):
        params = ast.literal_eval(g["params"]) if isinstance(g["params"], str) else g["params"]
        pipe.melody_db = MelodyDB.build(vectors, base.ids, IndexConfig(kind=g["kind"], **params), tokens=tokens)
        picked = tuple(pipe.melody_db.search(queries, k=1).indices[:, 0])
        if picked not in scored:  # same retrieved melodies + same seed → the same audio: score it once
            gen = pipe(captions, seed=0, sampler=cfg.sampler, steps=cfg.steps, candidates=1, progress=False)
            scored[picked] = evaluate_set(list(gen.waveforms), refs, config=eval_cfg)
        res = scored[picked]
        rows.append({"config": g["label"], "isr": g[by], "fad": res["fad"], "kl": res["kl"],
                     "generation": list(scored).index(picked), "retrieved_unique": len(set(picked))})
    pipe.melody_db = base
    return pd.DataFrame(rows)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and its p-value; NaN when either side has no variance (nothing to rank)."""
    from scipy.stats import spearmanr

    if len(set(np.round(x, 9))) < 2 or len(set(np.round(y, 9))) < 2:
        return float("nan"), float("nan")
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def isr_fad_correlation(isr: pd.DataFrame) -> tuple[float, float, int, int]:
    """Spearman ρ, p over the distinct (ISR, generation) points of :func:`isr_vs_quality`, the number of
    those points and of distinct generations. Configurations that retrieve the same melodies generate
    the same audio; counting each copy would inflate the significance."""
    points = isr.drop_duplicates(["isr", "generation"])
    rho, p = rank_correlation(points["isr"], points["fad"])
    return rho, p, len(points), int(isr["generation"].nunique())


def claims(runs: pd.DataFrame, alignment: dict[str, dict[str, dict[str, float]]], isr: pd.DataFrame,
           n_train: int) -> pd.DataFrame:
    """One row per claim of the paper: our evidence and a plain verdict."""
    by = runs.groupby("system")
    fad = by["fad"].agg(["mean", "std"])
    base, mm = fad.loc["text only (AudioLDM-style)"], fad.loc["MMGen"]
    lower = mm["mean"] < base["mean"] and (base["mean"] - mm["mean"]) > max(base["std"], mm["std"])
    rows = [_claim("Melody guidance lowers FAD (MMGen vs the text-only baseline)",
                   f"FAD {mm['mean']:.3f} ± {mm['std']:.3f} vs {base['mean']:.3f} ± {base['std']:.3f} "
                   f"over {len(runs[runs.system == 'MMGen'])} seeds",
                   "reproduced" if lower else "not reproduced")]
    two, tri = alignment.get("bimodal"), alignment.get("trimodal")
    if two and tri:
        keys = [("A2T", "R@1"), ("T2A", "R@1"), ("A2T", "mAP@10"), ("T2A", "mAP@10")]
        diffs = [tri[d][m] - two[d][m] for d, m in keys]
        ev = ", ".join(f"{d} {m} {two[d][m]:.3f}→{tri[d][m]:.3f}" for d, m in keys)
        verdict = "reproduced" if np.mean(diffs) > 0 and sum(x > 0 for x in diffs) >= 3 else "not reproduced"
        rows.append(_claim("Adding melody improves audio↔text alignment (Table 2)", ev, verdict))
    else:
        rows.append(_claim("Adding melody improves audio↔text alignment (Table 2)", "alignment runs missing",
                           "not testable here"))
    rho, p, n_points, n_gen = isr_fad_correlation(isr)
    if np.isnan(rho) or n_gen < 4:
        rows.append(_claim("A higher Intersection Rate gives better generation (lower FAD)",
                           f"{len(isr)} retrieval configurations retrieved only {n_gen} distinct sets of melodies for "
                           f"the test captions ({n_gen} distinct generations): too few to rank",
                           "not testable here"))
    else:
        verdict = "reproduced" if rho < 0 and p < 0.05 else "not reproduced"
        rows.append(_claim("A higher Intersection Rate gives better generation (lower FAD)",
                           f"Spearman ρ(ISR, FAD) = {rho:.2f} (p = {p:.2f}) over {n_points} distinct (ISR, FAD) "
                           f"points from {n_gen} distinct generations", verdict))
    rows.append(_claim("Small data suffices: MMGen trained on little data rivals models trained on far more",
                       f"we train every model on {n_train} clips of one FluidSynth-rendered corpus; the paper's "
                       "comparison needs the large-data baselines' checkpoints and the real test sets",
                       "not testable here"))
    return pd.DataFrame(rows)


def _claim(claim: str, evidence: str, verdict: str) -> dict[str, Any]:
    return {"claim": claim, "evidence": evidence, "verdict": verdict}


def _manifest(profile):
    from .dataset import get_dataset

    return get_dataset(profile, progress=False)
