"""The embedded default dataset: real compositions from the music21 corpus rendered with FluidSynth.

Folk tunes (Essen, O'Neill, Ryan, Aird), Bach chorales, Renaissance polyphony and more, with varied
General MIDI instruments, tempi and transpositions; polyphonic works keep their lower voices as
accompaniment. Captions are written from the metadata. The ground-truth melody is the score's top
voice, so melody extraction can be scored exactly. Deterministic for a seed."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from mmgen_core.artifacts import StageDir
from mmgen_core.audio.io import normalize_peak, save_audio
from mmgen_core.data.config import DataConfig
from mmgen_core.data.manifest import Item, Manifest, Reject, assign_splits
from mmgen_core.data.writer import ClipWriter
from mmgen_core.melody.notes import Note, clip_notes, save_midi, transpose
from mmgen_core.melody.render import Renderer, Track
from mmgen_core.melody.tokens import notes_to_text

# collection → (style words, tempo range in bpm)
COLLECTIONS: dict[str, tuple[str, tuple[int, int]]] = {
    "essenFolksong": ("European folk song", (80, 140)),
    "oneills1850": ("Irish dance tune", (100, 160)),
    "ryansMammoth": ("fiddle tune", (100, 160)),
    "airdsAirs": ("Scottish air", (70, 130)),
    "miscFolk": ("folk melody", (80, 140)),
    "bach": ("Bach chorale", (60, 96)),
    "palestrina": ("Renaissance sacred polyphony", (60, 90)),
    "trecento": ("medieval Italian song", (70, 110)),
    "monteverdi": ("Italian madrigal", (60, 100)),
    "josquin": ("Renaissance motet", (60, 90)),
}


MELODY_PROGRAMS = {  # GM program → caption name
    0: "piano", 6: "harpsichord", 11: "vibraphone", 12: "marimba", 21: "accordion", 22: "harmonica",
    24: "nylon guitar", 40: "violin", 41: "viola", 42: "cello", 46: "harp", 56: "trumpet", 60: "french horn",
    65: "alto saxophone", 68: "oboe", 71: "clarinet", 73: "flute", 74: "recorder", 75: "pan flute", 79: "ocarina",
}


ACCOMP_PROGRAMS = {0: "piano", 19: "church organ", 24: "nylon guitar", 46: "harp", 48: "string ensemble",
                   52: "choir", 70: "bassoon", 42: "cello"}


STYLE_WORDS = [(0, 72, "slow"), (72, 100, "moderate"), (100, 130, "lively"), (130, 999, "fast")]


@dataclass(frozen=True)
class Work:
    """A corpus entry to draw a clip from."""
    collection: str
    source_path: str
    number: int | None
    title: str
    composer: str
    region: str

    @property
    def key(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(self.source_path).stem).strip("-")
        return f"{self.collection}-{slug}" + (f"-{self.number}" if self.number is not None else "")


def list_works(seed: int, limit: int) -> list[Work]:
    """Candidate works, interleaved across collections (so folk songs don't swamp the rest), seeded."""
    from music21 import corpus

    by_coll: dict[str, list[Work]] = {c: [] for c in COLLECTIONS}
    seen: set[str] = set()  # one work can ship in two formats (e.g. .xml and .rntxt): keep the first
    # iterate the entries directly: the bundle's own __iter__ is quadratic (27 s for the corpus)
    for e in corpus.corpora.CoreCorpus().metadataBundle._metadataEntries.values():
        coll = str(e.sourcePath).split("/")[0]
        md = e.metadata
        if coll not in by_coll or md is None or not md.noteCount or md.noteCount < 24:
            continue
        work = Work(coll, str(e.sourcePath), e.number, str(md.title or "untitled"),
                    str(md.composer or ""), str(md.localeOfComposition or ""))
        if work.key not in seen:
            seen.add(work.key)
            by_coll[coll].append(work)
    rng = np.random.default_rng(seed)
    queues = []
    for coll in COLLECTIONS:
        works = sorted(by_coll[coll], key=lambda w: w.key)
        queues.append([works[i] for i in rng.permutation(len(works))])
    out: list[Work] = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop())
    return out


