"""The results summary ``results/<profile>[/<folder>]/README.md``, written from that folder's tables and provenance.

Every number in it comes from a table file a notebook wrote, and the run facts (commit, machine, times) from
``provenance.json``: :func:`render_summary` is a pure function of the folder, so a test can regenerate the committed
summary and fail on any difference: a hand-typed number cannot land. The repository README links these summaries
and quotes no result itself.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from mmgen_core.reporting import provenance
from mmgen_core.reporting.melody import explain

SUMMARY_FILE = "README.md"
# Table 1's headline columns (code name → words, with the better direction).
TABLE1_COLUMNS = {"fad_inf": "FAD∞ ↓", "kid": "KID ↓", "text_audio": "text–audio similarity ↑",
                  "richness": "harmonic richness ↑", "chroma_cond": "chroma similarity to its melody ↑"}
QUALITY_COLUMNS = {"fad_inf": "FAD∞ ↓", "kid": "KID ↓", "richness": "harmonic richness ↑",
                   "text_audio": "text–audio similarity ↑"}
OTHER_RUNS = {"evidence": "`make evidence`: the seeded run (several training seeds per system)",
              "quality": "`make quality`: where generation quality goes, on validation clips",
              "bench": "`make bench`: speed of fp32 eager against the compute defaults"}


def _num(x: Any, digits: int = 3, sign: bool = False) -> str:
    """A number for a table (``—`` when missing); strings pass through."""
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _duration(seconds: float) -> str:
    """``1 h 02 min``, ``17 min 15 s`` or ``33 s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table (cells with ``|`` escaped)."""
    esc = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in esc)]


def table_note(md: Path) -> str:
    """The note a table's Markdown file carries under the table (empty when none)."""
    lines = md.read_text().splitlines()
    last = max((i for i, ln in enumerate(lines) if ln.startswith("|")), default=-1)
    return " ".join(ln.strip() for ln in lines[last + 1:] if ln.strip())


def _link(results_dir: Path, rel: str, text: str | None = None) -> str:
    return f"[{text or rel}]({rel})" if (results_dir / rel).exists() else (text or rel)


def _run_section(results_dir: Path, record: Mapping[str, Any]) -> list[str]:
    runs, notebooks = record["runs"], record["notebooks"]
    if not runs:
        return ["No run is recorded here (no `provenance.json`)."]
    lines = []
    for i, run in enumerate(runs):
        tag = f"Run {i + 1}: " if len(runs) > 1 else ""
        overrides = ", ".join(f"`{k}={v}`" for k, v in run["overrides"].items()) or "none"
        lines += [f"- {tag}`{run['command']}` at commit `{run['commit']}`, started {run['started']}; "
                  f"overrides: {overrides}; machine: {provenance.machine_words(run['machine'])}."]
        if run.get("note"):
            lines += [f"  {run['note']}"]
    if len(runs) > 1:
        lines += ["", f"This folder holds the outputs of {len(runs)} runs; the table below says which run wrote "
                  "each notebook (and the file list at the end, which notebook wrote each file)."]
    if notebooks:
        rows = [[_link(results_dir, f"notebooks/{name}", name), _duration(nb["seconds"])]
                + ([str(nb["run"] + 1)] if len(runs) > 1 else []) for name, nb in sorted(notebooks.items())]
        rows.append(["**total**", f"**{_duration(sum(nb['seconds'] for nb in notebooks.values()))}**"]
                    + ([""] if len(runs) > 1 else []))
        lines += ["", *_table(["notebook", "time"] + (["run"] if len(runs) > 1 else []), rows)]
    return lines


def _claims(results_dir: Path) -> list[str]:
    df = pd.read_csv(results_dir / "tables" / "claims.csv", dtype={"n": str})
    rows = [[r["claim"], r["effect"], f"{_num(r['estimate'], sign=True)} [{_num(r['low'], sign=True)}, "
             f"{_num(r['high'], sign=True)}]" if not pd.isna(r["estimate"]) else "not measured", r["n"] if not
             pd.isna(r["n"]) else "—", f"**{r['verdict']}**"] for _, r in df.iterrows()]
    return ["## The paper's claims", "", *_table(["claim", "effect", "estimate [95% interval]", "n", "verdict"], rows),
            "", table_note(results_dir / "tables" / "claims.md"), "",
            f"Every row with its supporting measures: {_link(results_dir, 'tables/claims.md')}."]


def _table1(results_dir: Path) -> list[str]:
    df = pd.read_csv(results_dir / "tables" / "table1.csv", dtype=str)
    cols = [c for c in TABLE1_COLUMNS if c in df.columns]
    rows = [[r["system"], r["n"], *(r[c] if isinstance(r[c], str) else "—" for c in cols)] for _, r in df.iterrows()]
    return ["## Table 1: generation on the test clips", "",
            *_table(["system", "n", *(TABLE1_COLUMNS[c] for c in cols)], rows), "",
            "`x [a, b]` = estimate and 95% interval (between training runs + clip jackknife, docs/method.md §2.8). "
            f"Every column and its definition: "
            f"{_link(results_dir, 'tables/table1.md')}; every interval as numbers: "
            f"{_link(results_dir, 'tables/table1_intervals.md')}; the paper's own numbers: "
            f"{_link(results_dir, 'tables/table1_paper.md')}."]


