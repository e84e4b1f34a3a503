"""Results cannot drift from the code: committed summaries are regenerated from their tables, committed executed
notebooks match their sources and show their figures, and every run records where it came from."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from mmgen_core.config import project_root
from mmgen_core.notebooks import NOTEBOOK_DIR
from mmgen_core.reporting import provenance
from mmgen_core.reporting.summary import SUMMARY_FILE, render_summary, write_summary

RESULTS = project_root() / "results"
SUMMARIES = sorted(p.parent for p in RESULTS.glob("**/" + provenance.PROVENANCE_FILE))
EXECUTED = sorted(RESULTS.glob("**/notebooks/*.ipynb"))


@pytest.mark.parametrize("folder", SUMMARIES, ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_committed_summary_is_what_its_tables_give(folder):
    """A number typed into a summary (or a table changed without rewriting it) fails here."""
    committed = (folder / SUMMARY_FILE).read_text()
    assert committed == render_summary(folder), (
        f"{folder / SUMMARY_FILE} differs from what its tables and provenance.json give; never edit it by hand: "
        f"rerun the notebooks or `mmgen summary --profile <profile>`")


@pytest.mark.parametrize("executed", EXECUTED, ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_committed_executed_notebook_matches_its_source(executed):
    assert provenance.check_executed(executed, NOTEBOOK_DIR) == []


def test_every_committed_results_folder_has_a_summary_and_provenance():
    for nb_dir in {p.parent.parent for p in EXECUTED}:
        assert (nb_dir / provenance.PROVENANCE_FILE).exists() and (nb_dir / SUMMARY_FILE).exists(), nb_dir
        recorded = provenance.load(nb_dir)["notebooks"]
        assert {p.name for p in (nb_dir / "notebooks").glob("*.ipynb")} <= set(recorded), nb_dir


def test_repository_readme_quotes_no_result_number():
    """The README links the summaries; a decimal number in its prose would be a typed result."""
    import re

    text = (project_root() / "README.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    numbers = [m for m in re.findall(r"(?<![\w./-])\d+\.\d+(?![\w./-])", prose) if m != "2409.20196"]
    assert not numbers, f"README.md types result numbers {numbers}: link results/<profile>/README.md instead"
    assert "results/tiny/README.md" in text


def _notebook(cells: list[tuple[str, list]]) -> dict:
    return {"cells": [{"cell_type": "code", "source": src, "metadata": {}, "outputs": outs, "execution_count": None}
                      for src, outs in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


IMAGE = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}


def test_missing_figures_counts_draw_calls_against_images():
    nb = _notebook([("x = 1", []), ("plt.plot(x); plt.show()", [IMAGE]), ("fig.savefig('a'); plt.show()", []),
                    ("plt.show()\nplt.show()", [IMAGE]), ("if x:\n    plt.show()", []), ("def f():\n    plt.show()", [])])
    assert provenance.missing_figures(nb) == [2, 3]  # indented calls may not run: the saved figures count them
    assert provenance.shown_images(nb) == 2


def test_check_executed_flags_a_stale_copy_a_missing_record_and_missing_figures(tmp_path):
    src_dir, out_dir = tmp_path / "src", tmp_path / "out"
    src_dir.mkdir(), out_dir.mkdir()
    source = _notebook([("PROFILE = 'tiny'", []), ("plt.show()", [])])
    (src_dir / "01_a.ipynb").write_text(json.dumps(source))
    ran = _notebook([("PROFILE = 'tiny'", []), ("plt.show()", [IMAGE])])
    ran["cells"].insert(1, {"cell_type": "code", "source": "PROFILE = 'smoke'", "outputs": [],
                            "metadata": {"tags": ["injected-parameters"]}})
    ran["metadata"]["mmgen"] = {"commit": "abc"}
    (out_dir / "01_a.ipynb").write_text(json.dumps(ran))
    assert provenance.check_executed(out_dir / "01_a.ipynb", src_dir) == []  # injected parameters don't count

    ran["cells"][-1]["outputs"] = []
    del ran["metadata"]["mmgen"]
    ran["cells"][0]["source"] = "PROFILE = 'paper'"
    (out_dir / "01_a.ipynb").write_text(json.dumps(ran))
    problems = provenance.check_executed(out_dir / "01_a.ipynb", src_dir)
    assert len(problems) == 3 and "differ" in problems[0] and "records no run" in problems[1] and "show none" in problems[2]
    ran["cells"][-1]["outputs"] = [IMAGE]
    ran["metadata"]["mmgen"] = {"commit": "abc"}
    ran["cells"][0]["source"] = "PROFILE = 'tiny'"
    (out_dir / "01_a.ipynb").write_text(json.dumps(ran))
    files = {"figures/a.png": "01_a.ipynb", "figures/b.png": "01_a.ipynb", "figures/listen_01.png": "01_a.ipynb"}
    (tmp_path / provenance.PROVENANCE_FILE).write_text(json.dumps({"runs": [], "notebooks": {}, "files": files}))
    (tmp_path / "listen.html").write_text('<img src="figures/listen_01.png">')  # a page's figure is not shown inline
    assert provenance.saved_figures(tmp_path, "01_a.ipynb") == ["figures/a.png", "figures/b.png"]
    assert "shows 1 images but saved 2 figures" in provenance.check_executed(out_dir / "01_a.ipynb", src_dir)[0]
    (out_dir / "02_gone.ipynb").write_text(json.dumps(ran))
    assert "no source notebook" in provenance.check_executed(out_dir / "02_gone.ipynb", src_dir)[0]


def test_a_run_records_its_files_and_a_fresh_run_clears_the_folder(tmp_path):
    res = tmp_path / "results" / "tiny"
    (res / "evidence").mkdir(parents=True)
    (res / "evidence" / "keep.md").write_text("another run")
    (res / "tables").mkdir()
    (res / "tables" / "old.csv").write_text("stale")
    run = {"command": "mmgen notebooks --profile tiny", "profile": "tiny", "overrides": {}, "commit": "abc",
           "machine": {}, "started": "now"}
    index = provenance.start(res, run, fresh=True)
    assert index == 0 and not (res / "tables").exists() and (res / "evidence" / "keep.md").exists()
    t0 = time.time()
    (res / "tables").mkdir()
    (res / "tables" / "t.csv").write_text("a\n1\n")
    (res / "figures").mkdir()
    (res / "figures" / "f.png").write_bytes(b"png")
    old = res / "figures" / "before.png"
    old.write_bytes(b"png")
    os.utime(old, (t0 - 60, t0 - 60))
    assert provenance.outputs(res, t0) == ["figures/f.png", "tables/t.csv"]
    (res / "notebooks").mkdir()
    (res / "notebooks" / "01_a.ipynb").write_text(json.dumps(_notebook([("1", [])])))
    provenance.finish_notebook(res, index, res / "notebooks" / "01_a.ipynb", 12.5, provenance.outputs(res, t0))
    record = provenance.load(res)
    assert record["files"] == {"figures/f.png": "01_a.ipynb", "tables/t.csv": "01_a.ipynb"}
    assert record["notebooks"]["01_a.ipynb"]["seconds"] == 12.5
    stamped = json.loads((res / "notebooks" / "01_a.ipynb").read_text())["metadata"]["mmgen"]
    assert stamped["commit"] == "abc" and stamped["profile"] == "tiny" and stamped["notebook_seconds"] == 12.5
    assert provenance.start(res, {**run, "commit": "def"}, fresh=False) == 1  # a partial run adds itself


def test_summary_is_written_from_the_tables(tmp_path):
    res = tmp_path / "results" / "smoke"
    (res / "tables").mkdir(parents=True)
    claims = pd.DataFrame([{"claim": "Melody helps", "effect": "fad(text) − fad(mmgen)", "estimate": 1.25,
                            "low": 0.5, "high": 2.0, "n": "8 clips", "evidence": "...", "verdict": "reproduced"}])
    claims.to_csv(res / "tables" / "claims.csv", index=False)
    (res / "tables" / "claims.md").write_text("| claim |\n|---|\n| Melody helps |\n\nThe rule note.\n")
    run = {"command": "mmgen notebooks --profile smoke", "profile": "smoke", "overrides": {"data.n_clips": 8},
           "commit": "abc123", "machine": {"cpu": "Test CPU", "cores": 2, "avx512_bf16": False, "gpu": None,
                                           "python": "3.11", "torch": "2.13.0"}, "started": "2026-12-03 10:00 UTC"}
    provenance.start(res, run, fresh=False)
    (res / "notebooks").mkdir()
    (res / "notebooks" / "08_results.ipynb").write_text(json.dumps(_notebook([])))
    provenance.finish_notebook(res, 0, res / "notebooks" / "08_results.ipynb", 75.0,
                               ["tables/claims.csv", "tables/claims.md"])
    text = write_summary(res).read_text()
    assert "`abc123`" in text and "2 cores of Test CPU (no AVX-512 BF16: fp32)" in text and "`data.n_clips=8`" in text
    assert "| Melody helps | fad(text) − fad(mmgen) | +1.250 [+0.500, +2.000] | 8 clips | **reproduced** |" in text
    assert "The rule note." in text and "1 min 15 s" in text
    assert "[tables/claims.md](tables/claims.md) ([csv](tables/claims.csv)) | 08_results.ipynb" in text
    claims.loc[0, "estimate"] = 1.5  # the table changes: the committed summary no longer matches
    claims.to_csv(res / "tables" / "claims.csv", index=False)
    assert render_summary(res) != text
