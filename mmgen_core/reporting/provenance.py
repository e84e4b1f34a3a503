"""Where a result came from: the commit, profile, overrides and machine of the run that wrote it.

``results/<profile>[/<folder>]/provenance.json`` records each run of the notebooks into that folder and, for
every table, figure and audio file there, the notebook (and so the run) that wrote it; every executed notebook
carries the same record in its metadata (``metadata.mmgen``). :func:`check_executed` is the check that an executed
notebook still matches its source and shows the figures it draws.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

PROVENANCE_FILE = "provenance.json"
OUTPUT_DIRS = ("tables", "figures", "audio")  # what notebooks write into a results folder (besides pages)
PAGES = ("listen.md", "listen.html")
DRAW_CALLS = ("plt.show(", "display(fig")  # a code cell with one of these draws a figure into the notebook


def git_commit(root: str | Path) -> str:
    """The checked-out commit (12 hex digits), ``+changes`` when tracked files outside ``results/`` differ from it;
    ``unknown`` outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


def _cpu_model() -> tuple[str, set[str]]:
    """The CPU's model name and flags (Linux ``/proc/cpuinfo``; elsewhere ``platform.processor()``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return fields.get("model name", platform.machine()), set(fields.get("flags", "").split())


def machine_info() -> dict[str, Any]:
    """The machine a run used, in the words a reader compares runs by: CPU, cores, bf16 support, GPU, versions."""
    import torch

    model, flags = _cpu_model()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": model, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
            "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__,
            "os": f"{platform.system()} {platform.release()}"}


def machine_words(machine: Mapping[str, Any]) -> str:
    """One line, e.g. ``2 cores of AMD EPYC 9R14 (AVX-512 BF16), no GPU; torch 2.13.0``."""
    if not machine:
        return "not recorded"
    bf16 = "AVX-512 BF16" if machine.get("avx512_bf16") else "no AVX-512 BF16: fp32"
    return (f"{machine.get('cores')} cores of {machine.get('cpu')} ({bf16}), {machine.get('gpu') or 'no GPU'}; "
            f"torch {machine.get('torch')}, Python {machine.get('python')}")


def new_run(profile: str, overrides: Mapping[str, Any], root: str | Path, command: str) -> dict[str, Any]:
    """The record of a run that starts now."""
    return {"command": command, "profile": profile, "overrides": dict(overrides), "commit": git_commit(root),
            "machine": machine_info(), "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def load(results_dir: str | Path) -> dict[str, Any]:
    """The folder's provenance (empty record when there is none)."""
    path = Path(results_dir) / PROVENANCE_FILE
    if not path.exists():
        return {"runs": [], "notebooks": {}, "files": {}}
    return json.loads(path.read_text())


def start(results_dir: str | Path, run: Mapping[str, Any], fresh: bool) -> int:
    """Add ``run`` to the folder's provenance (a ``fresh`` run first removes every output of earlier runs, so the
    folder holds one run's work); returns the run's index."""
    results_dir = Path(results_dir)
    if fresh:
        clear_outputs(results_dir)
    record = load(results_dir)
    record["runs"].append(dict(run))
    _save(results_dir, record)
    return len(record["runs"]) - 1


def clear_outputs(results_dir: str | Path) -> None:
    """Remove what notebook runs wrote here (tables, figures, audio, executed notebooks, pages, provenance, summary);
    subfolders of other runs (``evidence/``, ``bench/``, ``quality/``) stay."""
    import shutil

    results_dir = Path(results_dir)
    for name in (*OUTPUT_DIRS, "notebooks"):
        shutil.rmtree(results_dir / name, ignore_errors=True)
    for name in (*PAGES, PROVENANCE_FILE, "README.md"):
        (results_dir / name).unlink(missing_ok=True)


def outputs(results_dir: str | Path, since: float = 0.0) -> list[str]:
    """Output files of the folder (relative paths) modified at or after ``since`` (a ``time.time()``)."""
    results_dir = Path(results_dir)
    found = [p for d in OUTPUT_DIRS for p in (results_dir / d).rglob("*") if p.is_file()]
    found += [results_dir / n for n in PAGES if (results_dir / n).is_file()]
    return sorted(p.relative_to(results_dir).as_posix() for p in found if p.stat().st_mtime >= since - 1e-3)


