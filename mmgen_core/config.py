"""Profiles: every size, step count and path of a run, as data files (smoke, tiny, paper).

A profile is a YAML file of sections (``data``, ``alignment``, ...). Each stage reads its section
into its own dataclass with :meth:`Profile.section`, so a typo in a key fails loudly.
Overrides use dotted keys (``{"alignment.epochs": 3}``) from papermill parameters or the CLI."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES = ("smoke", "tiny", "paper")
T = TypeVar("T")


def project_root() -> Path:
    """The repository root (where artifacts/ and results/ live); ``MMGEN_ROOT`` overrides it."""
    if os.environ.get("MMGEN_ROOT"):
        return Path(os.environ["MMGEN_ROOT"]).resolve()
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd().resolve()


SECTION_CLASSES = {  # profile section → the dataclass it configures, imported only when an override needs its fields
    "compute": "mmgen_core.compute:ComputeConfig", "data": "mmgen_core.data.config:DataConfig",
    "alignment": "mmgen_core.alignment.config:AlignmentConfig", "retrieval": "mmgen_core.retrieval.config:RetrievalConfig",
    "vae": "mmgen_core.decoder.vae:VAEConfig", "vocoder": "mmgen_core.decoder.vocoder:VocoderConfig",
    "diffusion": "mmgen_core.diffusion.config:DiffusionConfig", "generation": "mmgen_core.pipeline.pipeline:GenerationConfig",
    "evaluation": "mmgen_core.evaluation.evaluate:EvaluationConfig", "quality": "mmgen_core.pipeline.quality:QualityConfig",
    "results": "mmgen_core.reproduction.table1:ResultsConfig", "claims": "mmgen_core.reproduction.claims:ClaimsConfig",
}


def section_fields(section: str) -> set[str]:
    """The fields of the dataclass a profile section configures (empty for a section without one)."""
    if section not in SECTION_CLASSES:
        return set()
    module, name = SECTION_CLASSES[section].split(":")
    return {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name))}


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    """Set ``section.key`` (or a deeper dotted key): any field of the section's dataclass, listed in the YAML or not."""
    parts = key.split(".")
    node = tree
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict):
            raise KeyError(f"override {key!r}: no section {p!r} in the profile")
        node = node[p]
    if parts[-1] not in node:
        known = set(node) | (section_fields(parts[0]) if len(parts) == 2 else set())
        if parts[-1] not in known:
            raise KeyError(f"override {key!r}: unknown key {parts[-1]!r} (known: {sorted(known)})")
    node[parts[-1]] = value


def _overridden(sections: dict, overrides: Mapping[str, Any]) -> dict:
    """A deep copy of ``sections`` with dotted ``overrides`` applied (unknown keys raise)."""
    sections = copy.deepcopy(sections)
    for key, value in overrides.items():
        _set_dotted(sections, key, value)
    return sections


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value`` (value read as YAML: numbers, lists, booleans)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


@dataclass
class Profile:
    """A loaded profile: its name, its sections and where its artifacts and results go."""
    name: str
    sections: dict[str, dict[str, Any]]
    root: Path
    artifacts_name: str = ""  # whose artifacts it shares: an inherited profile (``base: tiny``) its base's

    @property
    def artifacts(self) -> Path:
        """``artifacts/<profile>/`` (its base profile's, for one that inherits: every artifact whose key the
        overrides leave alone is reused, the others are built beside them)."""
        return self.root / "artifacts" / (self.artifacts_name or self.name)

    @property
    def results(self) -> Path:
        """``results/<profile>/``, or its subfolder ``output.folder`` (e.g. ``evidence``: one run's outputs apart)."""
        folder = str(self.sections.get("output", {}).get("folder") or "")
        return self.root / "results" / self.name / folder if folder else self.root / "results" / self.name

    @property
    def seed(self) -> int:
        return int(self.sections.get("seed", {}).get("value", 0))

    def quickstart(self) -> "Profile":
        """This profile with its ``quickstart`` section applied: the quick model notebook 00 plays first (fewer clips
        and steps, Griffin-Lim instead of a trained vocoder). Its settings key its own artifact folders, so the quick
        model never stands in for the full one."""
        overrides = self.sections.get("quickstart")
        if not overrides:
            raise KeyError(f"profile {self.name!r} has no quickstart section (dotted overrides such as "
                           f"data.n_clips: 96) for notebook 00's quick model")
        return self.with_overrides(overrides)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Profile":
        """This profile with dotted overrides applied (``{"data.captions": "sound"}``); its name and root kept."""
        return dataclasses.replace(self, sections=_overridden(self.sections, overrides))

    def section(self, name: str, cls: type[T] | None = None) -> T | dict[str, Any]:
        """The section ``name`` as a dataclass ``cls`` (unknown keys raise) or a plain dict."""
        if name not in self.sections:
            raise KeyError(f"profile {self.name!r} has no section {name!r}")
        data = copy.deepcopy(self.sections[name])
        if cls is None:
            return data
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise KeyError(f"profile {self.name!r} section {name!r}: unknown keys {sorted(unknown)}")
        return cls(**data)


def config_hash(*parts: Any) -> str:
    """A short stable hash of dataclasses / dicts / paths, for artifact folder names."""
    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return dataclasses.asdict(x)
        if isinstance(x, Path):
            return str(x)
        return x

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def _profile_path(name: str, relative_to: Path | None = None) -> Path:
    """A built-in profile's file, or a YAML path (a base named in a profile file: relative to that file)."""
    path = Path(name)
    if path.suffix:
        return path if path.is_absolute() or relative_to is None else relative_to / path
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"unknown profile {name!r}; choose one of {PROFILES} or give a .yaml path")
    return path


def _read_profile(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict, str]:
    """A profile file's sections and the name its artifacts live under. A file with ``base: <profile>`` holds only
    what differs from its base — sections of fields (``diffusion: {roll: mel}``) or dotted keys (``diffusion.roll:
    mel``), each checked against the section's dataclass — and shares its base's artifacts."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such profile file")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a profile is a mapping of sections (or `base:` and overrides), not {type(raw).__name__}")
    if "base" not in raw:
        return raw, path.stem
    base = _profile_path(str(raw.pop("base")), path.parent)
    if base.resolve() in {p.resolve() for p in (*chain, path)}:
        raise ValueError(f"{path}: profiles inherit in a circle ({' → '.join(p.name for p in (*chain, path, base))})")
    sections, artifacts = _read_profile(base, (*chain, path))
    flat = {}
    for key, value in raw.items():
        if "." not in key and isinstance(value, dict):
            flat.update({f"{key}.{field}": v for field, v in value.items()})
        else:
            flat[key] = value
    try:
        return _overridden(sections, flat), artifacts
    except KeyError as e:
        raise KeyError(f"{path}: {e.args[0]}") from None


def load_profile(name: str = "tiny", overrides: Mapping[str, Any] | None = None,
                 root: str | Path | None = None) -> Profile:
    """Load ``profiles/<name>.yaml`` (or a path to a YAML file, which may inherit from another with ``base:``) and
    apply dotted overrides."""
    path = _profile_path(name)
    sections, artifacts = _read_profile(path)
    return Profile(name=path.stem, sections=_overridden(sections, overrides or {}),
                   root=Path(root).resolve() if root else project_root(),
                   artifacts_name=artifacts if artifacts != path.stem else "")
