"""Repository-level checks: profiles, environment files, committed notebooks."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmgen_core.config import PROFILES, SECTION_CLASSES, load_profile, parse_override, section_fields
from mmgen_core.data import DataConfig
from mmgen_core.notebooks import NOTEBOOK_DIR, notebook_paths

ROOT = Path(__file__).resolve().parents[1]
CPU_GPU_PAIRS = {"torch": "pytorch-gpu", "faiss-cpu": "faiss-gpu"}
PACKAGES = sorted(p.parent.name for p in (ROOT / "mmgen_core").glob("*/__init__.py"))


def _name(spec: str) -> str:
    return re.split(r"[=<>!\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_requirements():
    reqs = {_name(l) for l in (ROOT / "requirements/cpu.txt").read_text().splitlines() if l.strip() and not l.startswith("#")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = {_name(d) for d in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))}
    expected = {CPU_GPU_PAIRS.get(r, r) for r in reqs}
    assert pip | conda - {"fluidsynth"} == expected
    assert not pip & set(CPU_GPU_PAIRS) and set(CPU_GPU_PAIRS.values()) <= conda


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_load(name):
    p = load_profile(name)
    assert p.name == name and p.artifacts.name == name and "data" in p.sections


def test_overrides_and_errors():
    p = load_profile("smoke", {"data.n_clips": 7})
    assert p.sections["data"]["n_clips"] == 7
    assert load_profile("smoke").sections["data"]["n_clips"] != 7  # the file itself is untouched
    with pytest.raises(KeyError, match="unknown key"):
        load_profile("smoke", {"data.n_clipz": 7})
    with pytest.raises(KeyError, match="no section"):
        load_profile("smoke", {"nope.x": 1})
    with pytest.raises(FileNotFoundError, match="unknown profile"):
        load_profile("huge")
    assert parse_override("data.clip_seconds=2.5") == ("data.clip_seconds", 2.5)
    with pytest.raises(ValueError):
        parse_override("data.clip_seconds")


@pytest.mark.parametrize("name", PROFILES)
def test_any_field_of_a_section_s_dataclass_can_be_set(name):
    """`--set data.path=...` works on every profile though its YAML does not list the key (the stage's own error
    message advises it); a key that is no field of the section's dataclass is refused, naming the known ones."""
    p = load_profile(name, {"data.path": "my_music", "data.captions_csv": "captions.csv", "generation.pretrained": "x"})
    assert p.section("data", DataConfig).path == "my_music" and p.sections["data"]["captions_csv"] == "captions.csv"
    with pytest.raises(KeyError, match=r"unknown key 'pathh'.*'audio_dir'"):
        load_profile(name, {"data.pathh": "x"})
    for section in SECTION_CLASSES:
        assert section_fields(section) >= set(p.sections.get(section, {})), section  # every listed key is a field


def test_committed_notebooks_are_clean_and_parameterised():
    paths = notebook_paths()
    assert [p.name[:2] for p in paths] == sorted(p.name[:2] for p in paths)
    for path in paths:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and not c.get("execution_count") for c in code), f"{path.name} has outputs"
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{path.name} needs one cell tagged 'parameters'"
        src = "".join(params[0]["source"])
        assert "PROFILE" in src and "OVERRIDES" in src


def test_no_machine_paths_in_tracked_text():
    roots = ["tmp", "work", "root", "home/[a-z]+"]
    pattern = re.compile("(" + "|".join(f"/{r}/" for r in roots) + ")")
    for path in list(ROOT.glob("mmgen_core/**/*.py")) + list(NOTEBOOK_DIR.glob("*.ipynb")) + [ROOT / "README.md"]:
        if path.exists():
            assert not pattern.search(path.read_text()), f"machine path in {path}"


def test_every_package_imports_first_in_a_fresh_interpreter():
    """No import circle: each stage package can be the first thing a notebook or script imports."""
    assert {"diffusion", "evaluation", "pipeline", "reproduction"} <= set(PACKAGES)
    for name in PACKAGES:
        r = subprocess.run([sys.executable, "-c", f"import mmgen_core.{name}"], capture_output=True, text=True)
        assert r.returncode == 0, f"mmgen_core.{name}: {r.stderr[-600:]}"
