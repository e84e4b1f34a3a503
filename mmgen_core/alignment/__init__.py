"""Tri-modal alignment ("CLMP"): audio, text and melody in one embedding space (DESIGN §2.2)."""
from .data import SplitData, prepare_split
from .model import (CLMP, JOINT_DIM, MELODY_TOWERS, VARIANTS, AlignmentConfig, TextTower, clmp_loss, melody_ids,
                    resolve_variant, variants_to_train)
from .report import PAPER_TABLE2, melody_effect, table2, table2_long, variant_label
from .train import (AlignmentRun, EmbeddingSet, TrainLog, alignment_config, embed_split, evaluate,
                    export_embeddings, load_embeddings, load_or_train_alignment, load_trained, run_folder,
                    text_tower_cost, train_alignment)

__all__ = [
    "CLMP", "JOINT_DIM", "MELODY_TOWERS", "PAPER_TABLE2", "VARIANTS", "AlignmentConfig", "AlignmentRun",
    "EmbeddingSet", "SplitData", "TextTower", "TrainLog", "alignment_config", "clmp_loss", "embed_split", "evaluate",
    "export_embeddings", "load_embeddings", "load_or_train_alignment", "load_trained", "melody_effect", "melody_ids",
    "prepare_split", "resolve_variant", "run_folder", "table2", "table2_long", "text_tower_cost", "train_alignment",
    "variant_label", "variants_to_train",
]
