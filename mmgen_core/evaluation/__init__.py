"""Evaluation of generated music: FAD/KL/IS with their backbones, melody adherence, speed."""
from .audio_metrics import (
    FadResult,
    fad,
    fad_bootstrap,
    fad_inf,
    frechet_distance,
    gaussian_stats,
    inception_score,
    kl_divergence,
    normalise_tags,
    softmax,
)
from .backbones import (
    BN_EPS,
    CNN14_16K,
    CNN14_32K,
    HOP,
    LAYERS,
    MTT_LABELS,
    MUSICNN_SR,
    N_FFT,
    N_MELS,
    PATCH_FRAMES,
    Backbone,
    CheckpointError,
    ClipFeatures,
    Cnn14Config,
    Cnn14Net,
    Musicnn,
    MusicnnNet,
    PANNsCNN14,
    TensorEntry,
    VGGish,
    VGGishNet,
    WeightError,
    clip_patches,
    load_checkpoint,
    load_musicnn_net,
    load_state_dict_file,
    musicnn_checkpoint_dir,
    musicnn_logmel,
    musicnn_state_dict,
    patch_starts,
    prepare_clips,
    read_index,
    vggish_examples,
    vggish_mel_matrix,
)
from .evaluate import BACKBONES, EvaluationConfig, evaluate_set, load_backbone
from .melody_metrics import chroma_similarity, extraction_scores
from .speed import text_tower_cost

__all__ = ["BACKBONES", "BN_EPS", "Backbone", "CNN14_16K", "CNN14_32K", "CheckpointError", "ClipFeatures", "Cnn14Config", "Cnn14Net", "EvaluationConfig", "FadResult", "HOP", "LAYERS", "MTT_LABELS", "MUSICNN_SR", "Musicnn", "MusicnnNet", "N_FFT", "N_MELS", "PANNsCNN14", "PATCH_FRAMES", "TensorEntry", "VGGish", "VGGishNet", "WeightError", "chroma_similarity", "clip_patches", "evaluate_set", "extraction_scores", "fad", "fad_bootstrap", "fad_inf", "frechet_distance", "gaussian_stats", "inception_score", "kl_divergence", "load_backbone", "load_checkpoint", "load_musicnn_net", "load_state_dict_file", "musicnn_checkpoint_dir", "musicnn_logmel", "musicnn_state_dict", "normalise_tags", "patch_starts", "prepare_clips", "read_index", "softmax", "text_tower_cost", "vggish_examples", "vggish_mel_matrix"]
