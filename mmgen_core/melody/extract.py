"""Melody extraction with Basic Pitch's ONNX model (shipped in the ``basic-pitch`` wheel).

We run the ONNX graph ourselves with onnxruntime so the model loads once, windows of many clips go
through in batches, and in-memory waveforms work without temp files. Note decoding is Basic Pitch's."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from mmgen_core.audio.io import SAMPLE_RATE, AudioError, load_audio
from mmgen_core.melody.notes import Note


def _quiet_import():
    """Import basic_pitch without its warnings about the back ends we deliberately don't install."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # resampy (a basic-pitch dependency) imports pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            import basic_pitch
            from basic_pitch import constants, note_creation
    finally:
        logging.getLogger().setLevel(level)
    return basic_pitch, constants, note_creation


@dataclass(frozen=True)
class ExtractConfig:
    """Basic Pitch's note-decoding thresholds (its own defaults)."""
    onset_threshold: float = 0.5
    frame_threshold: float = 0.3
    min_note_ms: float = 127.7
    melodia_trick: bool = True
    batch_windows: int = 32


class MelodyExtractor:
    """Audio → notes. Load once, call on many clips."""
    def __init__(self, config: ExtractConfig = ExtractConfig(), model_path: str | Path | None = None,
                 threads: int | None = None):
        import onnxruntime as ort

        basic_pitch, self._c, self._nc = _quiet_import()
        path = Path(model_path) if model_path else Path(basic_pitch.__file__).parent / "saved_models/icassp_2022/nmp.onnx"
        if not path.exists():
            raise FileNotFoundError(f"{path}: Basic Pitch ONNX model not found; reinstall basic-pitch (--no-deps)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.config = config
        c = self._c
        self.n_overlap = 30
        self.overlap_len = self.n_overlap * c.FFT_HOP
        self.hop = c.AUDIO_N_SAMPLES - self.overlap_len

    def _windows(self, wav22: np.ndarray) -> np.ndarray:
        c = self._c
        x = np.concatenate([np.zeros(self.overlap_len // 2, np.float32), wav22.astype(np.float32)])
        starts = range(0, len(x), self.hop)
        out = np.zeros((len(starts), c.AUDIO_N_SAMPLES, 1), np.float32)
        for i, s in enumerate(starts):
            w = x[s:s + c.AUDIO_N_SAMPLES]
            out[i, :len(w), 0] = w
        return out

    def _run(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        names = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0"]
        outs = [[], [], []]
        for i in range(0, len(windows), self.config.batch_windows):
            for k, v in enumerate(self.session.run(names, {"serving_default_input_2:0": windows[i:i + self.config.batch_windows]})):
                outs[k].append(v)
        return {k: np.concatenate(v) for k, v in zip(("note", "onset", "contour"), outs)}

    def model_output(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[dict[str, np.ndarray]]:
        """Basic Pitch posteriorgrams (note, onset, contour) per waveform, windows batched across clips."""
        import librosa

        c = self._c
        wav22 = [librosa.resample(np.asarray(w, np.float32), orig_sr=sample_rate, target_sr=c.AUDIO_SAMPLE_RATE)
                 for w in wavs]
        wins = [self._windows(w) for w in wav22]
        out = self._run(np.concatenate(wins))
        results, at = [], 0
        n_olap = self.n_overlap // 2
        for w, win in zip(wav22, wins):
            n = len(win)
            n_frames = int(np.floor(len(w) * c.ANNOTATIONS_FPS / c.AUDIO_SAMPLE_RATE))
            res = {}
            for k, v in out.items():
                v = v[at:at + n, n_olap:-n_olap, :]
                res[k] = v.reshape(-1, v.shape[-1])[:n_frames]
            results.append(res)
            at += n
        return results

    def notes(self, wavs: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[list[Note]]:
        """Notes (pitch, start, end) per waveform."""
        c, cfg = self._c, self.config
        min_len = int(np.round(cfg.min_note_ms / 1000 * (c.AUDIO_SAMPLE_RATE / c.FFT_HOP)))
        out = []
        for res in self.model_output(wavs, sample_rate):
            _, events = self._nc.model_output_to_notes(
                res, onset_thresh=cfg.onset_threshold, frame_thresh=cfg.frame_threshold,
                min_note_len=min_len, melodia_trick=cfg.melodia_trick, include_pitch_bends=False)
            notes = sorted((Note(int(p), float(s), float(e)) for s, e, p, *_ in events), key=lambda n: (n.start, n.pitch))
            out.append(notes)
        return out

    def extract_files(self, paths: Sequence[str | Path], batch: int = 16,
                      progress: bool = True) -> list[list[Note] | AudioError]:
        """Notes for many files; a bad file yields its :class:`AudioError` instead of stopping the batch."""
        results: list[list[Note] | AudioError] = []
        for i in tqdm(range(0, len(paths), batch), desc="Basic Pitch", disable=not progress, unit="batch"):
            wavs, slots = [], []
            for p in paths[i:i + batch]:
                try:
                    wavs.append(load_audio(p))
                    slots.append(None)
                except AudioError as exc:
                    slots.append(exc)
            found = iter(self.notes(wavs)) if wavs else iter(())
            results += [next(found) if s is None else s for s in slots]
        return results


@lru_cache(maxsize=1)
def default_extractor() -> MelodyExtractor:
    """A process-wide extractor, so the model is loaded once."""
    return MelodyExtractor()


def extract_notes(paths: Sequence[str | Path], progress: bool = True) -> list[list[Note] | AudioError]:
    """Convenience: notes of many audio files with the shared extractor."""
    return default_extractor().extract_files(list(paths), progress=progress)
