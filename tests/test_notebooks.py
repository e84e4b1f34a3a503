"""Every numbered notebook runs headless under papermill on the smoke profile, in order, from scratch."""
import json

import pytest

from mmgen_core.notebooks import notebook_paths, run_notebooks


@pytest.mark.slow
def test_all_notebooks_run_on_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("MMGEN_ROOT", str(tmp_path))  # fresh artifacts: each notebook builds what it lacks
    timings = run_notebooks("smoke")
    assert [name for name, _ in timings] == [p.name for p in notebook_paths()]
    out = tmp_path / "results" / "smoke"
    for name, _ in timings:
        text = (out / "notebooks" / name).read_text()
        assert str(tmp_path) not in text  # executed copies are portable: no machine paths
        nb = json.loads(text)
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[:1]}"
    assert (out / "notebooks" / "timings.csv").exists()
    assert list((out / "tables").glob("*.md")) and list((out / "figures").glob("*.png"))
