"""The paper's tables and claims, computed end to end (notebook 08).

Table 1 generates music for held-out captions with every system — the text-only baseline, MMGen,
MMGen+roll, MMGen with the *oracle* melody (the target clip's own) — over several seeds, and scores it
against the real clips: FAD, FAD∞ (if configured), KID, KL/IS (evaluation backbone), harmonic richness,
text–audio similarity (our aligner, CLAP-score style), chroma similarity and Basic Pitch note F1 to the melody. The decoder ceiling resynthesises the
real clips. The paper's own numbers are kept apart and labelled as theirs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmgen_core.audio.io import load_audio
from mmgen_core.data.manifest import item_notes
from mmgen_core.evaluation.evaluate import EvaluationConfig, evaluate_set
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.evaluation.signal_metrics import harmonic_richness
from mmgen_core.melody.extract import default_extractor
from mmgen_core.melody.notes import Note, note_scores
from mmgen_core.stages import Stages

# system → (UNet conditioning mode, where its melody comes from)
SYSTEMS: dict[str, tuple[str, str | None]] = {
    "text only (AudioLDM-style)": ("text", None),
    "MMGen": ("mmgen", "retrieved"),
    "MMGen+roll (ours)": ("mmgen+roll", "retrieved"),
    "MMGen, oracle melody": ("mmgen", "oracle"),
    "MMGen+roll, oracle melody": ("mmgen+roll", "oracle"),
}


CEILING = "decoder ceiling (real clips → VAE → vocoder)"
METRICS = ("fad", "fad_inf", "kid", "kl", "is", "richness", "text_audio", "chroma_target", "chroma_cond",
           "note_f1_cond")


@dataclass
class ResultsConfig:
    """Profile section ``results``: how much of the test split to generate and how."""
    n_clips: int = 24  # held-out clips per system and seed (0 = the whole test split)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    sampler: str = "dpm"
    steps: int = 20
    clip_x0: float = 0.0  # as generation.clip_x0: the predicted clean latent kept within ±clip_x0 (0 = off)
    candidates: int = 1
    isr_clips: int = 24  # clips generated per retrieval configuration for ISR vs FAD

    def label(self) -> str:
        """The sampling of the tables, e.g. ``ddim-10, clip x0 6``."""
        return f"{self.sampler}-{self.steps}" + (f", clip x0 {self.clip_x0:g}" if self.clip_x0 else "")


def eval_items(manifest, cfg: ResultsConfig) -> list:
    """The held-out clips Table 1 is computed on (a fixed prefix of the test split)."""
    items = manifest.items("test")
    return items[:cfg.n_clips] if cfg.n_clips else items


def score_clips(wavs: Sequence[np.ndarray], refs: Sequence[np.ndarray], captions: Sequence[str],
                target_melodies: Sequence[Sequence[Note]], cond_melodies: Sequence[Sequence[Note]] | None,
                embedder, eval_cfg) -> dict[str, float]:
    """All Table 1 metrics of one set of generated clips against their paired real clips."""
    out = evaluate_set(list(wavs), list(refs), config=eval_cfg)
    with torch.no_grad():
        a = embedder.embed_audio(list(wavs)).float()
        t = embedder.embed_text(list(captions)).float()
    row = {"fad": out["fad"], "fad_inf": out.get("fad_inf", float("nan")), "kid": out["kid"], "kl": out["kl"],
           "is": out["is"], "richness": float(np.mean([harmonic_richness(w) for w in wavs])),
           "text_audio": float((a * t).sum(-1).mean())}
    row["chroma_target"] = float(np.mean([chroma_similarity(w, m) for w, m in zip(wavs, target_melodies)]))
    if cond_melodies is None:
        row["chroma_cond"] = row["note_f1_cond"] = float("nan")
    else:
        row["chroma_cond"] = float(np.mean([chroma_similarity(w, m) for w, m in zip(wavs, cond_melodies)]))
        heard = default_extractor().notes(list(wavs))
        row["note_f1_cond"] = float(np.mean([note_scores(m, h)[2] for m, h in zip(cond_melodies, heard)]))
    return row


def table1_runs(stages: Stages, cfg: ResultsConfig, eval_cfg: EvaluationConfig,
                progress: bool = True) -> pd.DataFrame:
    """One row per (system, seed) with every metric; the decoder ceiling once (it has no seed)."""
    pipes = stages.pipelines(sorted({m for m, _ in SYSTEMS.values()}))
    any_pipe = next(iter(pipes.values()))
    manifest = stages.dataset
    items = eval_items(manifest, cfg)
    refs = [load_audio(manifest.audio_path(it)) for it in items]
    captions = [it.caption for it in items]
    targets = [item_notes(manifest, it) for it in items]
    rows = []
    jobs = [(s, seed) for s in SYSTEMS for seed in cfg.seeds]
    for system, seed in tqdm(jobs, desc="Table 1", disable=not progress):
        mode, source = SYSTEMS[system]
        gen = pipes[mode](captions, melody=targets if source == "oracle" else None, seed=seed,
                          sampler=cfg.sampler, steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=cfg.candidates,
                          progress=False)
        cond = None if source is None else gen.melodies
        rows.append({"system": system, "seed": seed,
                     **score_clips(list(gen.waveforms), refs, captions, targets, cond, any_pipe.embedder, eval_cfg)})
    ceiling = any_pipe.decoder.resynthesize(torch.from_numpy(np.stack(refs))).numpy()
    rows.append({"system": CEILING, "seed": np.nan,
                 **score_clips(list(ceiling), refs, captions, targets, targets, any_pipe.embedder, eval_cfg)})
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean and standard deviation over seeds per system, as ``mean ± sd`` text and numeric columns."""
    order = list(dict.fromkeys(runs["system"]))
    metrics = [m for m in metrics if m in runs]  # runs written before a metric existed summarise without it
    g = runs.groupby("system", sort=False)[metrics]
    mean, sd = g.mean().reindex(order), g.std(ddof=1).reindex(order)
    out = pd.DataFrame({"system": order, "seeds": runs.groupby("system", sort=False).size().reindex(order).values})
    for m in metrics:
        out[m] = [("n/a" if np.isnan(a) else f"{a:.3f}" if np.isnan(b) else f"{a:.3f} ± {b:.3f}")
                  for a, b in zip(mean[m].values, sd[m].values)]
    return out
