"""Does the melody reach the music? A counterfactual test and linear probes of r (notebook 09, docs/method.md §2.9).

**The counterfactual.** For every test caption and noise seed a system generates twice, everything equal but the
melody: once with the clip's own melody A (the oracle: its Basic Pitch tokens embed r, its exact notes draw the
roll), once with a changed melody B. Two changes, each keeping what the other moves:

* ``key``: A a tritone away (every note ±6 semitones, towards the middle of the range): every pitch class moves to
  the farthest one, contour and rhythm stay;
* ``contour``: A's pitches in reverse order on A's own rhythm (each instrument's notes apart): the same pitch
  classes in another order in time.

The score is how far the output moves toward the melody it was given, summed over both directions,
``[f(y_A, A) − f(y_B, A)] + [f(y_B, B) − f(y_A, B)]``, for two measures f: the *pitch-class profile* correlation
(time-free: what a pooled r can carry) and MusicGen's frame-wise *chroma* (what only a time-aligned roll can carry).
A system that ignores its melody moves 0 (``text`` is the control: the same seed gives the same audio); the melody
rendered by the dataset's synthesizer is a perfect follower (its move is what full adherence looks like), and the
real clip pitch-shifted by the same tritone is real music's contrast for the key change. Every set goes through the
evaluation harness (cached; intervals at the level of the training run).

**The probes.** What r (and q, and both) carries: linear probes fitted on the training clips' exported embeddings
and scored on the validation clips — key (tonic pitch class), mode, tempo (bpm) and the melody's pitch range —
so the claims can say whether the information exists in r before asking whether the UNet uses it."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.data.manifest import item_notes, melody_text
from mmgen_core.data.sources.music21 import PITCH_NAMES
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.evaluation.harness import ClipMeasure, Harness, Measurements, SetMeasure
from mmgen_core.evaluation.intervals import Effect, leave_one_out, run_level_interval, verdict
from mmgen_core.evaluation.melody_metrics import chroma_similarity, pitch_class_agreement
from mmgen_core.melody.notes import Note, transpose
from mmgen_core.melody.render import Renderer, Track
from mmgen_core.melody.tokens import name_pitch, pitch_name, text_to_triplets, triplets_to_text
from mmgen_core.reporting.melody import MODES
from mmgen_core.reproduction.table1 import ResultsConfig, eval_items
from mmgen_core.stages import Stages

SWAPS = {"key": "a tritone away (same contour and rhythm, every pitch class moved farthest)",
         "contour": "its pitches reversed on its own rhythm (same pitch classes, another contour)"}
MEASURES = {"pcp_move": pitch_class_agreement, "chroma_move": chroma_similarity}  # the move's name → f(wav, notes)
FOLLOWER = "melody rendered (a perfect follower)"
REAL = "real clip, pitch-shifted (real music's contrast)"
MOVE_MARGIN = 0.10  # of a perfect follower's move: a smaller move is no move (equivalent to none), fixed before runs


def tritone(notes: Sequence[Note]) -> int:
    """±6 semitones, towards the middle of the piano (down when the melody's mean pitch is above E4)."""
    return -6 if np.mean([n.pitch for n in notes]) > 64 else 6


def swap_notes(notes: Sequence[Note], swap: str, semitones: int | None = None) -> list[Note]:
    """The changed melody B of ``swap`` (:data:`SWAPS`) for exact notes A."""
    if swap == "key":
        return transpose(notes, tritone(notes) if semitones is None else semitones)
    if swap != "contour":
        raise ValueError(f"swap must be one of {list(SWAPS)}, not {swap!r}")
    out: list[Note] = []
    for inst in sorted({n.instrument for n in notes}):
        voice = sorted((n for n in notes if n.instrument == inst), key=lambda n: (n.start, n.pitch))
        out += [dataclasses.replace(n, pitch=p.pitch) for n, p in zip(voice, reversed(voice))]
    return sorted(out, key=lambda n: (n.start, n.pitch))


def swap_tokens(text: str, swap: str, semitones: int) -> str:
    """The same change on a melody's token text (``<G4>,<114>,<79>|…``): pitch names moved or reversed, the time
    bins kept (``semitones``: the key change's, the notes' own, so r and the roll change alike)."""
    triplets = text_to_triplets(text)
    names = [t[0] for t in triplets]
    if swap == "key":
        names = [pitch_name(min(127, max(0, name_pitch(p) + semitones))) for p in names]
    elif swap == "contour":
        names = names[::-1]
    else:
        raise ValueError(f"swap must be one of {list(SWAPS)}, not {swap!r}")
    return triplets_to_text((p, d, r) for p, (_, d, r) in zip(names, triplets))


def move(y_a: np.ndarray, y_b: np.ndarray, a: Sequence[Note], b: Sequence[Note], f) -> float:
    """How far the outputs move toward the melody each was given: ``[f(y_A, A) − f(y_B, A)] + [f(y_B, B) − f(y_A, B)]``."""
    return (f(y_a, a) - f(y_b, a)) + (f(y_b, b) - f(y_a, b))


@dataclass
class MelodyCase:
    """One test clip's two melodies of a swap: exact notes (the roll) and token texts (r) of A and B."""
    a: list[Note]
    b: list[Note]
    a_tokens: str
    b_tokens: str
    semitones: int


def cases(manifest, items: Sequence, swap: str) -> list[MelodyCase]:
    """The A/B melodies of ``swap`` for each clip (A: its own, the oracle of Table 1)."""
    out = []
    for it in items:
        a = item_notes(manifest, it)
        semis = tritone(a)
        tokens = melody_text(it)
        out.append(MelodyCase(a, swap_notes(a, swap, semis), tokens, swap_tokens(tokens, swap, semis), semis))
    return out


def measure_moves(ys_a: Sequence[np.ndarray], ys_b: Sequence[np.ndarray], cs: Sequence[MelodyCase]) -> SetMeasure:
    """One set's per-clip moves (every :data:`MEASURES`), as a harness set without set distances."""
    clips = [ClipMeasure(np.zeros((0, 1), np.float32), np.zeros(0, np.float32),
                         {name: move(ya, yb, c.a, c.b, f) for name, f in MEASURES.items()})
             for ya, yb, c in zip(ys_a, ys_b, cs)]
    return SetMeasure(clips, {}, {})


@dataclass
class CounterfactualRun:
    """Every move measured: one harness system per (system, swap), e.g. ``MMGen · key``."""
    harness: Measurements
    swaps: list[str]
    systems: list[str]

    @staticmethod
    def name(system: str, swap: str) -> str:
        return f"{system} · {swap}"

    def table(self, margin: float = MOVE_MARGIN) -> pd.DataFrame:
        """Per system and swap: each move with its interval, its share of a perfect follower's move, and whether the
        melody reaches the music by the one rule (margin: ``margin`` × the perfect follower's move; a system
        with one training run reads inconclusive)."""
        rows = []
        for swap in self.swaps:
            ceiling = {m: self.harness.interval(self.name(FOLLOWER, swap), m).estimate for m in MEASURES}
            for system in self.systems:
                name = self.name(system, swap)
                if name not in self.harness.systems():
                    continue
                row = {"system": system, "swap": swap, "n": self.harness.describe(name)}
                for m in MEASURES:
                    e = self.harness.interval(name, m)
                    e = dataclasses.replace(e, margin=margin * abs(ceiling[m]))
                    row |= {m: e.estimate, f"{m} low": e.low, f"{m} high": e.high,
                            f"{m} of follower": e.estimate / ceiling[m] if ceiling[m] else np.nan,
                            f"{m} outcome": _reach(e, system)}
                rows.append(row)
        return pd.DataFrame(rows)


def _reach(e: Effect, system: str) -> str:
    """The one rule read for a move: *reaches* (reproduced), *no move* (equivalent to zero within the margin),
    *moves away* (contradicted) or *inconclusive*; references (no training runs) are not judged."""
    if system not in MODES:
        return "reference"
    if e.runs < 2:
        return "inconclusive (one training run)"
    v = verdict(e.low, e.high, e.margin)
    return {"reproduced": "reaches the music", "equivalent": "no move", "contradicted": "moves away",
            "inconclusive": "inconclusive"}[v]


def counterfactual(stages: Stages, cfg: ResultsConfig, eval_cfg: EvaluationConfig, unet_seeds: Sequence[int],
                   swaps: Sequence[str] = tuple(SWAPS), systems: Sequence[str] = tuple(MODES)) -> CounterfactualRun:
    """Generate every test caption (Table 1's clips, sampling and sampling seeds) with melody A and with melody B of
    each swap, for every system and UNet training seed of ``unet_seeds`` (trained when missing), and measure the
    moves through the harness (cached). The perfect follower and the pitch-shifted real clip once (no seed)."""
    import librosa  # imported where used, as the melody metrics do: slow to import

    items = eval_items(stages.dataset, cfg)
    h: Harness = stages.harness(items, eval_cfg)
    ev = h.evalset
    by_swap = {s: cases(stages.dataset, items, s) for s in swaps}
    sampling = json.dumps([cfg.label(), dataclasses.asdict(stages.generation_config)], default=str)
    memo: dict[tuple, list[np.ndarray]] = {}
    pipes: dict[int, dict] = {}
    renderer: list[Renderer] = []
    sr, n = SAMPLE_RATE, len(ev.refs[0])
    seconds = n / sr
    programs = [int(it.meta.get("program", 0)) for it in items]

    def key(name: str, t: int, k: int) -> str:
        system, swap = name.split(" · ")
        if system in MODES:
            folder = stages.with_unet_seed(t).unet_folder(MODES[system]).name
            return json.dumps(["melody-move", 1, folder, swap, k, sampling])
        return json.dumps(["melody-move", 1, system, swap, stages.data_config.soundfont])

    def render(notes: Sequence[Note], program: int) -> np.ndarray:
        if not renderer:
            renderer.append(Renderer(stages.data_config.soundfont))
        return renderer[0].render([Track(program, tuple(notes), 100)], seconds)

    def outputs(system: str, t: int, k: int, which: str, swap: str) -> list[np.ndarray]:
        """The outputs of ``system`` with melody A (``which='a'``, shared by every swap) or B of ``swap``."""
        memo_key = (system, t, k, which, "" if which == "a" else swap)
        if memo_key in memo:
            return memo[memo_key]
        cs = by_swap[swap]
        if system == FOLLOWER:
            ys = [render(c.a if which == "a" else c.b, p) for c, p in zip(cs, programs)]
        elif system == REAL:
            ys = list(ev.refs) if which == "a" else [librosa.effects.pitch_shift(r, sr=sr, n_steps=c.semitones)
                                                     for r, c in zip(ev.refs, cs)]
        else:
            if t not in pipes:  # one training seed's UNets (and outputs) in memory at a time
                pipes.clear()
                for old in [m for m in memo if m[1] != t and m[0] in MODES]:
                    del memo[old]
                pipes[t] = stages.with_unet_seed(t).pipelines(sorted(set(MODES[s] for s in systems)))
            melody = [c.a if which == "a" else c.b for c in cs]
            tokens = [c.a_tokens if which == "a" else c.b_tokens for c in cs]
            gen = pipes[t][MODES[system]](ev.captions, melody=melody, melody_tokens=tokens, seed=k,
                                          sampler=cfg.sampler, steps=cfg.steps, clip_x0=cfg.clip_x0, candidates=1,
                                          progress=False)
            ys = list(gen.waveforms)
        memo[memo_key] = ys
        return ys

    def measure(name: str, t: int, k: int) -> SetMeasure:
        system, swap = name.split(" · ")
        return measure_moves(outputs(system, t, k, "a", swap), outputs(system, t, k, "b", swap), by_swap[swap])

    references = [(CounterfactualRun.name(s, swap), 0, 0) for swap in swaps for s in (FOLLOWER, REAL)
                  if not (s == REAL and swap != "key")]
    jobs = [(CounterfactualRun.name(s, swap), t, k) for t in unet_seeds for k in cfg.seeds
            for s in systems for swap in swaps]
    stages.train_unets(sorted(set(MODES[s] for s in systems)), seeds=list(unet_seeds))
    h.collect(references + jobs, key, None, "melody counterfactual", measure=measure)
    return CounterfactualRun(h, list(swaps), [FOLLOWER, REAL, *systems])


# ---------------------------------------------------------------------------------------------------- probes
def probe_targets(manifest, items: Sequence) -> dict[str, np.ndarray]:
    """The probes' targets per clip, from the dataset's own labels (key, mode, bpm: music21 metadata, absent for
    other sources) and from the melody (pitch range)."""
    out: dict[str, np.ndarray] = {}
    if all("tonic" in it.meta and "mode" in it.meta for it in items):
        out["key"] = np.array([PITCH_NAMES.index(it.meta["tonic"]) if it.meta["tonic"] in PITCH_NAMES
                               else -1 for it in items])
        out["mode"] = np.array([it.meta["mode"] == "major" for it in items], dtype=int)
    if all("bpm" in it.meta for it in items):
        out["tempo"] = np.array([float(it.meta["bpm"]) for it in items])
    ranges = []
    for it in items:
        pitches = [n.pitch for n in item_notes(manifest, it) if n.instrument == 0] or [0]
        ranges.append(float(max(pitches) - min(pitches)))
    out["pitch range"] = np.array(ranges)
    return out


def probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          classes: bool) -> tuple[np.ndarray, float]:
    """A linear probe fitted on the training rows and scored per test row: for classes, 1 where the predicted class
    is right (multinomial logistic regression); else the squared error (ridge). Also the chance level: the majority
    class's accuracy, or the error of predicting the training mean. Features standardised on the training rows."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if classes:
        values, counts = np.unique(y_train, return_counts=True)
        chance = float(np.mean(y_test == values[counts.argmax()]))
        if len(values) < 2:  # one class in training: the probe can only say it
            return (y_test == values[0]).astype(float), chance
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        model.fit(x_train, y_train)
        return (model.predict(x_test) == y_test).astype(float), chance
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 11)))
    model.fit(x_train, y_train)
    return (model.predict(x_test) - y_test) ** 2, float(np.mean((y_test - y_train.mean()) ** 2))


def probe_table(stages: Stages, variants: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per melody tower (aligner ``variants``), target and input (r, q, [q, r]): the probe's validation score with
    its interval over validation clips (delete-one-clip jackknife), beside chance. Classes: accuracy; numbers:
    R² (1 − error / the error of predicting the training mean)."""
    man = stages.dataset
    train, valid = man.items("train"), man.items("valid")
    targets = {s: probe_targets(man, items) for s, items in (("train", train), ("valid", valid))}
    rows = []
    for variant in variants:
        run = stages.alignment(variant)
        emb = {s: run.embeddings(s) for s in ("train", "valid")}
        for s, items in (("train", train), ("valid", valid)):
            if emb[s].ids != [it.id for it in items]:
                raise ValueError(f"{run.folder}: exported {s} embeddings are not the dataset's {s} clips; retrain it")
        inputs = {"r (melody)": lambda e: e.melody, "q (caption)": lambda e: e.text,
                  "[q, r]": lambda e: np.concatenate([e.text, e.melody], 1)}
        for target in targets["train"]:
            y_tr, y_va = targets["train"][target], targets["valid"][target]
            classes = target in ("key", "mode")
            for label, pick in inputs.items():
                scores, chance = probe(pick(emb["train"]), y_tr, pick(emb["valid"]), y_va, classes)
                jack = leave_one_out(scores[None, None, :])  # (1, C+1): all clips, then without each
                if not classes:
                    jack = 1.0 - jack / chance
                est, low, high, _ = run_level_interval(jack, confidence)
                low, high = max(low, 0.0) if classes else low, min(high, 1.0)  # an accuracy lies in [0, 1], R² ≤ 1
                rows.append({"tower": run.config.melody_tower, "variant": variant, "target": target, "input": label,
                             "score": "accuracy" if classes else "R²", "estimate": est, "low": low, "high": high,
                             "chance": chance if classes else 0.0, "n": len(y_va)})
    return pd.DataFrame(rows)