def score_parts(work: Work) -> tuple[list[list[tuple[float, float, int]]], dict[str, Any]]:
    """Parse a work: per part, notes as (onset ql, offset ql, pitch), top voice first; plus metadata."""
    from music21 import corpus

    score = corpus.parse(work.source_path, number=work.number) if work.number is not None else corpus.parse(work.source_path)
    parts = [notes for part in (score.parts if score.parts else [score]) if (notes := _part_notes(part))]
    if not parts:
        raise ValueError("no notes in score")
    parts.sort(key=lambda p: -np.mean([x[2] for x in p]))  # highest voice = melody
    ts = [t.ratioString for t in score.recurse().getElementsByClass("TimeSignature")]
    key = score.analyze("key")
    meta = {"meter": ts[0] if ts else "", "tonic": key.tonic.name.replace("-", "b"), "mode": key.mode}
    return parts, meta


def _part_notes(part) -> list[tuple[float, float, int]]:
    """(onset, offset, pitch) in quarter lengths with tied notes merged (music21's stripTies is slow)."""
    notes: list[list] = []
    open_ties: dict[int, int] = {}
    for n in part.flatten().notes:
        on, dur = float(n.offset), float(n.quarterLength)
        if dur <= 0:
            continue  # grace notes: zero length would make FluidSynth hang
        tie = n.tie.type if n.tie is not None else None
        for p in n.pitches:
            midi = int(p.midi)
            if tie in ("stop", "continue") and midi in open_ties:
                notes[open_ties[midi]][1] = on + dur
            else:
                notes.append([on, on + dur, midi])
                open_ties[midi] = len(notes) - 1
            if tie not in ("start", "continue"):
                open_ties.pop(midi, None)
    return sorted(tuple(x) for x in notes)


PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _tonic_after(tonic: str, semitones: int) -> str:
    from music21 import pitch

    pc = (pitch.Pitch(tonic.replace("b", "-")).pitchClass + semitones) % 12
    return PITCH_NAMES[pc]


def _a(phrase: str) -> str:
    """Prefix the right indefinite article."""
    vowel = phrase[:1].lower() in "aeiou" and not phrase.lower().startswith(("eu", "uni"))
    return ("an " if vowel else "a ") + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def write_caption(meta: dict[str, Any], rng: np.random.Generator) -> str:
    """A caption from metadata, with some variety in wording."""
    tempo = next(w for lo, hi, w in STYLE_WORDS if lo <= meta["bpm"] < hi)
    inst = meta["instrument"]
    acc = f" with {meta['accompaniment']} accompaniment" if meta.get("accompaniment") else ""
    key = f"{meta['tonic']} {meta['mode']}"
    region = meta["region"].split(",")[-1].strip() if meta.get("region") else ""
    where = f" from {region}" if region and len(region) < 30 else ""
    meter = f" in {meta['meter']} time" if meta.get("meter") else ""
    templates = [
        f"{_cap(_a(tempo))} {meta['style']}{where} played on {inst}{acc}, in {key}.",
        f"{_cap(inst)} plays {_a(tempo)} {meta['style']} in {key}{meter}{acc}.",
        f"{_cap(_a(meta['style']))}{where}: {tempo} {inst} melody in {key}, around {meta['bpm']} bpm{acc}.",
        f"{_cap(tempo)} {key} tune on {inst}{acc}{meter}; {_a(meta['style'])}.",
        f"Solo {inst}{acc} performing {_a(meta['style'])} in {key} at {_a(tempo)} tempo.",
    ]
    return templates[int(rng.integers(len(templates)))]


MOODS = {"major": ("bright", "cheerful", "warm", "uplifting", "joyful", "carefree"),
         "minor": ("melancholic", "sad", "somber", "wistful", "dark", "brooding")}
FEELS = ("relaxing", "elegant", "simple", "expressive", "gentle", "dance-like", "earnest", "nostalgic")


