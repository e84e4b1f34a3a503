"""Repository-level checks: profiles, environment files, committed notebooks."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmgen_core import cli
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


def test_a_profile_that_inherits_changes_only_what_it_says_and_shares_its_bases_artifacts(tmp_path):
    """A researcher's ablation as a small YAML: `base: tiny` and the fields that differ. Its results go under its own
    name; its artifacts are tiny's folder, so every stage whose key the overrides leave alone is reused."""
    mine = tmp_path / "mel_roll.yaml"
    mine.write_text("base: tiny\ndiffusion:\n  roll: mel\nalignment.epochs: 5\n")
    p, tiny = load_profile(str(mine), root=tmp_path), load_profile("tiny", root=tmp_path)
    assert p.name == "mel_roll" and p.artifacts == tiny.artifacts and p.results == tmp_path / "results" / "mel_roll"
    assert p.sections["diffusion"]["roll"] == "mel" and p.sections["alignment"]["epochs"] == 5
    assert {k: v for k, v in p.sections.items() if k not in ("diffusion", "alignment")} == \
        {k: v for k, v in tiny.sections.items() if k not in ("diffusion", "alignment")}
    assert p.with_overrides({"data.n_clips": 9}).artifacts == tiny.artifacts  # kept through further overrides
    (tmp_path / "child.yaml").write_text("base: mel_roll.yaml\ndata: {n_clips: 12}\n")  # relative to the file
    child = load_profile(str(tmp_path / "child.yaml"), {"vae.steps": 3}, root=tmp_path)
    assert child.artifacts == tiny.artifacts and child.sections["diffusion"]["roll"] == "mel"
    assert (child.sections["data"]["n_clips"], child.sections["vae"]["steps"]) == (12, 3)
    (tmp_path / "typo.yaml").write_text("base: tiny\ndiffusion: {rol: mel}\n")
    with pytest.raises(KeyError, match=r"typo.yaml.*unknown key 'rol'"):
        load_profile(str(tmp_path / "typo.yaml"))
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ValueError, match="circle"):
        load_profile(str(tmp_path / "a.yaml"))
    (tmp_path / "orphan.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_profile(str(tmp_path / "orphan.yaml"))


def test_a_named_run_keeps_its_results_apart(capsys):
    """`--run NAME` puts a run's results in results/<profile>/NAME/ (before make evidence's own folder); a name that
    is not one folder is refused with exit 2 and the reason, before anything runs."""
    assert cli._overrides(["data.n_clips=9"], "mel_roll") == {"data.n_clips": 9, "output.folder": "mel_roll"}
    assert cli._overrides(["output.folder=evidence"], "mel_roll")["output.folder"] == "mel_roll/evidence"
    assert cli._overrides(["output.folder=evidence"]) == {"output.folder": "evidence"}
    p = load_profile("tiny", cli._overrides([], "mel_roll"))
    assert p.results == p.root / "results" / "tiny" / "mel_roll" and p.artifacts == load_profile("tiny").artifacts
    for bad in ("a/b", "../up", ".hidden", ""):
        with pytest.raises(SystemExit) as e:
            cli.main(["notebooks", "--profile", "smoke", "--run", bad])
        assert e.value.code == 2 and "not a run name" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["notebooks", "--help"], ["generate", "--help"]])
def test_help_is_plain_words(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: mmgen" in out and "``" not in out and ":func:" not in out


def _fake(bin_dir: Path, name: str, body: str) -> None:
    (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
    (bin_dir / name).chmod(0o755)


def test_system_deps_on_a_mac_use_homebrew_and_name_what_to_install(tmp_path):
    """macOS has no ldconfig or apt-get: the install step finds or installs FluidSynth with Homebrew and says what
    to do where it cannot (here with a fake `uname`, and a fake `brew` that records what it was asked)."""
    script = Path(__file__).parents[1] / "scripts" / "install_system_deps.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "uname", "echo Darwin")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(**extra):
        return subprocess.run(["bash", str(script)], env={**env, **extra}, capture_output=True, text=True)

    no_brew = run()
    assert no_brew.returncode == 1 and "Homebrew" in no_brew.stderr and "brew install fluid-synth" in no_brew.stderr
    _fake(bin_dir, "brew", f'echo "$@" >> {tmp_path}/brew.log; if [ "$1" = --prefix ]; then echo {tmp_path}/brew; fi')
    no_font = run()
    assert no_font.returncode == 1 and "MMGEN_SOUNDFONT" in no_font.stderr
    assert "install fluid-synth" in (tmp_path / "brew.log").read_text()
    font = tmp_path / "gm.sf2"
    font.write_bytes(b"RIFF")
    ok = run(MMGEN_SOUNDFONT=str(font))
    assert ok.returncode == 0, ok.stderr
    assert f"{tmp_path}/brew/lib" in ok.stdout


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
