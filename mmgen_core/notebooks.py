"""Run the numbered notebooks headless with papermill, in order, for a profile.

While a notebook runs, each finished code cell prints a line, and the kernel's progress bars (tqdm
widgets from ``tqdm.auto``, or text bars on stderr) and other stderr text are forwarded: redrawn on
one line in a terminal, printed as lines (an unfinished bar at most every ``LOG_EVERY_S``) in a log.
"""
from __future__ import annotations

import csv
import html
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

import papermill as pm
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger as papermill_logger
from traitlets.config import Config

from mmgen_core.config import load_profile, project_root
from mmgen_core.reporting import provenance
from mmgen_core.reporting.summary import write_summary

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"  # they ship with the repository
# Kernel sockets over IPC (Unix sockets) rather than TCP: otherwise ipykernel warns at every start that
# its TCP traffic is unencrypted ("Kernel is running over TCP without encryption").
KERNEL_CONFIG = Config({"KernelManager": {"transport": "ipc"}})
# The kernel draws figures inline whatever the caller's MPLBACKEND (make exports Agg for scripts and tests): with
# Agg, plt.show() in a kernel draws nothing and the executed notebooks would show no figure.
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"
LOG_EVERY_S = 30.0  # without a terminal, an unfinished progress bar is printed at most this often
INDENT = "    "


def _counted(cell: Any) -> bool:
    """Code cells of the notebook itself (not papermill's injected parameters) count as progress."""
    return cell.cell_type == "code" and "injected-parameters" not in cell.metadata.get("tags", [])


class _Console:
    """Progress lines for a terminal (one redrawn status line) or for a log (plain lines)."""

    def __init__(self, out: TextIO):
        self.out, self.tty = out, out.isatty()
        self._shown: dict[str, str | None] = {}  # bar -> its text now (None once finished)
        self._printed: dict[str, tuple[float, str]] = {}  # bar -> (when, text) last printed to a log
        self._open = False  # a status line is on screen (terminal only)
        self._partial, self._n_text_bars = "", 0  # unterminated kernel stderr, and its bar count

    def line(self, text: str) -> None:
        """A permanent line (it replaces the status line on a terminal)."""
        self.out.write(("\r\x1b[K" if self._open else "") + text + "\n")
        self._open = False
        self.out.flush()

    def bar(self, key: str, text: str, done: bool) -> None:
        """A progress bar's state: redrawn on a terminal; in a log, printed once finished or every LOG_EVERY_S."""
        shown = self._shown.get(key, "")
        if shown is None or (text == shown and not done):
            return  # finished already, or unchanged
        self._shown[key] = None if done else text
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.out.write("\r\x1b[K" + (INDENT + text)[:width] + ("\n" if done else ""))
            self._open = not done
            self.out.flush()
            return
        now = time.monotonic()
        printed_at, printed = self._printed.setdefault(key, (now, ""))  # first sight starts the clock
        if text != printed and (done or now - printed_at >= LOG_EVERY_S):
            self.line(INDENT + text)
            self._printed[key] = (now, text)

    def stderr(self, text: str) -> None:
        """Kernel stderr: finished lines are printed, an unfinished one (a text tqdm bar) is a status line."""
        *lines, self._partial = (self._partial + text).split("\n")
        for ln in lines:
            state = next((s for s in reversed(ln.split("\r")) if s.strip()), "")
            if state:
                self.bar(f"stderr-{self._n_text_bars}", state.rstrip(), done=True)
            self._n_text_bars += 1
        state = next((s for s in reversed(self._partial.split("\r")) if s.strip()), "")
        if state:
            self.bar(f"stderr-{self._n_text_bars}", state.rstrip(), done=False)

    def close(self) -> None:
        """Clear a status line left on screen."""
        if self._open:
            self.out.write("\r\x1b[K")
            self.out.flush()
        self._open = False


class _ProgressClient(PapermillNotebookClient):
    """papermill's notebook client, reporting finished cells, progress bars and stderr to a console."""

    def __init__(self, nb_man: Any, console: _Console, label: str, **kw: Any):
        super().__init__(nb_man, **kw)
        self._console, self._label, self._done = console, label, 0
        self._total = sum(1 for c in self.nb.cells if _counted(c))
        self._parts: dict[str, list[str]] = {}  # tqdm widget part (model id) -> [label, bar, text] ids

    def execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        """Execute one cell, then print ``cell k/n done in s`` (or ``failed``) for a counted code cell."""
        t0, status = time.time(), "failed after"
        try:
            result = super().execute_cell(cell, cell_index, *args, **kwargs)
            status = "done in"
            return result
        finally:
            if _counted(cell):
                self._done += 1
                self._console.line(f"[mmgen] {self._label} cell {self._done}/{self._total} "
                                   f"{status} {time.time() - t0:.1f} s")

    def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
        """Forward stderr streams and tqdm widget updates as they arrive."""
        output = super().process_message(msg, cell, cell_index)
        content = msg["content"]
        if msg["msg_type"] == "stream" and content.get("name") == "stderr":
            self._console.stderr(content["text"])
        elif msg["msg_type"] in ("comm_open", "comm_msg"):
            self._widget_update(content["comm_id"], content.get("data", {}).get("state", {}))
        return output

    def _widget_update(self, comm_id: str, state: dict) -> None:
        """tqdm.notebook draws a bar as HBox(HTML label, FloatProgress, HTML text); print it as text."""
        children = state.get("children") or []
        if len(children) == 3 and state.get("_model_name") == "HBoxModel":
            parts = [c.removeprefix("IPY_MODEL_") for c in children]
            if self.widget_state.get(parts[1], {}).get("_model_name") == "FloatProgressModel":
                self._parts.update({p: parts for p in parts})
        parts = self._parts.get(comm_id)
        if not parts or not (comm_id == parts[2] and "value" in state or comm_id == parts[1] and "bar_style" in state):
            return  # a redraw sets the text last; closing sets the bar's style
        label, bar, text = (self.widget_state.get(p, {}) for p in parts)
        done = bar.get("bar_style") in ("success", "danger") or (
            bar.get("bar_style") != "info" and bar.get("value", 0) >= bar.get("max", 1) > 0)
        left, right = (html.unescape(w.get("value", "")).replace("\u2007", " ").strip() for w in (label, text))
        if left.endswith("%"):  # a known total: draw the bar, as text tqdm does
            filled = round(10 * min(1.0, bar.get("value", 0) / (bar.get("max") or 1)))
            left += f"|{'█' * filled}{' ' * (10 - filled)}|"
        self._console.bar(parts[0], f"{left} {right}", done)