def _table2(results_dir: Path) -> list[str]:
    df = pd.read_csv(results_dir / "tables" / "table2_seeds.csv", dtype=str)
    return ["## Table 2: audio↔text alignment", "",
            *_table(list(df.columns), df.fillna("—").values.tolist()), "",
            table_note(results_dir / "tables" / "table2_seeds.md"), "",
            f"Every direction (audio, text, melody): {_link(results_dir, 'tables/table2_summary.md')}."]


def _melody(results_dir: Path) -> list[str]:
    moves = pd.read_csv(results_dir / "tables" / "09_melody_counterfactual.csv")
    probes_csv = results_dir / "tables" / "09_melody_probes.csv"
    probes = pd.read_csv(probes_csv) if probes_csv.exists() else pd.DataFrame(
        columns=["captions", "variant", "target", "input", "low", "chance"])

    def cell(r: pd.Series, m: str) -> str:
        return (f"{_num(r[m], sign=True)} [{_num(r[f'{m} low'], sign=True)}, {_num(r[f'{m} high'], sign=True)}] "
                f"({_num(r[f'{m} of follower'] * 100, 0)}%): {r[f'{m} outcome']}")

    rows = [[r["captions"], r["system"], r["swap"], cell(r, "pcp_move"), cell(r, "chroma_move")]
            for _, r in moves.iterrows()]
    return ["## Does the melody reach the music? (notebook 09)", "",
            *_table(["captions", "system", "melody change", "pitch-class move (% of a perfect follower): outcome",
                     "chroma move: outcome"], rows), "",
            table_note(results_dir / "tables" / "09_melody_counterfactual.md"), "",
            *(f"- {text}" for text in explain(moves, probes).values()), "",
            f"What the melody embedding carries: {_link(results_dir, 'tables/09_melody_probes.md')}."]


def _quality(results_dir: Path) -> list[str]:
    ref = pd.read_csv(results_dir / "tables" / "06_quality_reference.csv")
    curve = pd.read_csv(results_dir / "tables" / "06_quality_curve.csv")
    cols = [c for c in QUALITY_COLUMNS if c in curve.columns]
    rows = [[f"text UNet, {int(r['steps'])} steps", _num(r["cpu_minutes"], 1), *(_num(r[c]) for c in cols)]
            for _, r in curve.iterrows()]
    rows += [[r["system"], "—", *(_num(r.get(c)) for c in cols)] for _, r in ref.iterrows()]
    return ["## Quality along training (notebook 06, validation clips)", "",
            *_table(["system", "CPU minutes", *(QUALITY_COLUMNS[c] for c in cols)], rows), "",
            table_note(results_dir / "tables" / "06_quality_curve.md")]


SECTIONS: dict[str, Callable[[Path], list[str]]] = {  # section → its function, drawn when its table exists
    "claims.csv": _claims, "table1.csv": _table1, "table2_seeds.csv": _table2,
    "09_melody_counterfactual.csv": _melody, "06_quality_curve.csv": _quality}


def _file_rows(results_dir: Path, files: Mapping[str, str]) -> list[list[str]]:
    """One row per table (its Markdown, with its CSV beside) or figure; audio is left to the pages."""
    rows = []
    for f, notebook in files.items():
        if f.startswith("tables/") and f.endswith(".csv") and f"{f[:-4]}.md" in files or f.startswith("audio/"):
            continue
        csv = f"{f[:-3]}.csv" if f.endswith(".md") else ""
        rows.append([_link(results_dir, f) + (f" ({_link(results_dir, csv, 'csv')})" if csv in files else ""),
                     notebook])
    return rows


def render_summary(results_dir: str | Path) -> str:
    """The summary of a results folder, as Markdown, from its tables and ``provenance.json`` alone."""
    results_dir = Path(results_dir)
    record = provenance.load(results_dir)
    profile = record["runs"][0]["profile"] if record["runs"] else results_dir.name
    lines = [f"# Results: profile `{profile}`" + (f", {results_dir.name}" if results_dir.name != profile else ""), "",
             "Written by `mmgen summary` (`mmgen_core/reporting/summary.py`) from this folder's tables and "
             "`provenance.json` at the end of the run that made them. Do not edit: the tests regenerate this page "
             "and fail on any difference.", "", "## The run", "", *_run_section(results_dir, record)]
    for table, section in SECTIONS.items():
        if (results_dir / "tables" / table).exists():
            lines += ["", *section(results_dir)]
    pages = [_link(results_dir, p) for p in provenance.PAGES if p.endswith(".html") and (results_dir / p).exists()]
    others = [f"- [{name}/]({name}/{SUMMARY_FILE}): {words}" for name, words in OTHER_RUNS.items()
              if (results_dir / name / SUMMARY_FILE).exists()]
    if pages:
        lines += ["", f"Listen (open in a browser; it plays the clips): {', '.join(pages)}."]
    if others:
        lines += ["", "## Other runs, kept apart", "", *others]
    if record["files"]:
        lines += ["", "## Every table and figure of this run", "", *_table(["file", "written by"],
                                                                             _file_rows(results_dir, record["files"]))]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(results_dir: str | Path) -> Path:
    """Write :func:`render_summary` to ``<results_dir>/README.md``."""
    path = Path(results_dir) / SUMMARY_FILE
    path.write_text(render_summary(results_dir))
    return path
