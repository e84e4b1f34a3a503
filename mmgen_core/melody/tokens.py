"""Melody tokens as the official MMGen code: text form ``<G4>,<114>,<79>|…`` and two 655-id layouts.

Each note is a triplet (pitch name, duration bin, rest bin). Times are binned on a log scale over
[−0.3 s, 6.0 s] into 512 bins; rest = this onset − previous offset (negative for overlaps).

Id layouts (:data:`LAYOUTS`) share the specials ``<s> </s> <unk> , |`` = 0–4 and differ in token order and
separators: ``mmgen`` (the default) numbers tokens in numeric order and puts ``|`` after every note — only
for our own from-scratch models; ``official`` is the authors' ``only_index/re_index.json`` (tokens in string
order) with ``|`` only between notes — use it wherever ids meet the authors' data or weights."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
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
_TOKENS = (
    tuple(f"<{b}>" for b in range(N_BINS))
    + tuple(f"<{pc}{o}>" for o in OCTAVES for pc in PITCH_CLASSES)
    + SONG_TOKENS
)


@dataclass(frozen=True)
class Layout:
    """How melody tokens become ids: the vocabulary order and whether ``|`` also follows the last note."""
    name: str
    vocab: tuple[str, ...]
    bar_after_last: bool
    token_to_id: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_to_id", {t: i for i, t in enumerate(self.vocab)})


LAYOUTS = {
    "mmgen": Layout("mmgen", SPECIALS + _TOKENS, bar_after_last=True),
    "official": Layout("official", SPECIALS + tuple(sorted(_TOKENS)), bar_after_last=False),
}
DEFAULT_LAYOUT = "mmgen"
VOCAB = LAYOUTS[DEFAULT_LAYOUT].vocab
TOKEN_TO_ID = LAYOUTS[DEFAULT_LAYOUT].token_to_id
VOCAB_SIZE = len(VOCAB)  # 655
assert VOCAB_SIZE == 655 and ZERO_BIN == 79
assert all(len(lay.vocab) == VOCAB_SIZE and lay.vocab[:len(SPECIALS)] == SPECIALS for lay in LAYOUTS.values())


def get_layout(layout: str) -> Layout:
    """The id layout named ``layout``; a :class:`MelodyError` naming it and the known ones otherwise."""
    if layout not in LAYOUTS:
        raise MelodyError(f"unknown melody id layout {layout!r}; choose from {sorted(LAYOUTS)}")
    return LAYOUTS[layout]


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
    """(pitch name, duration bin, rest bin) per note, in ``order`` ('onset' or 'official').

    As in the authors' code, the ``official`` order restarts the rest with every instrument, so each
    instrument's first note has rest 0 (bin 79); ``onset`` measures every rest from the note before in time."""
    out, prev = [], None
    for n in order_notes(notes, order):
        restart = prev is None or (order == "official" and n.instrument != prev.instrument)
        rest = 0.0 if restart else n.start - prev.end
        out.append((pitch_name(n.pitch), time_to_bin(n.end - n.start), time_to_bin(rest)))
        prev = n
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


def triplets_to_text(triplets: Iterable[tuple[str, int, int]]) -> str:
    """Official text form of (pitch name, duration bin, rest bin) triplets: ``<G4>,<114>,<79>|<A4>,<119>,<81>``."""
    return "|".join(f"<{p}>,<{d}>,<{r}>" for p, d, r in triplets)


def notes_to_text(notes: Iterable[Note], order: str = "onset") -> str:
    """Official text form: ``<G4>,<114>,<79>|<A4>,<119>,<81>``."""
    return triplets_to_text(notes_to_triplets(notes, order))


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


def triplets_to_ids(triplets: Sequence[tuple[str, int, int]], max_len: int = MAX_LEN,
                    layout: str = DEFAULT_LAYOUT) -> np.ndarray:
    """``<s>`` + pitch , dur , rest per note with ``|`` as the layout puts it, cut/padded (``</s>``) to ``max_len``.

    The cut may fall inside a note, as the authors' window does; they pad with zero vectors, which our
    melody towers give to the ``</s>`` padding id."""
    lay = get_layout(layout)
    ids = [BOS]
    for i, (name, dur, rest) in enumerate(triplets):
        if i and not lay.bar_after_last:
            ids.append(BAR)
        ids += [lay.token_to_id.get(f"<{name}>", UNK), COMMA, lay.token_to_id[f"<{dur}>"], COMMA,
                lay.token_to_id[f"<{rest}>"]]
        if lay.bar_after_last:
            ids.append(BAR)
    ids = ids[:max_len]
    return np.array(ids + [PAD] * (max_len - len(ids)), dtype=np.int64)


def ids_to_triplets(ids: Sequence[int], layout: str = DEFAULT_LAYOUT) -> list[tuple[str, int, int]]:
    """Inverse of :func:`triplets_to_ids` (stops at padding; drops a truncated last note)."""
    lay = get_layout(layout)
    ids = list(np.asarray(ids).tolist())
    if ids and ids[0] == BOS:
        ids = ids[1:]
    need = IDS_PER_NOTE if lay.bar_after_last else IDS_PER_NOTE - 1  # official: no ``|`` after the last note
    out = []
    for k in range(0, len(ids) - need + 1, IDS_PER_NOTE):
        p, c1, d, c2, r = (lay.vocab[i] for i in ids[k:k + IDS_PER_NOTE - 1])
        if p in SPECIALS or c1 != "," or c2 != ",":
            break
        out.append((p[1:-1], int(d[1:-1]), int(r[1:-1])))
    return out


def encode(notes: Iterable[Note], order: str = "onset", max_len: int = MAX_LEN,
           layout: str = DEFAULT_LAYOUT) -> np.ndarray:
    """Notes → id window (length ``max_len``) in ``layout``."""
    return triplets_to_ids(notes_to_triplets(notes, order), max_len, layout)


def decode(ids: Sequence[int], layout: str = DEFAULT_LAYOUT) -> list[Note]:
    """Id window in ``layout`` → notes."""
    return triplets_to_notes(ids_to_triplets(ids, layout))


def text_to_ids(text: str, max_len: int = MAX_LEN, layout: str = DEFAULT_LAYOUT) -> np.ndarray:
    """Official text form → id window in ``layout``."""
    return triplets_to_ids(text_to_triplets(text), max_len, layout)


def ids_to_text(ids: Sequence[int], layout: str = DEFAULT_LAYOUT) -> str:
    """Id window in ``layout`` → official text form."""
    return "|".join(f"<{p}>,<{d}>,<{r}>" for p, d, r in ids_to_triplets(ids, layout))


def attention_mask(ids: np.ndarray, layout: str = DEFAULT_LAYOUT) -> np.ndarray:
    """1 for real tokens, 0 for padding (``</s>`` after the last note, the same id in every layout)."""
    get_layout(layout)
    ids = np.asarray(ids)
    return (ids != PAD).astype(np.int64)