class _ProgressEngine(NBClientEngine):
    """papermill's nbclient engine with :class:`_ProgressClient` and :data:`KERNEL_CONFIG`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, console: _Console | None = None,
                                 label: str = "", start_timeout: int = 60, execution_timeout: float | None = None,
                                 **kwargs: Any) -> Any:
        """Execute the notebook held by ``nb_man``, reporting to ``console``."""
        for unused in ("input_path", "log_output", "stdout_file", "stderr_file", "startup_timeout"):
            kwargs.pop(unused, None)  # streams go to the console instead
        timeout = execution_timeout or kwargs.pop("timeout", None)
        return _ProgressClient(nb_man, console or _Console(sys.stdout), label, kernel_name=kernel_name,
                               startup_timeout=start_timeout, timeout=timeout, log=papermill_logger,
                               config=KERNEL_CONFIG, **kwargs).execute()


papermill_engines.register("mmgen", _ProgressEngine)


def notebook_paths(folder: str | Path | None = None, only: Sequence[str] = ()) -> list[Path]:
    """``NN_name.ipynb`` files in order; ``only`` keeps those whose number or name is listed."""
    folder = Path(folder) if folder else NOTEBOOK_DIR
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if p.name[:2] in only or p.stem in only]
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks in {folder} (selection: {list(only) or 'all'})")
    return paths


def run_notebook(path: Path, out_path: Path, parameters: Mapping[str, Any], kernel: str = "python3",
                 out: TextIO | None = None) -> float:
    """Execute one notebook (in its folder) into ``out_path`` with progress on ``out``; returns seconds."""
    console = _Console(out or sys.stdout)
    label = f"{path.name} ({parameters['PROFILE']})" if "PROFILE" in parameters else path.name
    t0 = time.time()
    console.line(f"[mmgen] {label} ...")
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = KERNEL_MPLBACKEND  # the kernel inherits it
    try:
        pm.execute_notebook(str(path), str(out_path), parameters=dict(parameters), cwd=str(path.parent),
                            kernel_name=kernel, engine_name="mmgen", progress_bar=False, console=console,
                            label=label)
    finally:
        console.close()
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend
    seconds = round(time.time() - t0, 1)
    console.line(f"[mmgen] {label} done in {seconds} s")
    return seconds


def run_notebooks(profile: str = "tiny", overrides: Mapping[str, Any] | None = None,
                  only: Sequence[str] = (), kernel: str = "python3", fresh: bool | None = None) -> list[tuple[str, float]]:
    """Execute notebooks with ``PROFILE``/``OVERRIDES`` parameters into the profile's results folder: executed copies
    and a timing table under ``notebooks/``, what each wrote and the run's commit and machine in ``provenance.json``,
    and the folder's summary (``README.md``) at the end. A ``fresh`` run (default: one of every notebook) first
    clears the folder's outputs, so it holds one run's work. Stops at the first failing notebook."""
    prof = load_profile(profile, overrides)  # validates the profile and overrides before any work
    out_dir = prof.results / "notebooks"
    paths = notebook_paths(only=only)
    command = " ".join(["mmgen notebooks --profile", profile, *(["--only", ",".join(only)] if only else []),
                        *(f"--set {k}={v}" for k, v in (overrides or {}).items())])
    run = provenance.start(prof.results, provenance.new_run(profile, overrides or {}, NOTEBOOK_DIR.parent, command),
                           fresh=not only if fresh is None else fresh)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    for path in paths:
        parameters = {"PROFILE": profile, "OVERRIDES": dict(overrides or {})}
        t0 = time.time()
        seconds = run_notebook(path, out_dir / path.name, parameters, kernel=kernel)
        strip_root(out_dir / path.name, prof.root, NOTEBOOK_DIR.parent)  # artifacts may live elsewhere (MMGEN_ROOT)
        provenance.finish_notebook(prof.results, run, out_dir / path.name, seconds, provenance.outputs(prof.results, t0))
        timings.append((path.name, seconds))
    _write_timings(out_dir / "timings.csv", timings)
    write_summary(prof.results)
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
