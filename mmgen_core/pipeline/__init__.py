"""MMGen end to end: text / audio / melody → music, and the generation experiments (notebook 07)."""
from .experiments import melody_adherence
from .generate import generate_main
from .pipeline import (
    AUDIO_SUFFIXES,
    CONFIG_FILE,
    MIDI_SUFFIXES,
    Generation,
    GenerationConfig,
    MMGenPipeline,
    load_melody,
    load_pipelines,
    score_melody_db,
)

__all__ = ["AUDIO_SUFFIXES", "CONFIG_FILE", "Generation", "GenerationConfig", "MIDI_SUFFIXES", "MMGenPipeline", "generate_main", "load_melody", "load_pipelines", "melody_adherence", "score_melody_db"]