def write_sound_caption(meta: dict[str, Any], rng: np.random.Generator, key_fraction: float) -> str:
    """A caption of how the clip sounds, as MusicCaps writes them: style, instruments, mood and tempo words; the key
    and bpm only in ``key_fraction`` of the captions (a mood word follows the mode, as a listener would hear it)."""
    tempo = next(w for lo, hi, w in STYLE_WORDS if lo <= meta["bpm"] < hi)
    inst, style = meta["instrument"], meta["style"]
    acc = f" with {meta['accompaniment']} accompaniment" if meta.get("accompaniment") else ""
    mood = str(rng.choice(MOODS.get(meta["mode"], FEELS)))
    feel = str(rng.choice(FEELS))
    templates = [
        f"{_cap(_a(mood))} {style} played on {inst}{acc}, at {_a(tempo)} tempo.",
        f"This is {_a(style)}. {_cap(_a(inst))} carries the melody{acc}; the mood is {mood} and {feel}.",
        f"{_cap(_a(tempo))}, {mood} {inst} tune{acc}. It sounds like {_a(style)}.",
        f"Solo {inst}{acc} playing {_a(mood)} {style}. The tempo is {tempo} and the feel {feel}.",
        f"{_cap(_a(feel))} {style} on {inst}{acc}: {tempo}, {mood}.",
    ]
    text = templates[int(rng.integers(len(templates)))]
    if rng.random() < key_fraction:
        text = f"{text[:-1]}, in {meta['tonic']} {meta['mode']} at about {meta['bpm']} bpm."
    return text


def make_clip(work: Work, clip_seconds: float, rng: np.random.Generator) -> tuple[list[Track], list[Note], dict[str, Any]]:
    """Choose tempo, transposition, instruments and a window; return tracks, the melody, metadata."""
    parts, meta = score_parts(work)
    style, (lo, hi) = COLLECTIONS[work.collection]
    bpm = int(rng.integers(lo, hi + 1))
    sec = 60.0 / bpm
    semis = int(rng.integers(-5, 6))
    voices = [[Note(p, a * sec, b * sec, i) for a, b, p in part] for i, part in enumerate(parts)]
    voices = [transpose(v, semis) for v in voices]
    length = max(n.end for v in voices for n in v)
    if length < clip_seconds:
        raise ValueError(f"too short ({length:.1f} s at {bpm} bpm < {clip_seconds} s)")
    onsets = sorted({n.start for n in voices[0] if n.start <= length - clip_seconds})
    start = float(onsets[int(rng.integers(len(onsets)))])
    voices = [clip_notes(v, start, start + clip_seconds) for v in voices]
    melody = voices[0]
    if len(melody) < 3:
        raise ValueError("fewer than 3 melody notes in the window")
    program = int(rng.choice(list(MELODY_PROGRAMS)))
    tracks = [Track(program, tuple(melody), 100)]
    accomp = [n for v in voices[1:] for n in v]
    meta.update(style=style, bpm=bpm, transpose=semis, start_s=round(start, 3), region=work.region,
                collection=work.collection, title=work.title, composer=work.composer, work=work.key,
                instrument=MELODY_PROGRAMS[program], program=program, n_parts=len(voices),
                tonic=_tonic_after(meta["tonic"], semis), accompaniment="")
    if accomp:
        acc_prog = int(rng.choice(list(ACCOMP_PROGRAMS)))
        tracks.append(Track(acc_prog, tuple(Note(n.pitch, n.start, n.end, 1) for n in accomp), 62))
        meta["accompaniment"] = ACCOMP_PROGRAMS[acc_prog]
    return tracks, melody, meta


@dataclass(frozen=True)
class Draft:
    """A work made into a clip, all but its audio: what a worker process hands back to the builder."""
    tracks: list[Track]
    melody: list[Note]
    meta: dict[str, Any]
    captions: list[str]


def clip_id(work: Work) -> str:
    """The id of the clip drawn from ``work``."""
    return f"m21-{work.key}"


def draft_clip(work: Work, clip_seconds: float, seed: int, captions: str = "detailed",
               key_fraction: float = 0.1) -> Draft | str:
    """Parse ``work`` and draw its clip and captions from its own seeded rng; a bad score gives its reject reason.

    Every random choice comes from the clip's own rng, so the draft is the same in any process and order; the
    captions are drawn last, so both caption styles (``data.captions``) come with the same clip."""
    rng = np.random.default_rng([seed, abs(hash_str(clip_id(work)))])
    try:
        tracks, melody, meta = make_clip(work, clip_seconds, rng)
    except Exception as exc:
        return _reason(exc)
    if captions == "sound":
        return Draft(tracks, melody, meta, [write_sound_caption(meta, rng, key_fraction) for _ in range(2)])
    return Draft(tracks, melody, meta, [write_caption(meta, rng), write_caption(meta, rng)])


