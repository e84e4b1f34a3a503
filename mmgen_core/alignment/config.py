"""Profile section ``alignment``: towers, optimisation, and the named variants notebook 03 compares."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from mmgen_core.melody.tokens import DEFAULT_LAYOUT, LAYOUTS

JOINT_DIM = 512
MELODY_TOWERS = ("official", "mean", "transformer")
MODALITIES = ("audio", "text", "melody")
VARIANTS = {  # notebook/table name → config changes
    "trimodal": {"modalities": "atm"},
    "bimodal": {"modalities": "at"},
    "trimodal-official": {"modalities": "atm", "melody_tower": "official"},
    "trimodal-mean": {"modalities": "atm", "melody_tower": "mean"},
    "trimodal-transformer": {"modalities": "atm", "melody_tower": "transformer"},
    # the alignment claim's tri-modal model, its checkpoint chosen as the two-modal one's is (docs/method.md §2.9)
    "trimodal-select-at": {"modalities": "atm", "select_by": "audio_text"},
}
SELECT_BY = ("all", "audio_text")


@dataclass
class AlignmentConfig:
    """Profile section ``alignment``: towers, optimisation, and the variants notebook 03 compares."""
    modalities: str = "atm"  # atm = tri-modal (MMGen); at = two-modal audio–text (CLAP-style ablation)
    # audio tower: a local transformers CLAP folder, or a from-scratch HTS-AT of this size
    audio_pretrained: str | None = None
    audio_spec_size: int = 128
    audio_patch: int = 8
    audio_window: int = 4
    audio_width: int = 32
    audio_depths: list[int] = field(default_factory=lambda: [1, 1, 1])
    audio_heads: list[int] = field(default_factory=lambda: [2, 4, 8])
    audio_dropout: float = 0.0
    # text tower: "minilm" (shipped weights), a local folder (e.g. roberta-base) or "roberta-base-random"
    # (RoBERTa-base's shape with random weights: paper-size dry runs, see mmgen_core.dry_run)
    text_model: str = "minilm"
    text_pooling: str = "mean"  # mean (sentence-transformers) | pooler (RoBERTa/CLAP)
    text_trainable: bool = False  # False: frozen encoder, pooled features cached once per run
    text_max_tokens: int = 64
    # melody tower
    melody_tower: str = "mean"  # official | mean (masked) | transformer (tiny: mean, chosen on validation, notebook 03)
    melody_width: int = 128
    melody_layers: int = 1
    melody_heads: int = 4
    melody_dropout: float = 0.1
    # melody ids: "mmgen" (numeric token order, `|` after every note: our from-scratch models) or "official"
    # (the authors' re_index.json vocabulary, `|` between notes: wherever ids meet their data or weights)
    melody_layout: str = DEFAULT_LAYOUT
    # optimisation (official: Adam, lr 1e-5, warmup 3200 then cosine)
    batch_size: int = 32
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    eval_every: int = 1  # epochs between validation passes (best checkpoint by mean mAP@10)
    # which validation mAP@10 picks the best checkpoint: ``all`` trained directions (6 tri-modal, 2 two-modal) or
    # ``audio_text`` (A2T and T2A only: the two-modal model's criterion, so Table 2 compares models chosen alike)
    select_by: str = "all"
    checkpoint_every: int = 200  # steps between last/ checkpoints (also at every validation)
    log_every: int = 5
    compare: list[str] = field(default_factory=lambda: ["bimodal", "trimodal"])

    # change no trained weights (melody_layout is keyed by alignment_dir, only when it is not the default)
    UNKEYED: ClassVar[tuple[str, ...]] = ("compare", "log_every", "checkpoint_every", "melody_layout")
    KEYED_UNLESS: ClassVar[dict] = {"select_by": "all"}  # aligners trained before the switch keep their folders

    def __post_init__(self) -> None:
        if self.modalities not in ("atm", "at"):
            raise ValueError(f"alignment.modalities must be 'atm' (tri-modal) or 'at' (two-modal), "
                             f"not {self.modalities!r}")
        if self.melody_tower not in MELODY_TOWERS:
            raise ValueError(f"alignment.melody_tower must be one of {MELODY_TOWERS}, not {self.melody_tower!r}")
        if self.melody_layout not in LAYOUTS:
            raise ValueError(f"alignment.melody_layout must be one of {sorted(LAYOUTS)}, not {self.melody_layout!r}")
        if self.select_by not in SELECT_BY:
            raise ValueError(f"alignment.select_by must be one of {SELECT_BY}, not {self.select_by!r}")
        if self.modalities == "at":
            self.select_by = "all"  # a two-modal model's directions are A2T and T2A: the same criterion, one folder
        if self.text_pooling not in ("mean", "pooler"):
            raise ValueError(f"alignment.text_pooling must be 'mean' or 'pooler', not {self.text_pooling!r}")
        unknown = [v for v in self.compare if v not in VARIANTS]
        if unknown:
            raise ValueError(f"alignment.compare: unknown variants {unknown}; choose from {list(VARIANTS)}")

    @property
    def uses_melody(self) -> bool:
        return "m" in self.modalities


def resolve_variant(cfg: AlignmentConfig, variant: str) -> AlignmentConfig:
    """The config of one named variant (``trimodal``, ``bimodal``, ``trimodal-official`` …)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown alignment variant {variant!r}; choose from {list(VARIANTS)}")
    return replace(cfg, **VARIANTS[variant])


def variants_to_train(cfg: AlignmentConfig) -> list[str]:
    """``bimodal``, ``cfg.compare`` and ``trimodal``, dropping names that resolve to the same model as another."""
    first: dict[str, str] = {}
    for v in ("trimodal", "bimodal", *cfg.compare):
        first.setdefault(repr(resolve_variant(cfg, v)), v)
    keep = set(first.values())
    return [v for v in dict.fromkeys(("bimodal", *cfg.compare, "trimodal")) if v in keep]
