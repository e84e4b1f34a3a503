"""Render notes to audio with FluidSynth and a General MIDI soundfont (Debian's packages).

One synthesizer per process, soundfont loaded once. Zero-length notes are dropped and every render
is bounded to the requested length, since a stuck voice can make FluidSynth render forever."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mmgen_core.audio.io import SAMPLE_RATE
from mmgen_core.melody.notes import Note

# Debian's soundfont packages install here (fluid-soundfont-gm, timgm6mb-soundfont).
SOUNDFONT_CANDIDATES = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
                        "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2")


def find_soundfont(name: str = "auto") -> Path:
    """``auto``: ``$MMGEN_SOUNDFONT`` or the best installed GM soundfont; else the given path."""
    if name != "auto":
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"soundfont {path} not found")
        return path
    for cand in ([os.environ["MMGEN_SOUNDFONT"]] if os.environ.get("MMGEN_SOUNDFONT") else []) + list(SOUNDFONT_CANDIDATES):
        if Path(cand).exists():
            return Path(cand)
    raise FileNotFoundError("no General MIDI soundfont found: `apt-get install fluidsynth timgm6mb-soundfont` "
                            "(make install does this) or set MMGEN_SOUNDFONT=/path/to/file.sf2")


@dataclass(frozen=True)
class Track:
    """Notes played by one General MIDI program at one velocity."""
    program: int
    notes: tuple[Note, ...]
    velocity: int = 90


class Renderer:
    """A FluidSynth synthesizer with a soundfont loaded once.

    A fresh renderer is bit-exact for the same input; later renders of a reused one may differ by
    FluidSynth's 64-sample block phase (below −60 dB), which only matters when a build is resumed."""

    def __init__(self, soundfont: str = "auto", sample_rate: int = SAMPLE_RATE, gain: float = 0.4):
        import fluidsynth

        self.sample_rate = sample_rate
        self.synth = fluidsynth.Synth(samplerate=float(sample_rate), gain=gain)
        self.sfid = self.synth.sfload(str(find_soundfont(soundfont)))
        if self.sfid < 0:
            raise RuntimeError(f"FluidSynth could not load soundfont {find_soundfont(soundfont)}")

    def _samples(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, np.float32)
        st = np.asarray(self.synth.get_samples(n), dtype=np.float32).reshape(-1, 2)
        return st.mean(axis=1) / 32768.0

    def render(self, tracks: Sequence[Track], seconds: float) -> np.ndarray:
        """Mono float32 audio of exactly ``seconds``; notes past the end are cut off."""
        channels = [c for c in range(16) if c != 9][:len(tracks)]  # channel 10 is drums in GM
        if len(tracks) > len(channels):
            raise ValueError(f"at most {len(channels)} tracks per render")
        events = []
        for ch, tr in zip(channels, tracks):
            self.synth.program_select(ch, self.sfid, 0, int(tr.program))
            for n in tr.notes:
                if n.end - n.start <= 1e-3 or n.start >= seconds:
                    continue
                events.append((n.start, 1, ch, n.pitch, tr.velocity))
                events.append((min(n.end, seconds), 0, ch, n.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same instant
        total = int(round(seconds * self.sample_rate))
        out, pos = [], 0
        for t, on, ch, pitch, vel in events:
            at = min(total, int(round(t * self.sample_rate)))
            out.append(self._samples(at - pos))
            pos = max(pos, at)
            if on:
                self.synth.noteon(ch, pitch, vel)
            else:
                self.synth.noteoff(ch, pitch)
        out.append(self._samples(total - pos))
        for ch in channels:  # silence everything, then flush the tails so the next clip starts clean
            self.synth.cc(ch, 120, 0)
        self._samples(self.sample_rate // 2)
        return np.concatenate(out)[:total].astype(np.float32)
