"""The alignment stage: a profile's aligner variant, reused when unchanged, else trained, scored, exported."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import PartialState

from mmgen_core.alignment.config import AlignmentConfig, resolve_variant
from mmgen_core.alignment.embeddings import (
    EmbeddingSet,
    evaluate,
    export_embeddings,
    load_embeddings,
)
from mmgen_core.alignment.features import (
    manifest_fingerprint,
    prepare_split,
)
from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.train import TrainLog, train_alignment
from mmgen_core.checkpoints import (
    CheckpointError,
    load_state,
    load_weights,
    seed_everything,
)
from mmgen_core.config import Profile
from mmgen_core.data.manifest import SPLITS, Manifest
from mmgen_core.data.stage import get_dataset

DONE = "done.json"


def load_trained(model: CLMP, path: str | Path) -> CLMP:
    """Load the trained parts (``best/`` or ``last/``) into ``model``; clear errors on a bad folder."""
    state = load_state(path)
    load_weights(model.trained_parts(), state["model"], str(path))
    return model.eval()


@dataclass
class AlignmentRun:
    """A trained aligner and what it produced: test scores, curves, exported embeddings."""
    variant: str
    config: AlignmentConfig
    folder: Path
    model: CLMP
    log: TrainLog
    test: dict[str, dict[str, float]]
    n_test: int

    def embeddings(self, split: str = "train") -> EmbeddingSet:
        """The exported embeddings of ``split`` (the melody database is built from ``train``)."""
        return load_embeddings(self.folder / "embeddings" / f"{split}.npz")


def alignment_config(profile: Profile) -> AlignmentConfig:
    """The profile's ``alignment`` section."""
    return profile.section("alignment", AlignmentConfig)


def run_folder(profile: Profile, variant: str, manifest: Manifest) -> Path:
    """Artifact folder of a variant: keyed by its resolved config, the seed, the clip length and the data."""
    cfg = resolve_variant(alignment_config(profile), variant)
    keyed = {k: v for k, v in asdict(cfg).items() if k != "compare"}
    return profile.stage_dir("alignment", keyed, profile.seed, _clip_seconds(profile), manifest_fingerprint(manifest))


def _clip_seconds(profile: Profile) -> float:
    return float(profile.section("data")["clip_seconds"])


def load_or_train_alignment(profile: Profile, variant: str = "trimodal", manifest: Manifest | None = None,
                            progress: bool = True) -> AlignmentRun:
    """The profile's aligner: reused when config and data are unchanged, else trained (resuming), scored, exported."""
    if manifest is None:

        manifest = get_dataset(profile)
    cfg = resolve_variant(alignment_config(profile), variant)
    folder = run_folder(profile, variant, manifest)
    seed_everything(profile.seed)
    model = CLMP(cfg, _clip_seconds(profile))
    if (folder / DONE).exists():
        done = json.loads((folder / DONE).read_text())
        return AlignmentRun(variant, cfg, folder, load_trained(model, folder / "best"), TrainLog(**done["log"]),
                            done["test"], done["n_test"])
    data = {s: prepare_split(model, manifest, s) for s in SPLITS}
    log = train_alignment(model, data["train"], data["valid"], folder, profile.seed, progress=progress)
    if not (folder / "best" / "state.json").exists():
        raise CheckpointError(f"{folder}: training ended without a best checkpoint; delete the folder and retrain")
    load_trained(model, folder / "best")
    test = evaluate(model, data["test"])
    state = PartialState()
    if state.is_main_process:
        for split, d in data.items():
            if len(d):
                export_embeddings(model, d, folder / "embeddings" / f"{split}.npz")
        (folder / DONE).write_text(json.dumps({"variant": variant, "config": asdict(cfg), "log": asdict(log),
                                               "test": test, "n_test": len(data["test"])}, indent=1))
    state.wait_for_everyone()
    return AlignmentRun(variant, cfg, folder, model, log, test, len(data["test"]))