def finish_notebook(results_dir: str | Path, run_index: int, notebook: Path, seconds: float,
                    written: Iterable[str]) -> None:
    """Record that ``notebook`` (executed copy under ``notebooks/``) ran in run ``run_index`` for ``seconds`` and
    wrote ``written``; stamp the executed copy's metadata with the run."""
    results_dir = Path(results_dir)
    record = load(results_dir)
    record["notebooks"][notebook.name] = {"run": run_index, "seconds": seconds,
                                          "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    record["files"].update({f: notebook.name for f in written})
    record["files"] = dict(sorted(record["files"].items()))
    _save(results_dir, record)
    nb = json.loads(notebook.read_text())
    nb["metadata"]["mmgen"] = {**record["runs"][run_index], "notebook_seconds": seconds}
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _save(results_dir: Path, record: Mapping[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = results_dir / (PROVENANCE_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(results_dir / PROVENANCE_FILE)


def _code(nb: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Code cells, without papermill's injected parameters."""
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def missing_figures(nb: Mapping[str, Any]) -> list[int]:
    """Indices (among code cells) of cells whose top-level draw calls outnumber the images they show. Indented
    calls (in a function, loop or branch) are left to :func:`shown_images` against the figures a notebook saved."""
    bad = []
    for i, cell in enumerate(_code(nb)):
        draws = sum(line.count(k) for line in _text(cell["source"]).splitlines() if not line[:1].isspace()
                    for k in DRAW_CALLS)
        if _images(cell) < draws:
            bad.append(i)
    return bad


def _images(cell: Mapping[str, Any]) -> int:
    return sum(1 for o in cell.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {})))


def shown_images(nb: Mapping[str, Any]) -> int:
    """Image outputs of a notebook."""
    return sum(_images(c) for c in _code(nb))


def saved_figures(results_dir: str | Path, notebook: str) -> list[str]:
    """Figures ``notebook`` wrote into the folder, without those a page (``listen.html``) shows instead."""
    results_dir = Path(results_dir)
    on_pages = "".join((results_dir / p).read_text() for p in PAGES if (results_dir / p).exists())
    return [f for f, nb in load(results_dir)["files"].items()
            if nb == notebook and f.startswith("figures/") and f not in on_pages]


def check_executed(executed: str | Path, source_dir: str | Path) -> list[str]:
    """Problems of an executed notebook (in ``<results folder>/notebooks/``): its code cells differ from its source's
    (a stale copy), it records no run (``metadata.mmgen``), a cell that draws shows no figure, or it shows fewer
    images than the figures it saved. Empty when it is sound."""
    executed = Path(executed)
    source = Path(source_dir) / executed.name
    if not source.exists():
        return [f"{executed}: no source notebook {source.name} (remove the executed copy)"]
    ran, src = json.loads(executed.read_text()), json.loads(source.read_text())
    problems = []
    ran_code, src_code = [_text(c["source"]) for c in _code(ran)], [_text(c["source"]) for c in _code(src)]
    if ran_code != src_code:
        first = next((i for i, (a, b) in enumerate(zip(ran_code, src_code)) if a != b), min(len(ran_code), len(src_code)))
        problems.append(f"{executed}: code cells differ from {source.name} (first at code cell {first}); rerun it "
                        "(make reproduce / make evidence)")
    if "mmgen" not in ran.get("metadata", {}):
        problems.append(f"{executed}: records no run (metadata.mmgen: commit, profile, overrides, machine)")
    bad = missing_figures(ran)
    if bad:
        problems.append(f"{executed}: code cells {bad} draw a figure but show none (is the kernel's matplotlib "
                        "backend inline?)")
    saved, shown = saved_figures(executed.parent.parent, executed.name), shown_images(ran)
    if shown < len(saved):
        problems.append(f"{executed}: shows {shown} images but saved {len(saved)} figures ({', '.join(saved)})")
    return problems
