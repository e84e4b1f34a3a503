"""The ``mmgen`` command: build data, extract melodies, run notebooks, generate music."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mmgen_core.audio.io import (
    SAMPLE_RATE,
    AudioError,
    save_audio,
)
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import PROFILES, load_profile, parse_override
from mmgen_core.diffusion.config import (
    MODES,
    SAMPLERS,
)
from mmgen_core.melody.extract import extract_notes
from mmgen_core.melody.notes import MelodyError, save_midi
from mmgen_core.melody.tokens import notes_to_text
from mmgen_core.notebooks import run_notebooks
from mmgen_core.pipeline.official import OfficialRelease
from mmgen_core.pipeline.pipeline import (
    AUDIO_SUFFIXES,
    CONFIG_FILE,
    MIDI_SUFFIXES,
    MMGenPipeline,
    load_melody,
)
from mmgen_core.reporting.summary import write_summary
from mmgen_core.stages import Stages


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmgen generate", description="Generate music from text (or audio), "
                                "optionally following a melody (MIDI or a recording).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="describe the music, e.g. 'a calm folk tune on flute'")
    src.add_argument("--audio", metavar="FILE", help="music → music: a recording whose style to follow")
    p.add_argument("--melody", metavar="FILE", help="melody to follow: MIDI (.mid) or a recording (.wav …, via Basic Pitch)")
    p.add_argument("--out", required=True, metavar="FILE.wav", help="where to write the audio (16 kHz wav)")
    p.add_argument("--profile", default="tiny", help="profile whose trained artifacts to use (default tiny)")
    p.add_argument("--pipeline", metavar="DIR", help="a saved pipeline folder (instead of the profile's artifacts)")
    p.add_argument("--mode", choices=MODES, help="conditioning mode (default: the profile's)")
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--candidates", type=int)
    p.add_argument("--seconds", type=float, help="length of the music (default: the training clip's); longer pieces are "
                   "denoised in windows of the training clip's length, repeating a retrieved melody")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set generation.pretrained=DIR (repeatable); DIR is a saved "
                   "pipeline or the authors' release (mmgen-diffusion-checkpoint.ckpt, mmgen-clmp.pt, melody.npy, "
                   "melody.faiss)")
    return p


def _is_utf8(text: str) -> bool:
    """Whether ``text`` is valid Unicode (an argument with bytes that are not UTF-8 arrives with lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Reject bad input before any model loads (argparse exits with code 2 and names the flag)."""
    if a.text is not None and not a.text.strip():
        p.error("--text is empty; describe the music in words")
    if a.text is not None and not _is_utf8(a.text):
        p.error("--text holds bytes that are not UTF-8 (a Latin-1 terminal or file?); pass the caption as UTF-8 text")
    for flag in ("audio", "melody"):
        path = getattr(a, flag)
        if path is not None and not Path(path).is_file():
            p.error(f"--{flag} {path}: file not found")
    if a.audio is not None and Path(a.audio).suffix.lower() not in AUDIO_SUFFIXES:
        p.error(f"--audio {a.audio}: expected an audio file ({', '.join(AUDIO_SUFFIXES)})")
    if a.melody is not None and Path(a.melody).suffix.lower() not in MIDI_SUFFIXES + AUDIO_SUFFIXES:
        p.error(f"--melody {a.melody}: expected MIDI ({', '.join(MIDI_SUFFIXES)}) or audio ({', '.join(AUDIO_SUFFIXES)})")
    if Path(a.out).suffix.lower() != ".wav":
        p.error(f"--out {a.out}: the output must be a .wav file")
    if not Path(a.out).resolve().parent.is_dir():
        p.error(f"--out {a.out}: folder {Path(a.out).resolve().parent} does not exist")
    for flag in ("steps", "candidates"):
        if getattr(a, flag) is not None and getattr(a, flag) < 1:
            p.error(f"--{flag} must be >= 1")
    if a.guidance is not None and a.guidance < 0:
        p.error("--guidance must be >= 0")
    if a.seconds is not None and a.seconds <= 0:
        p.error("--seconds must be > 0")
    if a.pipeline is not None and not (Path(a.pipeline) / CONFIG_FILE).exists():
        p.error(f"--pipeline {a.pipeline}: not a saved pipeline folder (no {CONFIG_FILE})")


def generate_main(argv: Sequence[str]) -> int:
    """``mmgen generate --text "…" [--melody F.mid | --audio F.wav] --out out.wav [...]``; exit 2 on bad input."""
    p = _parser()
    a = p.parse_args(list(argv))
    _check_args(p, a)
    try:
        melody = load_melody(a.melody) if a.melody else None
    except (MelodyError, AudioError) as exc:
        p.error(f"--melody: {exc}")
    overrides = {k: v for k, v in dict(sampler=a.sampler, steps=a.steps, guidance=a.guidance,
                                        candidates=a.candidates, seconds=a.seconds).items() if v is not None}
    try:
        mode = {"mode": a.mode} if a.mode else {}
        if a.pipeline:
            pipe = MMGenPipeline.from_pretrained(a.pipeline, **overrides, **mode)
        else:
            profile = load_profile(a.profile, _overrides(a.overrides))
            pretrained = profile.section("generation").get("pretrained")
            if pretrained and OfficialRelease.holds(pretrained):  # the authors' release, converted on the fly
                pipe = MMGenPipeline.from_official(pretrained, profile, **overrides, **mode)
            else:
                pipe = Stages(profile, train_missing=False, progress=False).pipeline(a.mode, **overrides)
        out = pipe(a.text, audio=a.audio, melody=melody, seed=a.seed)
    except (CheckpointError, AudioError, MelodyError, FileNotFoundError) as exc:
        print(f"mmgen generate: error: {exc}", file=sys.stderr)
        return 2
    save_audio(a.out, out.waveforms[0])
    used = out.melody_ids[0] or "none (mode text)"
    print(f"{a.out}: {out.waveforms.shape[1] / SAMPLE_RATE:.2f} s, mode {pipe.mode}, melody {used}")
    return 0


def _overrides(items: Sequence[str]) -> dict:
    return dict(parse_override(s) for s in items)


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="tiny", help=f"one of {PROFILES} or a YAML file (default tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set data.n_clips=100 (repeatable)")


def cmd_notebooks(args: argparse.Namespace) -> int:
    only = [s for part in args.only for s in part.split(",") if s]
    timings = run_notebooks(args.profile, _overrides(args.overrides), only=only, fresh=args.fresh or None)
    print(f"[mmgen] {len(timings)} notebooks in {sum(t for _, t in timings):.0f} s")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    path = write_summary(load_profile(args.profile, _overrides(args.overrides)).results)
    print(f"wrote {path}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    man = Stages(load_profile(args.profile, _overrides(args.overrides))).dataset
    counts = {s: len(man.items(s)) for s in ("train", "valid", "test")}
    print(f"{man.path}: {counts}, {len(man.rejects())} rejected (see {man.rejects_path.name})")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    failed = 0
    for path, notes in zip(args.audio, extract_notes(args.audio, progress=len(args.audio) > 1)):
        if isinstance(notes, Exception) or not notes:
            print(f"{path}: {notes or 'no notes found'}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{notes_to_text(notes, args.order)}")
        if args.midi_dir:
            save_midi(notes, Path(args.midi_dir) / (Path(path).stem + ".mid"))
    return 1 if failed else 0


def cmd_generate(argv: Sequence[str]) -> int:
    return generate_main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["generate"]:  # its flags are defined next to the pipeline
        return cmd_generate(argv[1:])
    parser = argparse.ArgumentParser(prog="mmgen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("notebooks", help="run the numbered notebooks headless (papermill)")
    _add_profile(p)
    p.add_argument("--only", action="append", default=[], help="notebook numbers or names, e.g. 01,02")
    p.add_argument("--fresh", action="store_true", help="clear the results folder's outputs first, as a run of every "
                   "notebook does (so the folder holds this run's work alone)")
    p.set_defaults(func=cmd_notebooks)
    p = sub.add_parser("summary", help="(re)write results/<profile>/README.md from its tables and provenance.json")
    _add_profile(p)
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("data", help="build (or resume building) the profile's dataset")
    _add_profile(p)
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("extract", help="melody tokens of audio files (Basic Pitch)")
    p.add_argument("audio", nargs="+")
    p.add_argument("--order", default="onset", choices=["onset", "official"])
    p.add_argument("--midi-dir", help="also write each melody as MIDI here")
    p.set_defaults(func=cmd_extract)
    sub.add_parser("generate", help="text (+ melody) → music; see `mmgen generate --help`")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"mmgen {args.command}: error: {exc}", file=sys.stderr)
        return 2
if __name__ == "__main__":
    raise SystemExit(main())
