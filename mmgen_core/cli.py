"""The ``mmgen`` command: build data, extract melodies, run notebooks, generate music."""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

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
from mmgen_core.evaluation.evaluate import EvaluationConfig
from mmgen_core.melody.extract import extract_notes
from mmgen_core.melody.notes import MelodyError, save_midi
from mmgen_core.melody.tokens import notes_to_text
from mmgen_core.notebooks import run_notebooks
from mmgen_core.pipeline.pipeline import (
    AUDIO_SUFFIXES,
    CONFIG_FILE,
    MIDI_SUFFIXES,
    MMGenPipeline,
    load_melody,
)
from mmgen_core.reporting import save_table
from mmgen_core.reporting.summary import write_summary
from mmgen_core.reproduction import ClaimsConfig, ResultsConfig, summarize, table1_runs
from mmgen_core.stages import Stages


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmgen generate", description="Generate music from text (or audio), "
                                "optionally following a melody (MIDI or a recording).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="describe the music, e.g. 'a calm folk tune on flute'")
    src.add_argument("--audio", metavar="FILE", help="music → music: a recording whose style to follow")
    src.add_argument("--prompts", metavar="FILE", help="one caption per line (.txt), or a CSV with a 'caption' column: "
                     "one clip per caption")
    p.add_argument("--melody", metavar="FILE", help="melody to follow: MIDI (.mid) or a recording (.wav …, via Basic Pitch)")
    p.add_argument("--melody-track", type=int, metavar="N", help="follow track N of the --melody MIDI file only (0 = its "
                   "first; a wrong N lists the tracks)")
    p.add_argument("--melody-start", type=float, default=0.0, metavar="S", help="follow the --melody from S seconds in")
    p.add_argument("--save-melody", metavar="OUT.mid", help="also write the melody each clip followed, as MIDI")
    p.add_argument("--out", required=True, metavar="FILE.wav", help="where to write the audio (16 kHz wav); several "
                   "clips (--prompts, --n) are numbered FILE_<prompt>_<variation>.wav")
    p.add_argument("--n", type=int, default=1, metavar="K", help="K variations per caption (seeds seed … seed+K-1)")
    p.add_argument("--device", help="cpu, cuda or cuda:i (default: the profile's compute.device: a GPU if there is one)")
    p.add_argument("--profile", default="tiny", help="profile whose trained artifacts to use (default tiny)")
    p.add_argument("--pipeline", metavar="DIR", help="a saved pipeline folder (instead of the profile's artifacts)")
    p.add_argument("--mode", choices=MODES, help="conditioning mode (default: the profile's)")
    p.add_argument("--sampler", choices=SAMPLERS)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--candidates", type=int)
    p.add_argument("--seconds", type=float, help="length of the music (default: the --melody's length, else the "
                   "training clip's); longer pieces are denoised in windows of the training clip's length, repeating a "
                   "retrieved melody")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set generation.pretrained=DIR (repeatable); DIR is a saved "
                   "pipeline or the authors' release (mg2-diffusion-checkpoint.ckpt, mg2-clmp.pt, melody.npy, "
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
    for flag in ("audio", "melody", "prompts"):
        path = getattr(a, flag)
        if path is not None and not Path(path).is_file():
            p.error(f"--{flag} {path}: file not found")
    if a.melody is None and (a.melody_track is not None or a.melody_start):
        p.error("--melody-track and --melody-start pick from a --melody file; give one")
    if a.melody_start < 0:
        p.error("--melody-start must be >= 0")
    if a.n < 1:
        p.error("--n must be >= 1")
    if a.save_melody is not None and Path(a.save_melody).suffix.lower() not in MIDI_SUFFIXES:
        p.error(f"--save-melody {a.save_melody}: the melody is written as MIDI ({', '.join(MIDI_SUFFIXES)})")
    if a.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", a.device):
        p.error(f"--device {a.device}: use cpu, cuda or cuda:i")
    if a.device is not None and a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {a.device}: torch sees no CUDA GPU on this machine; use --device cpu")
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


