"""The ``mmgen`` command: build data, extract melodies, run notebooks, generate music."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mmgen_core.config import PROFILES, load_profile, parse_override
from mmgen_core.data.stage import get_dataset
from mmgen_core.melody.extract import extract_notes
from mmgen_core.melody.notes import save_midi
from mmgen_core.melody.tokens import notes_to_text
from mmgen_core.notebooks import run_notebooks
from mmgen_core.pipeline.generate import generate_main


def _overrides(items: Sequence[str]) -> dict:
    return dict(parse_override(s) for s in items)


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="tiny", help=f"one of {PROFILES} or a YAML file (default tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set data.n_clips=100 (repeatable)")


def cmd_notebooks(args: argparse.Namespace) -> int:

    only = [s for part in args.only for s in part.split(",") if s]
    timings = run_notebooks(args.profile, _overrides(args.overrides), only=only)
    print(f"[mmgen] {len(timings)} notebooks in {sum(t for _, t in timings):.0f} s")
    return 0


def cmd_data(args: argparse.Namespace) -> int:

    man = get_dataset(load_profile(args.profile, _overrides(args.overrides)))
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
    p.set_defaults(func=cmd_notebooks)
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
