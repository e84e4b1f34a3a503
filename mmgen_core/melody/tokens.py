"""Melody tokens exactly as the official MMGen code: text form ``<G4>,<114>,<79>|…`` and 655 ids.

Each note is a triplet (pitch name, duration bin, rest bin). Times are binned on a log scale over
[−0.3 s, 6.0 s] into 512 bins; rest = this onset − previous offset (negative for overlaps)."""
from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import numpy as np

from mmgen_core.melody.notes import MelodyError, Note, order_notes

N_BINS = 512
T_MIN, T_MAX = -0.3, 6.0
_LO, _HI = math.log(T_MIN + 1), math.log(T_MAX + 1)  # log(0.7), log(7)
ZERO_BIN = round((0 - _LO) / (_HI - _LO) * (N_BINS - 1))  # = 79
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
OCTAVES = range(-1, 10)
SONG_TOKENS = ("<bol>", "<bom>", "<bop>", "<eol>", "<eom>", "<eop>")
SPECIALS = ("<s>", "</s>", "<unk>", ",", "|")
BOS, EOS, UNK, COMMA, BAR = range(5)
PAD = EOS  # the window is padded with </s>; the melody towers treat it as a zero vector
MAX_LEN = 1000
IDS_PER_NOTE = 6
VOCAB: tuple[str, ...] = (
    SPECIALS
    + tuple(f"<{b}>" for b in range(N_BINS))
    + tuple(f"<{pc}{o}>" for o in OCTAVES for pc in PITCH_CLASSES)
    + SONG_TOKENS
)


TOKEN_TO_ID = {t: i for i, t in enumerate(VOCAB)}
VOCAB_SIZE = len(VOCAB)  # 655
assert VOCAB_SIZE == 655 and ZERO_BIN == 79


def time_to_bin(seconds: float | np.ndarray) -> int | np.ndarray:
    """Log-scale bin of a duration or rest in seconds (clipped to [−0.3, 6])."""
    x = np.clip(np.asarray(seconds, dtype=np.float64), T_MIN, T_MAX)
    b = np.round((np.log(x + 1) - _LO) / (_HI - _LO) * (N_BINS - 1)).astype(np.int64)
    return int(b) if b.ndim == 0 else b


def bin_to_time(b: int | np.ndarray) -> float | np.ndarray:
    """Inverse of :func:`time_to_bin`; bin 79 decodes to exactly 0 s."""
    b = np.asarray(b)
    if np.any((b < 0) | (b >= N_BINS)):
        raise ValueError(f"time bins must lie in [0, {N_BINS - 1}]")
    t = np.exp(b / (N_BINS - 1) * (_HI - _LO) + _LO) - 1
    t = np.where(b == ZERO_BIN, 0.0, t)
    return float(t) if t.ndim == 0 else t


def pitch_name(pitch: int) -> str:
    """MIDI number → name with sharps: 60 → ``C4``, 0 → ``C-1``, 127 → ``G9``."""
    if not 0 <= pitch <= 127:
        raise ValueError(f"MIDI pitch {pitch} outside 0–127")
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


_NAME = re.compile(r"^([A-G]#?)(-?\d+)$")


def name_pitch(name: str) -> int:
    """Pitch name (``C#4``) → MIDI number."""
    m = _NAME.match(name)
    if not m or m.group(1) not in PITCH_CLASSES:
        raise ValueError(f"not a pitch name: {name!r} (expected e.g. 'C#4', sharps only)")
    return PITCH_CLASSES.index(m.group(1)) + 12 * (int(m.group(2)) + 1)


def notes_to_triplets(notes: Iterable[Note], order: str = "onset") -> list[tuple[str, int, int]]:
    """(pitch name, duration bin, rest bin) per note, in ``order`` ('onset' or 'official')."""
    out, prev_end = [], None
    for n in order_notes(notes, order):
        rest = 0.0 if prev_end is None else n.start - prev_end
        out.append((pitch_name(n.pitch), time_to_bin(n.end - n.start), time_to_bin(rest)))
        prev_end = n.end
    return out