def read_prompts(path: str | Path) -> list[str]:
    """Captions of a prompts file: one per non-empty line (.txt), or the ``caption`` (else first) column of a CSV.
    Raises ValueError naming the file and line for bytes that are not UTF-8, an empty caption or no caption."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: bytes that are not UTF-8 (a Latin-1 file?); save it as UTF-8") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise ValueError(f"{path}: no rows; give a header and one caption per row")
        col = rows[0].index("caption") if "caption" in rows[0] else 0
        prompts = [(i + 2, r[col].strip() if len(r) > col else "") for i, r in enumerate(rows[1:]) if any(r)]
        empty = [i for i, c in prompts if not c]
        if empty:
            raise ValueError(f"{path}, line {empty[0]}: empty caption in column {rows[0][col]!r}")
        prompts = [c for _, c in prompts]
    else:
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"{path}: no captions; write one per line (or a CSV with a 'caption' column)")
    return prompts


def output_paths(out: str | Path, prompts: int, variations: int) -> list[list[Path]]:
    """Where each (prompt, variation) clip goes: ``out`` itself for one clip, else ``<stem>_<prompt>_<variation>``
    (the prompt number left out for one prompt), with ``out``'s suffix."""
    out = Path(out)
    if prompts == 1 and variations == 1:
        return [[out]]
    name = (lambda i, v: f"{out.stem}_{v}") if prompts == 1 else (lambda i, v: f"{out.stem}_{i:03d}_{v}")
    return [[out.with_name(name(i, v) + out.suffix) for v in range(variations)] for i in range(prompts)]


def generate_main(argv: Sequence[str]) -> int:
    """``mmgen generate --text "…" [--melody F.mid | --audio F.wav] --out out.wav [...]``; exit 2 on bad input."""
    p = _parser()
    a = p.parse_args(list(argv))
    _check_args(p, a)
    try:
        prompts = read_prompts(a.prompts) if a.prompts else [a.text] if a.text is not None else None
    except ValueError as exc:
        p.error(f"--prompts: {exc}")
    try:
        melody = load_melody(a.melody, track=a.melody_track, start=a.melody_start) if a.melody else None
    except (MelodyError, AudioError) as exc:
        p.error(f"--melody: {exc}")
    seconds, cut = a.seconds, ""
    if melody is not None:
        length = max(n.end for n in melody)
        if seconds is None:
            seconds = length  # the music lasts as long as the melody it follows
        elif length > seconds + 1e-6:
            cut = f"; the melody was cut to its first {seconds:g} s of {length:.2f} s (--seconds)"
    overrides = {k: v for k, v in dict(sampler=a.sampler, steps=a.steps, guidance=a.guidance,
                                        candidates=a.candidates, seconds=seconds).items() if v is not None}
    try:
        mode = {"mode": a.mode} if a.mode else {}
        settings = _overrides(a.overrides) | ({"compute.device": a.device} if a.device else {})
        if a.pipeline:
            pipe = MMGenPipeline.from_pretrained(a.pipeline, **overrides, **mode)
            if a.device:
                pipe.to(a.device)
        else:  # the profile's trained stages, or its generation.pretrained (a saved pipeline, the authors' release)
            pipe = Stages(load_profile(a.profile, settings), train_missing=False, progress=False).pipeline(a.mode,
                                                                                                        **overrides)
        if a.save_melody and pipe.mode == "text":
            p.error("--save-melody: mode text follows no melody (choose --mode mmgen or mmgen+roll)")
        outs = [pipe(prompts, audio=a.audio, melody=melody, seed=a.seed + v) for v in range(a.n)]
    except (CheckpointError, AudioError, MelodyError, FileNotFoundError) as exc:
        print(f"mmgen generate: error: {exc}", file=sys.stderr)
        return 2
    paths = output_paths(a.out, len(outs[0].waveforms), a.n)
    midis = output_paths(a.save_melody, len(outs[0].waveforms), a.n) if a.save_melody else None
    for v, out in enumerate(outs):
        for i, wav in enumerate(out.waveforms):
            save_audio(paths[i][v], wav)
            if midis:
                save_midi(out.melodies[i], midis[i][v])
            used = out.melody_ids[i] or "none (mode text)"
            print(f"{paths[i][v]}: {len(wav) / SAMPLE_RATE:.2f} s, mode {pipe.mode}, melody {used}"
                  + (f" → {midis[i][v]}" if midis else "") + cut)
    return 0


