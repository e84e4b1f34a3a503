"""MMGen end to end: text / audio / melody → music, the generation experiments (notebook 07), and the authors'
released checkpoints (official.py)."""
from .experiments import (
    LONG_CLIP_SECONDS,
    choose_sampler,
    guidance_sweep,
    sampler_sweep,
    time_generation,
)
from .official import (
    OfficialRelease,
    convert_clmp,
    convert_hifigan,
    convert_laion_clap,
    convert_ldm,
    read_checkpoint,
)
from .pipeline import (
    AUDIO_SUFFIXES,
    CONFIG_FILE,
    MIDI_SUFFIXES,
    Generation,
    GenerationConfig,
    MMGenPipeline,
    best_candidates,
    load_melody,
    score_melodies,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "CONFIG_FILE",
    "Generation",
    "GenerationConfig",
    "LONG_CLIP_SECONDS",
    "MIDI_SUFFIXES",
    "MMGenPipeline",
    "OfficialRelease",
    "best_candidates",
    "choose_sampler",
    "convert_clmp",
    "convert_hifigan",
    "convert_laion_clap",
    "convert_ldm",
    "guidance_sweep",
    "load_melody",
    "read_checkpoint",
    "sampler_sweep",
    "score_melodies",
    "time_generation",
]