def triplets_to_notes(triplets: Iterable[tuple[str, int, int]]) -> list[Note]:
    """Rebuild note times: onset = previous offset + rest, offset = onset + duration."""
    notes, t = [], 0.0
    for name, dur, rest in triplets:
        start = t + bin_to_time(rest) if notes else 0.0
        start = max(0.0, start)
        end = start + max(bin_to_time(dur), 1e-3)
        notes.append(Note(name_pitch(name), start, end))
        t = end
    return notes


def notes_to_text(notes: Iterable[Note], order: str = "onset") -> str:
    """Official text form: ``<G4>,<114>,<79>|<A4>,<119>,<81>``."""
    return "|".join(f"<{p}>,<{d}>,<{r}>" for p, d, r in notes_to_triplets(notes, order))


def text_to_triplets(text: str) -> list[tuple[str, int, int]]:
    """Parse the official text form; raises :class:`MelodyError` naming the bad note."""
    text = text.strip().strip("|")
    if not text:
        raise MelodyError("empty melody text: no notes")
    out = []
    for i, chunk in enumerate(text.split("|")):
        parts = [p.strip() for p in chunk.split(",")]
        try:
            if len(parts) != 3 or not all(p.startswith("<") and p.endswith(">") for p in parts):
                raise ValueError("expected <pitch>,<dur>,<rest>")
            name, dur, rest = (p[1:-1] for p in parts)
            name_pitch(name)
            dur_b, rest_b = int(dur), int(rest)
            if not (0 <= dur_b < N_BINS and 0 <= rest_b < N_BINS):
                raise ValueError("bin out of range")
        except ValueError as exc:
            raise MelodyError(f"melody text, note {i} ({chunk!r}): {exc}") from exc
        out.append((name, dur_b, rest_b))
    return out


def text_to_notes(text: str) -> list[Note]:
    return triplets_to_notes(text_to_triplets(text))


def triplets_to_ids(triplets: Sequence[tuple[str, int, int]], max_len: int = MAX_LEN) -> np.ndarray:
    """``<s>`` + 6 ids per note (pitch , dur , rest |), truncated/padded (with ``</s>``) to ``max_len``."""
    ids = [BOS]
    for name, dur, rest in triplets:
        ids += [TOKEN_TO_ID.get(f"<{name}>", UNK), COMMA, TOKEN_TO_ID[f"<{dur}>"], COMMA,
                TOKEN_TO_ID[f"<{rest}>"], BAR]
    ids = ids[:max_len]
    return np.array(ids + [PAD] * (max_len - len(ids)), dtype=np.int64)


def ids_to_triplets(ids: Sequence[int]) -> list[tuple[str, int, int]]:
    """Inverse of :func:`triplets_to_ids` (stops at padding; drops a truncated last note)."""
    ids = list(np.asarray(ids).tolist())
    if ids and ids[0] == BOS:
        ids = ids[1:]
    out = []
    for k in range(0, len(ids) - IDS_PER_NOTE + 1, IDS_PER_NOTE):
        p, c1, d, c2, r, _ = (VOCAB[i] for i in ids[k:k + IDS_PER_NOTE])
        if p in SPECIALS or c1 != "," or c2 != ",":
            break
        out.append((p[1:-1], int(d[1:-1]), int(r[1:-1])))
    return out


def encode(notes: Iterable[Note], order: str = "onset", max_len: int = MAX_LEN) -> np.ndarray:
    """Notes → id window (length ``max_len``)."""
    return triplets_to_ids(notes_to_triplets(notes, order), max_len)


def decode(ids: Sequence[int]) -> list[Note]:
    """Id window → notes."""
    return triplets_to_notes(ids_to_triplets(ids))


def text_to_ids(text: str, max_len: int = MAX_LEN) -> np.ndarray:
    return triplets_to_ids(text_to_triplets(text), max_len)


def ids_to_text(ids: Sequence[int]) -> str:
    return "|".join(f"<{p}>,<{d}>,<{r}>" for p, d, r in ids_to_triplets(ids))


def attention_mask(ids: np.ndarray) -> np.ndarray:
    """1 for real tokens, 0 for padding (``</s>`` after the last note)."""
    ids = np.asarray(ids)
    return (ids != PAD).astype(np.int64)