def _reason(exc: Exception) -> str:
    """A reject reason: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}"


def render_draft(renderer: Renderer, draft: Draft | str, seconds: float) -> np.ndarray | str:
    """The draft's audio, or why the clip is rejected: a bad score, a failed or a silent render."""
    if isinstance(draft, str):
        return draft
    try:
        wav = renderer.render(draft.tracks, seconds)
    except Exception as exc:
        return _reason(exc)
    return wav if np.abs(wav).max() >= 1e-4 else "ValueError: rendered silence"


def resolve_workers(workers: int) -> int:
    """``data.workers``: 0 = one process per core."""
    return workers if workers > 0 else os.cpu_count() or 1


def drafts(works: Sequence[Work], clip_seconds: float, seed: int, workers: int, ahead: int,
           captions: str = "detailed", key_fraction: float = 0.1) -> Iterator[Draft | str]:
    """Each work's draft, in work order: drafted here (``workers=1``) or by ``workers`` spawned processes that
    run at most ``ahead`` works ahead of the consumer, so they overlap its rendering and melody extraction
    and waste little past the point where it stops. Spawned, not forked: the parent may hold torch's and
    onnxruntime's threads."""
    draft = partial(draft_clip, clip_seconds=clip_seconds, seed=seed, captions=captions, key_fraction=key_fraction)
    if workers == 1:
        yield from map(draft, works)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        queued: deque[Future[Draft | str]] = deque(pool.submit(draft, w) for w in works[:ahead])
        for work in works[ahead:]:
            done = queued.popleft().result()
            queued.append(pool.submit(draft, work))
            yield done
        while queued:
            yield queued.popleft().result()
    finally:  # the consumer stopped (enough clips, or an error): drop what is queued
        pool.shutdown(wait=True, cancel_futures=True)


def build_music21(root: Path, cfg: DataConfig, seed: int = 0, progress: bool = True, batch: int = 32) -> Manifest:
    """Render clips into ``root`` (resuming a previous partial build), extract melodies, split 8:1:1.

    Works are drafted (parsed, the slow part) by ``cfg.workers`` processes but consumed in work order by
    this one, which renders with its single synthesizer (a render depends on the previous ones through
    FluidSynth's reverb tail), so the build is byte-identical for any number of workers."""
    man, stage = Manifest(root), StageDir(Path(root))
    if stage.done:
        return man
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "midi").mkdir(parents=True, exist_ok=True)
    done = man.done_ids()
    writer = ClipWriter(man, batch)
    kept = len(man.items()) if man.exists() else 0
    renderer = Renderer(cfg.soundfont)
    works = [w for w in list_works(seed, cfg.max_works) if clip_id(w) not in done]
    bar = tqdm(total=cfg.n_clips, initial=kept, desc="music21 clips", disable=not progress)
    with closing(drafts(works, cfg.clip_seconds, seed, resolve_workers(cfg.workers), 2 * batch, cfg.captions,
                        cfg.caption_key_fraction)) as results:
        for work in works:
            if kept + writer.kept + len(writer.pending) >= cfg.n_clips:
                break
            cid, draft = clip_id(work), next(results)
            wav = render_draft(renderer, draft, cfg.clip_seconds)
            if isinstance(wav, str):  # a bad score is recorded and skipped; the build goes on
                man.reject(Reject(cid, wav, "music21"))
                continue
            save_audio(root / "audio" / f"{cid}.wav", normalize_peak(wav, 0.5))
            save_midi([n for t in draft.tracks for n in t.notes], root / "midi" / f"{cid}.mid",
                      programs={i: t.program for i, t in enumerate(draft.tracks)})
            meta = {**draft.meta, "score_midi": f"midi/{cid}.mid"}
            item = Item(id=cid, audio=f"audio/{cid}.wav", captions=draft.captions,
                        melody_gt=notes_to_text(draft.melody), source="music21", meta=meta)
            writer.add(item, wav)
            bar.n = kept + writer.kept
            bar.refresh()
    writer.flush()
    bar.n = kept + writer.kept
    bar.close()
    items = assign_splits(man.items(), seed=seed, group_key="work")
    man.write(items)
    stage.finish({"clips": len(items), "rejects": len(man.rejects())})
    return man


def hash_str(s: str) -> int:
    """A stable (process-independent) 63-bit hash of a string, for per-item seeds."""
    return int.from_bytes(hashlib.sha1(s.encode()).digest()[:8], "big") >> 1