def _overrides(items: Sequence[str], run: str | None = None) -> dict:
    """The ``--set`` overrides; ``run`` puts the results under ``results/<profile>/<run>/`` (before any
    ``output.folder``, e.g. ``<run>/evidence``)."""
    out = dict(parse_override(s) for s in items)
    if run:
        out["output.folder"] = "/".join(filter(None, [run, str(out.get("output.folder") or "")]))
    return out


def _listed(values: Sequence[str]) -> list[str]:
    """Values of a repeatable, comma-separated flag (``--only 01,02 --only 05``), in order."""
    return [x.strip() for part in values for x in part.split(",") if x.strip()]


def _run_name(text: str) -> str:
    """A ``--run`` name: one folder name of letters, digits, ``.``, ``_`` and ``-``."""
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run name: use one folder name of letters, digits, "
                                         "'.', '_' and '-' (e.g. mel_roll)")
    return text


def _add_profile(p: argparse.ArgumentParser, run: bool = False) -> None:
    p.add_argument("--profile", default="tiny", help=f"one of {PROFILES} or a YAML file (default tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set data.n_clips=100 (repeatable)")
    if run:
        p.add_argument("--run", type=_run_name, metavar="NAME",
                       help="keep this run's results apart, in results/<profile>/NAME/ (artifacts are shared by "
                            "config, and the run's overrides are recorded in its provenance.json)")


