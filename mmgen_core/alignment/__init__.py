"""Tri-modal alignment (CLMP): audio, text and melody in one embedding space (notebook 03)."""
from .config import AlignmentConfig, JOINT_DIM, MELODY_TOWERS, MODALITIES, VARIANTS, resolve_variant, variants_to_train
from .embeddings import EmbeddingSet, embed_split, evaluate, export_embeddings, load_embeddings, mean_map10
from .features import SplitData, caption_choice, manifest_fingerprint, prepare_split
from .metrics import DIRECTIONS, RECALL_AT, all_directions, chance_recall, ranks_from_similarity, retrieval_scores, scores_from_ranks
from .model import CLMP, clmp_loss
from .stage import AlignmentRun, alignment_dir, load_or_train_alignment, load_trained
from .towers import AudioTower, BagOfTokensMelody, LogitScale, MAX_NOTES, Projection, TextTower, TransformerMelody, check_captions, load_clap_audio, melody_ids, melody_tower, scratch_audio_config, text_model_dir
from .train import TrainLog, alignment_loss_fn, epoch_order, train_alignment, warmup_cosine

__all__ = [
    "AlignmentConfig",
    "AlignmentRun",
    "AudioTower",
    "BagOfTokensMelody",
    "CLMP",
    "DIRECTIONS",
    "EmbeddingSet",
    "JOINT_DIM",
    "LogitScale",
    "MAX_NOTES",
    "MELODY_TOWERS",
    "MODALITIES",
    "Projection",
    "RECALL_AT",
    "SplitData",
    "TextTower",
    "TrainLog",
    "TransformerMelody",
    "VARIANTS",
    "alignment_dir",
    "alignment_loss_fn",
    "all_directions",
    "caption_choice",
    "chance_recall",
    "check_captions",
    "clmp_loss",
    "embed_split",
    "epoch_order",
    "evaluate",
    "export_embeddings",
    "load_clap_audio",
    "load_embeddings",
    "load_or_train_alignment",
    "load_trained",
    "manifest_fingerprint",
    "mean_map10",
    "melody_ids",
    "melody_tower",
    "prepare_split",
    "ranks_from_similarity",
    "resolve_variant",
    "retrieval_scores",
    "scores_from_ranks",
    "scratch_audio_config",
    "text_model_dir",
    "train_alignment",
    "variants_to_train",
    "warmup_cosine",
]
