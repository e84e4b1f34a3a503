"""Artifacts on disk, one protocol for every stage: a keyed folder, one done marker, atomic writes, a build lock."""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import config_hash


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on an artifact folder (``<root>.lock``): a second builder waits, then reuses."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


DONE = "done.json"


@dataclass(frozen=True)
class StageDir:
    """The artifact folder of one stage: ``<artifacts>/<stage>-<key>``, complete once ``done.json`` exists.

    The key hashes exactly what changes the stage's result — its config minus the fields the config
    class lists in ``UNKEYED`` (logging, checkpoint cadence, evaluation sizes) — plus the folder names
    of the stages it reads, so an upstream change rebuilds everything downstream and nothing else.
    """

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def done(self) -> bool:
        return (self.path / DONE).exists()

    def info(self) -> dict[str, Any]:
        """What the stage recorded when it finished (its report)."""
        return json.loads((self.path / DONE).read_text())

    def finish(self, info: Mapping[str, Any]) -> None:
        """Mark the stage complete with its report: written last and atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path / DONE, lambda p: p.write_text(json.dumps(info, indent=1, default=str)))

    def require(self, train_missing: bool, what: str, hint: str) -> None:
        """Raise a clear error when the stage is missing and may not be built now (``train_missing=False``)."""
        if not self.done and not train_missing:
            raise CheckpointError(f"{self.path}: no {what} here; {hint}")


def keyed_fields(config: Any) -> dict[str, Any]:
    """A config's fields that change its stage's result: all but those named in its ``UNKEYED``, and those
    its ``KEYED_UNLESS`` maps to the value that reproduces what was built before the field existed (a switch
    added later keys only the runs that set it, so today's folders stay valid)."""
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    legacy = getattr(config, "KEYED_UNLESS", {})
    return {k: v for k, v in fields.items()
            if k not in getattr(config, "UNKEYED", ()) and not (k in legacy and v == legacy[k])}


def stage_dir(artifacts: Path, stage: str, *configs: Any, upstream: Sequence[StageDir | Path | str] = (),
              **extra: Any) -> StageDir:
    """The folder of ``stage`` for these configs (dataclasses or dicts), upstream folders and extra values."""
    parts = [keyed_fields(c) if dataclasses.is_dataclass(c) else c for c in configs]
    names = [u.name if isinstance(u, (StageDir, Path)) else str(u) for u in upstream]
    return StageDir(Path(artifacts) / f"{stage}-{config_hash(stage, parts, names, extra)}")