def cmd_notebooks(args: argparse.Namespace) -> int:
    only = _listed(args.only)
    timings = run_notebooks(args.profile, _overrides(args.overrides, args.run), only=only, fresh=args.fresh or None)
    print(f"[mmgen] {len(timings)} notebooks in {sum(t for _, t in timings):.0f} s")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    path = write_summary(load_profile(args.profile, _overrides(args.overrides, args.run)).results)
    print(f"wrote {path}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    man = Stages(load_profile(args.profile, _overrides(args.overrides))).dataset
    counts = {s: len(man.items(s)) for s in ("train", "valid", "test")}
    print(f"{man.path}: {counts}, {len(man.rejects())} rejected (see {man.rejects_path.name})")
    return 0


TRAIN_STAGES = ("data", "alignment", "decoder", "database", "conditions", "unet")


def cmd_train(args: argparse.Namespace) -> int:
    """Build (or load, when its config is unchanged) one stage and what it reads, printing where it lies."""
    profile = load_profile(args.profile, _overrides(args.overrides))
    stages = Stages(profile)
    t0 = time.time()
    if args.stage == "data":
        built = stages.dataset.root
    elif args.stage == "alignment":
        built = stages.alignment(args.variant or "trimodal", seed=args.seed).folder
    elif args.stage == "decoder":
        built = profile.artifacts / stages.decoder_report.folder
    elif args.stage == "database":
        built = stages.database.folder
    elif args.stage == "conditions":
        c = stages.conditions
        built = f"{len(c.item)} (query, melody) rows of {len(c.latents)} training clips"
    else:
        st = stages.with_unet_seed(args.seed) if args.seed is not None else stages
        mode = args.mode or stages.generation_config.mode
        st.unet(mode)
        built = st.unet_folder(mode).path
    print(f"[mmgen] {args.stage}: {built} ({time.time() - t0:.0f} s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """A self-contained pipeline folder (``save_pretrained``) from the profile's trained stages, building nothing."""
    profile = load_profile(args.profile, _overrides(args.overrides))
    out = Path(args.folder)
    if out.exists() and any(out.iterdir()):
        print(f"mmgen export: error: {out} exists and is not empty; name a new folder", file=sys.stderr)
        return 2
    try:
        pipe = Stages(profile, train_missing=False, progress=False).pipeline(args.mode)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"mmgen export: error: {exc}", file=sys.stderr)
        return 2
    pipe.save_pretrained(out)
    print(f"[mmgen] {out}: mode {pipe.mode}; load it with `mmgen generate --pipeline {out}` or "
          "MMGenPipeline.from_pretrained")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Table 1 for the profile's systems (``results`` section; ``--systems`` a part of them), every set measured
    through the harness (cached); printed, and kept in results/<profile>/<run>/tables/ with ``--run``."""
    profile = load_profile(args.profile, _overrides(args.overrides, args.run))
    cfg = profile.section("results", ResultsConfig)
    systems = _listed(args.systems) or None
    try:
        run = table1_runs(Stages(profile, train_missing=not args.no_train), cfg,
                          profile.section("evaluation", EvaluationConfig),
                          profile.section("claims", ClaimsConfig).margin_rule(), systems)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"mmgen evaluate: error: {exc}", file=sys.stderr)
        return 2
    table = summarize(run)
    print(table.to_markdown(index=False))
    if args.run:
        save_table(table, profile.results, "table1", note=f"`mmgen evaluate`, {cfg.label()} sampling, UNet training "
                                                          f"seeds {run.unet_seeds}, sampling seeds {cfg.seeds}.")
        print(f"[mmgen] {profile.results / 'tables' / 'table1.md'}")
    else:
        print("[mmgen] not kept: --run NAME writes it to results/<profile>/NAME/tables/")
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
    parser = argparse.ArgumentParser(prog="mmgen", description="mmgen: build a dataset, extract melodies, run the "
                                     "notebooks headless and generate music (mmgen generate --help).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("notebooks", help="run the numbered notebooks headless (papermill)")
    _add_profile(p, run=True)
    p.add_argument("--only", action="append", default=[], help="notebook numbers or names, e.g. 01,02")
    p.add_argument("--fresh", action="store_true", help="clear the results folder's outputs first, as a run of every "
                   "notebook does (so the folder holds this run's work alone)")
    p.set_defaults(func=cmd_notebooks)
    p = sub.add_parser("summary", help="(re)write results/<profile>/README.md from its tables and provenance.json")
    _add_profile(p, run=True)
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("data", help="build (or resume building) the profile's dataset")
    _add_profile(p)
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("train", help="build one stage of the profile (and what it reads), or load it when built")
    p.add_argument("stage", choices=TRAIN_STAGES)
    _add_profile(p)
    p.add_argument("--mode", choices=MODES, help="unet: the conditioning mode (default: the profile's)")
    p.add_argument("--variant", help="alignment: the aligner variant (default trimodal; e.g. bimodal)")
    p.add_argument("--seed", type=int, help="alignment/unet: another training seed (default: the profile's)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("export", help="write the profile's trained pipeline to a folder (save_pretrained)")
    p.add_argument("folder")
    _add_profile(p)
    p.add_argument("--mode", choices=MODES, help="conditioning mode (default: the profile's)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("evaluate", help="Table 1 for the profile's systems, measured by the evaluation harness")
    _add_profile(p, run=True)
    p.add_argument("--systems", action="append", default=[], help="a part of Table 1's systems, by name, e.g. "
                   "'text only (AudioLDM-style),MMGen' (default: the profile's results.oracle decides)")
    p.add_argument("--no-train", action="store_true", help="fail naming what to build instead of training a missing "
                   "stage")
    p.set_defaults(func=cmd_evaluate)
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
