"""Embedding and classifier networks for FAD/KL/IS: musicnn (shipped), VGGish and PANNs (local)."""
from .base import Backbone, ClipFeatures, WeightError, load_state_dict_file, prepare_clips
from .musicnn import BN_EPS, HOP, LAYERS, MTT_LABELS, MUSICNN_SR, Musicnn, MusicnnNet, N_FFT, N_MELS, PATCH_FRAMES, clip_patches, load_musicnn_net, musicnn_checkpoint_dir, musicnn_logmel, musicnn_state_dict, patch_starts
from .panns import CNN14_16K, CNN14_32K, Cnn14Config, Cnn14Net, PANNsCNN14
from .tf1_checkpoint import CheckpointError, TensorEntry, load_checkpoint, read_index
from .vggish import VGGish, VGGishNet, vggish_examples, vggish_mel_matrix

__all__ = [
    "BN_EPS",
    "Backbone",
    "CNN14_16K",
    "CNN14_32K",
    "CheckpointError",
    "ClipFeatures",
    "Cnn14Config",
    "Cnn14Net",
    "HOP",
    "LAYERS",
    "MTT_LABELS",
    "MUSICNN_SR",
    "Musicnn",
    "MusicnnNet",
    "N_FFT",
    "N_MELS",
    "PANNsCNN14",
    "PATCH_FRAMES",
    "TensorEntry",
    "VGGish",
    "VGGishNet",
    "WeightError",
    "clip_patches",
    "load_checkpoint",
    "load_musicnn_net",
    "load_state_dict_file",
    "musicnn_checkpoint_dir",
    "musicnn_logmel",
    "musicnn_state_dict",
    "patch_starts",
    "prepare_clips",
    "read_index",
    "vggish_examples",
    "vggish_mel_matrix",
]
