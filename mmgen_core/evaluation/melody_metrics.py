"""Melody adherence: chroma similarity and pitch-class agreement of audio with notes; Basic Pitch against scores."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmgen_core.audio.io import SAMPLE_RATE, load_audio
from mmgen_core.melody.extract import default_extractor
from mmgen_core.melody.notes import Note, chroma_roll, load_midi, note_f1, note_scores
from mmgen_core.melody.tokens import text_to_notes


def chroma_similarity(wav: np.ndarray, notes: Sequence[Note], sample_rate: int = SAMPLE_RATE,
                      n_fft: int = 4096, hop_length: int = 512, quantise: bool = True,
                      silence_db: float = -50.0) -> float:
    """How well audio follows a melody (MusicGen's chroma cosine similarity, against notes).

    The audio's STFT chroma (one-hot argmax per frame if ``quantise``, as MusicGen) is compared by
    cosine with the melody's chroma roll, averaged over the frames where the melody sounds. Frames
    quieter than ``silence_db`` below the loudest count as empty chroma (similarity 0).
    """
    import librosa

    y = np.asarray(wav, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"wav: expected a non-empty finite mono waveform, got shape {y.shape}")
    if not notes:
        raise ValueError("notes: empty melody")
    chroma = librosa.feature.chroma_stft(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, tuning=0.0)
    if quantise:
        chroma = np.eye(12, dtype=np.float32)[chroma.argmax(axis=0)].T
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)[0]
    chroma = chroma * (rms > rms.max() * 10 ** (silence_db / 20))
    roll = chroma_roll(notes, chroma.shape[1], sample_rate / hop_length)
    active = roll.sum(axis=0) > 0
    if not active.any():
        raise ValueError("notes: no note falls inside the audio")
    a, m = chroma[:, active], roll[:, active]
    cos = (a * m).sum(axis=0) / np.maximum(np.linalg.norm(a, axis=0) * np.linalg.norm(m, axis=0), 1e-12)
    return float(cos.mean())


def pitch_class_profile(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 4096, hop_length: int = 512,
                        silence_db: float = -50.0) -> np.ndarray:
    """The audio's pitch-class profile (12,): its STFT chroma averaged over the frames louder than ``silence_db``
    below the loudest, summing to 1 (uniform for silence). Time-free: what a key or a pitch set leaves in audio."""
    import librosa

    y = np.asarray(wav, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"wav: expected a non-empty finite mono waveform, got shape {y.shape}")
    chroma = librosa.feature.chroma_stft(y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, tuning=0.0)
    rms = librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length)[0]
    loud = rms > rms.max() * 10 ** (silence_db / 20) if rms.max() > 0 else np.zeros_like(rms, dtype=bool)
    profile = chroma[:, loud[:chroma.shape[1]]].sum(1)
    return profile / profile.sum() if profile.sum() > 0 else np.full(12, 1 / 12)


def melody_profile(notes: Sequence[Note]) -> np.ndarray:
    """A melody's pitch-class profile (12,): each pitch class's share of the sounding note time."""
    if not notes:
        raise ValueError("notes: empty melody")
    profile = np.zeros(12)
    for n in notes:
        profile[n.pitch % 12] += max(n.end - n.start, 0.0)
    return profile / profile.sum() if profile.sum() > 0 else np.full(12, 1 / 12)


def pitch_class_agreement(wav: np.ndarray, notes: Sequence[Note], sample_rate: int = SAMPLE_RATE) -> float:
    """How well audio keeps a melody's pitch classes, whenever they sound: Pearson correlation of the audio's and
    the melody's pitch-class profiles (1: the same pitch set in the same proportions; about 0: unrelated; −1:
    opposite). The time-free counterpart of :func:`chroma_similarity` (docs/method.md §2.9)."""
    a, m = pitch_class_profile(wav, sample_rate), melody_profile(notes)
    if a.std() == 0 or m.std() == 0:
        return 0.0
    return float(np.corrcoef(a, m)[0, 1])


def extraction_scores(manifest, items=None, batch: int = 32, progress: bool = True) -> "pd.DataFrame":
    """Basic Pitch vs the score, per clip with a ground-truth MIDI: note F1 onset-only and with
    offsets against all rendered notes, F1 after the token round trip, and recall of the melody voice.
    ``df.attrs["realtime_factor"]`` holds the measured extraction speed (audio seconds per second)."""


    items = [it for it in (items if items is not None else manifest.items()) if it.meta.get("score_midi")]
    rows, audio_s, busy_s = [], 0.0, 0.0
    for i in tqdm(range(0, len(items), batch), desc="Basic Pitch vs score", disable=not progress):
        chunk = items[i:i + batch]
        wavs = [load_audio(manifest.audio_path(it)) for it in chunk]
        t0 = time.perf_counter()
        found = default_extractor().notes(wavs)
        busy_s += time.perf_counter() - t0
        audio_s += sum(len(w) for w in wavs) / SAMPLE_RATE
        for it, est in zip(chunk, found):
            ref = load_midi(manifest.root / it.meta["score_midi"])
            rows.append({"id": it.id, "n_parts": it.meta.get("n_parts", 1), "ref_notes": len(ref),
                         "f1_onset": note_f1(ref, est), "f1_offset": note_f1(ref, est, offsets=True),
                         "f1_onset_tokens": note_f1(ref, text_to_notes(it.melody)) if it.melody else 0.0,
                         "melody_recall": note_scores([n for n in ref if n.instrument == 0], est)[1]})
    df = pd.DataFrame(rows)
    df.attrs["realtime_factor"] = audio_s / busy_s if busy_s else float("nan")
    return df
