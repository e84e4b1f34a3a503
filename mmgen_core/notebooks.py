"""Run the numbered notebooks headless with papermill, in order, for a profile."""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import load_profile, project_root

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"  # they ship with the repository


def notebook_paths(folder: str | Path | None = None, only: Sequence[str] = ()) -> list[Path]:
    """``NN_name.ipynb`` files in order; ``only`` keeps those whose number or name is listed."""
    folder = Path(folder) if folder else NOTEBOOK_DIR
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if p.name[:2] in only or p.stem in only]
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks in {folder} (selection: {list(only) or 'all'})")
    return paths


def run_notebooks(profile: str = "tiny", overrides: Mapping[str, Any] | None = None,
                  only: Sequence[str] = (), kernel: str = "python3") -> list[tuple[str, float]]:
    """Execute notebooks with ``PROFILE``/``OVERRIDES`` parameters; executed copies and a timing
    table go to ``results/<profile>/notebooks/``. Stops at the first failing notebook."""
    import papermill as pm

    prof = load_profile(profile, overrides)  # validates the profile and overrides before any work
    out_dir = prof.results / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    for path in notebook_paths(only=only):
        t0 = time.time()
        print(f"[mmgen] {path.name} ({profile}) ...", flush=True)
        pm.execute_notebook(str(path), str(out_dir / path.name), cwd=str(path.parent), kernel_name=kernel,
                            parameters={"PROFILE": profile, "OVERRIDES": dict(overrides or {})},
                            progress_bar=False, log_output=False)
        strip_root(out_dir / path.name, prof.root, NOTEBOOK_DIR.parent)  # artifacts may live elsewhere (MMGEN_ROOT)
        timings.append((path.name, round(time.time() - t0, 1)))
        print(f"[mmgen] {path.name} done in {timings[-1][1]} s", flush=True)
    _write_timings(out_dir / "timings.csv", timings)
    return timings


def strip_root(path: Path, *roots: Path) -> None:
    """Make an executed notebook portable: paths under each root (default: the project root) become
    relative to it."""
    text = path.read_text()
    for root in sorted({str(Path(r).resolve()) for r in roots or (project_root(),)}, key=len, reverse=True):
        text = text.replace(root + "/", "").replace(root, ".")
    path.write_text(text)


def _write_timings(path: Path, rows: list[tuple[str, float]]) -> None:
    """Merge these timings into the table (a partial run updates only its notebooks)."""
    old = {}
    if path.exists():
        with open(path, newline="") as f:
            old = {r["notebook"]: float(r["seconds"]) for r in csv.DictReader(f) if r["notebook"] != "total"}
    old.update(dict(rows))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["notebook", "seconds"])
        w.writerows(sorted(old.items()))
        w.writerow(["total", round(sum(old.values()), 1)])
