"""The alignment stage: a profile's aligner variant, reused when unchanged, else trained, scored, exported."""
from __future__ import annotations

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
    prepare_split,
)
from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.train import TrainLog, train_alignment
from mmgen_core.artifacts import StageDir, stage_dir
from mmgen_core.checkpoints import (
    CheckpointError,
    load_state,
    load_weights,
    seed_everything,
)
from mmgen_core.compute import ComputeConfig
from mmgen_core.data.fractions import subset_key
from mmgen_core.data.manifest import SPLITS, Manifest
from mmgen_core.melody.tokens import DEFAULT_LAYOUT


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


def alignment_dir(cfg: AlignmentConfig, manifest: Manifest, artifacts: Path, seed: int) -> StageDir:
    """A variant's folder: keyed by its resolved config (less logging and the compare list), the seed and the data
    (and the training fraction, for a :class:`~mmgen_core.data.fractions.TrainFraction`)."""
    extra = {"tower_padding": "zero"} if cfg.uses_melody and cfg.melody_tower == "official" else {}
    if cfg.uses_melody and cfg.melody_layout != DEFAULT_LAYOUT:
        extra["melody_layout"] = cfg.melody_layout  # other ids, other weights; the default keeps today's keys
    extra.update(subset_key(manifest))  # a training fraction (the small-data experiment); {} for the whole data
    return stage_dir(artifacts, "alignment", cfg, upstream=[manifest.root], seed=seed, **extra)


def load_or_train_alignment(cfg: AlignmentConfig, variant: str, manifest: Manifest, clip_seconds: float,
                            artifacts: Path, seed: int = 0, *, train_missing: bool = True,
                            progress: bool = True, compute: ComputeConfig | None = None) -> AlignmentRun:
    """One aligner variant: reused when config and data are unchanged, else trained (resuming), scored, exported."""
    cfg = resolve_variant(cfg, variant)
    stage = alignment_dir(cfg, manifest, artifacts, seed)
    stage.require(train_missing, f"trained {variant!r} aligner", "run notebook 03_alignment "
                  "(or `mmgen notebooks --only 03`) first")
    folder = stage.path
    seed_everything(seed)
    model = CLMP(cfg, clip_seconds)
    if stage.done:
        done = stage.info()
        return AlignmentRun(variant, cfg, folder, load_trained(model, folder / "best"), TrainLog(**done["log"]),
                            done["test"], done["n_test"])
    data = {s: prepare_split(model, manifest, s) for s in SPLITS}
    log = train_alignment(model, data["train"], data["valid"], folder, seed, progress=progress, compute=compute)
    if not (folder / "best" / "state.json").exists():
        raise CheckpointError(f"{folder}: training ended without a best checkpoint; delete the folder and retrain")
    load_trained(model, folder / "best")
    test = evaluate(model, data["test"])
    state = PartialState()
    if state.is_main_process:
        for split, d in data.items():
            if len(d):
                export_embeddings(model, d, folder / "embeddings" / f"{split}.npz")
        stage.finish({"variant": variant, "config": asdict(cfg), "log": asdict(log), "test": test,
                      "n_test": len(data["test"])})
    state.wait_for_everyone()
    return AlignmentRun(variant, cfg, folder, model, log, test, len(data["test"]))
