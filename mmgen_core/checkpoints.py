"""Safetensors checkpoints for training state (models, optimizers, schedulers, counters).

No pickles: nested state dicts are split into a flat tensor dict (safetensors) and a JSON skeleton.
Writes are atomic (temp folder, then rename) so an interrupted save never corrupts ``last/``."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors.torch import load_file, save_file


class CheckpointError(ValueError):
    """A missing or incompatible checkpoint; names the file and the fix."""


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        return {"__dict__": [[_flatten(k, "", {}) if not isinstance(k, (str, int)) else k,
                              _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, dict) and "__list__" in obj:
        items = [_unflatten(v, tensors) for v in obj["__list__"]]
        return tuple(items) if obj["tuple"] else items
    return obj


def save_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Save a nested state (e.g. ``{"model": m.state_dict(), "optim": o.state_dict(), "step": 3}``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(dict(state), "", tensors)
    # safetensors refuses shared storage; clone so each entry owns its memory
    save_file({k: v.clone() for k, v in tensors.items()}, str(tmp / "tensors.safetensors"))
    (tmp / "state.json").write_text(json.dumps(skeleton))
    if path.exists():
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old)
    else:
        tmp.rename(path)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Inverse of :func:`save_state`."""
    path = Path(path)
    if not (path / "state.json").exists():
        raise CheckpointError(f"{path}: no checkpoint here (state.json missing); train first or check the path")
    tensors = load_file(str(path / "tensors.safetensors"))
    return _unflatten(json.loads((path / "state.json").read_text()), tensors)


def saved_step(path: str | Path) -> int:
    """The optimiser step a training loop's ``last/`` checkpoint reached (0 when none is saved yet), read from its
    JSON skeleton alone: cheap enough to poll while another process trains."""
    try:
        skeleton = json.loads((Path(path) / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    log = dict(skeleton["__dict__"]).get("log", {"__dict__": []})
    return int(dict(log["__dict__"]).get("step", 0))


def load_weights(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` with an error that names the file, the key and both shapes."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise CheckpointError(f"{source}: state dict does not fit {type(module).__name__}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    for k, v in state_dict.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{source}: {k} has shape {tuple(v.shape)}, the model expects "
                                  f"{tuple(own[k].shape)}; the checkpoint was made with another config")
    module.load_state_dict(state_dict)
