"""Melodies as note lists: MIDI I/O, ordering and piano rolls.

A melody is MIDI notes (pitch, start, end) — velocity dropped, drum tracks skipped (docs/method.md §2.1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


class MelodyError(ValueError):
    """A melody that cannot be used (no notes, unreadable MIDI); names the source."""


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, onset and offset in seconds, and the instrument it came from."""
    pitch: int
    start: float
    end: float
    instrument: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start


def order_notes(notes: Iterable[Note], order: str = "onset") -> list[Note]:
    """``onset``: time order (our default). ``official``: instrument by instrument, each instrument's notes
    in the given (file) order, as the authors' code concatenates them (a quirk kept for interoperability)."""
    notes = list(notes)
    if order == "onset":
        return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))
    if order == "official":
        return sorted(notes, key=lambda n: n.instrument)  # stable: keeps each track's own order
    raise ValueError(f"order must be 'onset' or 'official', not {order!r}")


def load_midi(path: str | Path, track: int | None = None) -> list[Note]:
    """Notes of all non-drum tracks of a MIDI file, or of track ``track`` alone (its index among the file's
    instruments); raises :class:`MelodyError` when there are none, listing the tracks for a bad ``track``."""
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise MelodyError(f"{path}: MIDI file not found")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:
        raise MelodyError(f"{path}: unreadable MIDI ({exc})") from exc
    if track is not None and not (0 <= track < len(pm.instruments) and not pm.instruments[track].is_drum
                                  and pm.instruments[track].notes):
        tracks = "; ".join(f"{i}: {inst.name or pretty_midi.program_to_instrument_name(inst.program)} "
                           f"({len(inst.notes)} notes{', drums' if inst.is_drum else ''})"
                           for i, inst in enumerate(pm.instruments))
        raise MelodyError(f"{path}: track {track} is not a track with notes to follow; its tracks are {tracks or 'none'}")
    notes = [Note(n.pitch, float(n.start), float(n.end), i)
             for i, inst in enumerate(pm.instruments) if not inst.is_drum and track in (None, i)
             for n in inst.notes if n.end > n.start]
    if not notes:
        raise MelodyError(f"{path}: no (non-drum) notes; give a MIDI file with a melody")
    return order_notes(notes, "official")


def save_midi(notes: Sequence[Note], path: str | Path, programs: dict[int, int] | None = None,
              velocity: int = 90) -> Path:
    """Write notes as MIDI, one track per ``Note.instrument`` (GM program from ``programs``, default piano)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    for idx in sorted({n.instrument for n in notes}):
        inst = pretty_midi.Instrument(program=(programs or {}).get(idx, 0))
        inst.notes = [pretty_midi.Note(velocity, n.pitch, n.start, n.end)
                      for n in notes if n.instrument == idx and n.end > n.start]
        pm.instruments.append(inst)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def piano_roll(notes: Sequence[Note], n_frames: int, fps: float, low: int = 0, high: int = 128) -> np.ndarray:
    """Binary (high-low, n_frames) roll: 1 where a pitch sounds in a frame."""
    roll = np.zeros((high - low, n_frames), dtype=np.float32)
    for n in notes:
        if not low <= n.pitch < high:
            continue
        a = max(0, int(np.floor(n.start * fps)))
        b = min(n_frames, max(a + 1, int(np.ceil(n.end * fps))))
        if a < n_frames:
            roll[n.pitch - low, a:b] = 1.0
    return roll


def chroma_roll(notes: Sequence[Note], n_frames: int, fps: float) -> np.ndarray:
    """(12, n_frames) pitch-class roll."""
    roll = piano_roll(notes, n_frames, fps)
    return np.stack([roll[pc::12].max(axis=0) for pc in range(12)])


def clip_notes(notes: Iterable[Note], start: float, end: float) -> list[Note]:
    """Notes overlapping [start, end), cut to it and shifted so ``start`` becomes 0."""
    out = []
    for n in notes:
        s, e = max(n.start, start), min(n.end, end)
        if e > s:
            out.append(Note(n.pitch, s - start, e - start, n.instrument))
    return out


def loop_notes(notes: Sequence[Note], period: float, seconds: float) -> list[Note]:
    """``notes`` (within [0, ``period``)) repeated every ``period`` seconds up to ``seconds``: a clip-long
    melody stretched over a longer piece by repetition, as music repeats its phrases."""
    if period <= 0:
        raise ValueError(f"period must be > 0, got {period}")
    shifted = [Note(n.pitch, n.start + k * period, n.end + k * period, n.instrument)
               for k in range(int(np.ceil(seconds / period))) for n in clip_notes(notes, 0.0, period)]
    return clip_notes(shifted, 0.0, seconds)


def note_scores(reference: Sequence[Note], estimate: Sequence[Note], offsets: bool = False,
                onset_tolerance: float = 0.05) -> tuple[float, float, float]:
    """mir_eval note precision, recall, F1: onset within 50 ms and same pitch (and, with ``offsets``,
    offset within 20% of the note or 50 ms)."""
    import mir_eval

    if not reference or not estimate:
        empty = float(not reference and not estimate)
        return empty, empty, empty

    def arrays(notes):
        iv = np.array([[n.start, n.end] for n in notes]).reshape(-1, 2)
        return iv, 440.0 * 2 ** ((np.array([n.pitch for n in notes], dtype=float) - 69) / 12)

    (ri, rp), (ei, ep) = arrays(reference), arrays(estimate)
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=0.2 if offsets else None)
    return float(p), float(r), float(f)


def note_f1(reference: Sequence[Note], estimate: Sequence[Note], offsets: bool = False) -> float:
    """Note F1 (see :func:`note_scores`)."""
    return note_scores(reference, estimate, offsets)[2]


def transpose(notes: Iterable[Note], semitones: int) -> list[Note]:
    return [Note(min(127, max(0, n.pitch + semitones)), n.start, n.end, n.instrument) for n in notes]
