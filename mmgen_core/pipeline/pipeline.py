"""MMGen end to end: text, audio or text + a melody → music, and the ``mmgen generate`` command.

A query embedding q comes from the aligner (text, or audio for music-to-music). The melody is the
user's (MIDI, or a recording through Basic Pitch) or the top-1 melody retrieved from the training
set's melody database for q. The UNet of the chosen conditioning mode denoises latents under
[q, r] (+ the melody roll), the VAE decodes them to a log-mel and the vocoder to 16 kHz audio.
With ``candidates`` > 1 several samples are drawn per prompt and the one whose audio embedding is
closest to q is kept (as the official code does)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from diffusers import UNet2DConditionModel

from mmgen_core.alignment.config import AlignmentConfig
from mmgen_core.alignment.model import CLMP
from mmgen_core.alignment.stage import load_trained
from mmgen_core.audio.frontend import clip_frames
from mmgen_core.audio.io import (
    SAMPLE_RATE,
    load_audio,
)
from mmgen_core.checkpoints import CheckpointError, load_weights, save_state
from mmgen_core.compute import ComputeConfig
from mmgen_core.config import Profile, load_profile
from mmgen_core.data.manifest import item_notes
from mmgen_core.decoder.decoder import Decoder
from mmgen_core.decoder.vae import VAEConfig, build_vae
from mmgen_core.decoder.vocoder import Vocoder, VocoderConfig, build_hifigan
from mmgen_core.diffusion.conditioning import condition, melody_features
from mmgen_core.diffusion.config import (
    GUIDANCE_FORMS,
    SAMPLERS,
    DiffusionConfig,
    check_mode,
)
from mmgen_core.diffusion.sampling import sample_latents
from mmgen_core.diffusion.unet import build_unet, load_unet
from mmgen_core.melody.extract import extract_notes
from mmgen_core.melody.notes import MelodyError, Note, clip_notes, load_midi, loop_notes
from mmgen_core.melody.tokens import notes_to_text, text_to_notes
from mmgen_core.pipeline.official import (
    OfficialRelease,
    convert_ldm,
    load_official_clmp,
    official_null_condition,
    read_checkpoint,
)
from mmgen_core.retrieval.index import IndexConfig, VectorDB

MIDI_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
CONFIG_FILE = "mmgen_pipeline.json"
NOTES_FILE = "melody_db/notes.json"  # database id → exact notes [pitch, start, end, instrument]


@dataclass
class GenerationConfig:
    """Profile section ``generation``: sampler, steps, guidance, candidates, and what to load.

    ``guidance_form``: ``official`` ε_u + w(ε_c − ε_u) (default, w=3) or ``paper`` (w+1)ε_c − wε_u.
    ``pretrained``: a folder written by :meth:`MMGenPipeline.save_pretrained` to load instead.
    """

    mode: str = "mmgen+roll"
    sampler: str = "ddim"
    steps: int = 100
    guidance: float = 3.0
    guidance_form: str = "official"
    eta: float = 1.0
    clip_x0: float = 0.0  # > 0: keep each step's predicted clean latent within ±clip_x0 standard deviations
    candidates: int = 3
    seconds: float = 0.0  # 0 = the training clip length
    tail_frames: int = 4  # latent frames denoised past the end and dropped: the UNet's last frame is unreliable
    batch_size: int = 4  # prompts denoised together (× candidates, × 2 for guidance)
    pretrained: str | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"generation.sampler must be one of {SAMPLERS}, not {self.sampler!r}")
        if self.guidance_form not in GUIDANCE_FORMS:
            raise ValueError(f"generation.guidance_form must be one of {GUIDANCE_FORMS}, not {self.guidance_form!r}")
        if self.steps < 1 or self.candidates < 1 or self.batch_size < 1 or self.guidance < 0 or self.clip_x0 < 0:
            raise ValueError("generation: steps, candidates and batch_size must be >= 1, guidance and clip_x0 >= 0")
        if self.tail_frames < 0 or self.seconds < 0:
            raise ValueError("generation: tail_frames and seconds must be >= 0")


@dataclass
class Generation:
    """Generated clips and how they were made: the melody each followed and the kept candidate's score."""
    waveforms: np.ndarray  # (B, samples) float32, 16 kHz
    mels: torch.Tensor  # (B, frames, 64) log-mel before vocoding
    melodies: list[list[Note]]  # the melody used per clip ([] in mode 'text')
    melody_ids: list[str]  # retrieved training clip id, 'user', or '' (mode 'text')
    scores: np.ndarray  # audio–query similarity of each kept candidate
    sample_rate: int = SAMPLE_RATE


def load_melody(source: str | Path | Sequence[Note], seconds: float | None = None, *, track: int | None = None,
                start: float = 0.0) -> list[Note]:
    """A user melody: a Note list, a MIDI file (``track``: one of its tracks), or an audio recording (notes by Basic
    Pitch); from ``start`` seconds in (shifted to 0) and, with ``seconds``, its first ``seconds`` from there."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise MelodyError(f"{path}: melody file not found")
        if track is not None and path.suffix.lower() not in MIDI_SUFFIXES:
            raise MelodyError(f"{path}: a track can be picked from a MIDI file only")
        if path.suffix.lower() in MIDI_SUFFIXES:
            notes = load_midi(path, track)
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            found = extract_notes([path], progress=False)[0]
            if isinstance(found, Exception):
                raise found
            notes = found
        else:
            raise MelodyError(f"{path}: a melody must be MIDI ({', '.join(MIDI_SUFFIXES)}) or audio "
                              f"({', '.join(AUDIO_SUFFIXES)}), not {path.suffix or 'a file without extension'}")
        name = str(path)
    else:
        notes, name = list(source), "melody"
    if start or seconds is not None:
        notes = clip_notes(notes, start, start + seconds if seconds is not None else float("inf"))
    if not notes:
        where = (f" in the {seconds:.2f} s from {start:g} s" if seconds else f" after {start:g} s") \
            if start or seconds else ""
        raise MelodyError(f"{name}: no notes{where}")
    return notes


def best_candidates(sims: np.ndarray, n: int, candidates: int) -> np.ndarray:
    """Row of the kept candidate per prompt: the one whose audio is most similar to its query (prompt i's
    candidates are rows i·candidates … i·candidates + candidates − 1)."""
    return sims.reshape(n, candidates).argmax(1) + np.arange(n) * candidates


def score_melodies(db, manifest) -> dict[str, list[Note]]:
    """Each database clip's exact score notes by id: retrieval finds a clip by its (Basic Pitch) melody
    embedding, generation follows that clip's own notes, as the roll in training. (Its token text would
    not do: the token format serialises chords and accompaniment, so notes decoded from it are time-warped.)"""
    by_id = {it.id: it for it in manifest.items("train")}
    missing = [i for i in db.ids if i not in by_id]
    if missing:
        raise CheckpointError(f"{len(missing)} melody database ids are not train clips of this dataset "
                              f"(first: {missing[0]!r}); rebuild the database (notebook 04)")
    return {i: item_notes(manifest, by_id[i]) for i in db.ids}


class MMGenPipeline:
    """Text / audio / text + melody → music with one conditioning mode's UNet."""
    def __init__(self, unet: UNet2DConditionModel, decoder: Decoder, embedder, melody_db,
                 diffusion: DiffusionConfig, generation: GenerationConfig, clip_seconds: float,
                 compute: ComputeConfig | None = None, melody_notes: dict[str, list[Note]] | None = None):
        self.unet, self.decoder, self.embedder, self.melody_db = unet.eval(), decoder, embedder, melody_db
        self.melody_notes = melody_notes  # database id → exact notes for the roll (None: decode its tokens)
        self.diffusion, self.generation, self.clip_seconds = diffusion, generation, clip_seconds
        self.mode = generation.mode
        self.null_cond: torch.Tensor | None = None  # guidance's null condition: zeros (ours) or the authors' [u, u]
        self.compute = compute or ComputeConfig()  # device, precision and attention kernel of sampling and decoding
        self.to(self.compute.resolve_device())

    def to(self, device: torch.device | str) -> "MMGenPipeline":
        """Move the UNet, the decoder and the aligner to ``device`` (and pick the attention kernel for it)."""
        self.unet.to(device)
        self.decoder.to(device)
        if isinstance(self.embedder, torch.nn.Module):
            self.embedder.to(device)
        self.compute.prepare(self.unet, torch.device(device), compile=False)
        return self

    # ------------------------------------------------------------ generation

    def _queries(self, text, audio) -> tuple[torch.Tensor, int]:
        if (text is None) == (audio is None):
            raise ValueError("give exactly one of text (text → music) or audio (audio → music)")
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            empty = [i for i, t in enumerate(texts) if not str(t).strip()]
            if not texts or empty:
                raise ValueError(f"empty text prompt (positions {empty}); describe the music in words")
            broken = [i for i, t in enumerate(texts) if not str(t).encode("utf-8", "replace").decode() == str(t)]
            if broken:
                raise ValueError(f"text prompt(s) {broken} hold bytes that are not UTF-8 (lone surrogates); decode "
                                 "the caption as UTF-8 (or its real encoding) first")
            return self.embedder.embed_text(texts).float().cpu(), len(texts)
        clips = [audio] if isinstance(audio, (str, Path)) or (isinstance(audio, np.ndarray) and audio.ndim == 1) \
            else list(audio)
        wavs = [load_audio(a) if isinstance(a, (str, Path)) else np.asarray(a, dtype=np.float32) for a in clips]
        return self.embedder.embed_audio(wavs).float().cpu(), len(wavs)

    def _melodies(self, q: torch.Tensor, melody, melody_tokens: Sequence[str] | None,
                  seconds: float) -> tuple[torch.Tensor, list[list[Note]], list[str]]:
        n = len(q)
        if self.mode == "text":
            return torch.zeros_like(q), [[] for _ in range(n)], ["" for _ in range(n)]
        if melody is not None:
            many = isinstance(melody, (list, tuple)) and melody and not isinstance(melody[0], Note)
            sources = list(melody) if many else [melody] * n
            if len(sources) != n:
                raise ValueError(f"{len(sources)} melodies for {n} prompts; give one melody or one per prompt")
            notes = [load_melody(s, seconds) for s in sources]
            texts = [notes_to_text(x) for x in notes] if melody_tokens is None else list(melody_tokens)
            if len(texts) != n:
                raise ValueError(f"{len(texts)} melody token texts for {n} prompts; give one per prompt")
            r = self.embedder.embed_melody(texts).float().cpu()
            return r, notes, ["user"] * n
        if melody_tokens is not None:
            raise ValueError("melody_tokens says which tokens embed a given melody: pass melody= too")
        found = self.melody_db.search(q.numpy(), k=1)
        rows, ids = found.indices[:, 0], [top[0] for top in found.ids]
        exact = [self.melody_notes[i] if self.melody_notes and i in self.melody_notes
                 else text_to_notes(self.melody_db.tokens_of(int(row))) for i, row in zip(ids, rows)]
        # a retrieved melody is one training clip long: longer pieces repeat it
        notes = [loop_notes(x, self.clip_seconds, seconds) for x in exact]
        return torch.from_numpy(self.melody_db.embeddings(rows)).float(), notes, ids

    def __call__(self, text: str | Sequence[str] | None = None, *, audio: Any = None, melody: Any = None,
                 melody_tokens: Sequence[str] | None = None, seed: int = 0, steps: int | None = None, guidance: float | None = None, sampler: str | None = None,
                 guidance_form: str | None = None, eta: float | None = None, clip_x0: float | None = None,
                 candidates: int | None = None, seconds: float | None = None, tail_frames: int | None = None,
                 progress: bool = True) -> Generation:
        """Generate one clip per prompt (text or audio), following ``melody`` or a retrieved one.

        ``melody``: a MIDI/audio path or Note list (for every prompt) or a list of them (one per prompt).
        ``melody_tokens``: one token text per prompt that r is embedded from instead of ``melody``'s own
        tokens (the oracle: a clip's Basic Pitch tokens for r, as in training, its exact notes for the roll).
        Same arguments and seed → the same audio.
        """
        g = replace(self.generation, **{k: v for k, v in dict(steps=steps, guidance=guidance, sampler=sampler,
                                                              guidance_form=guidance_form, eta=eta, clip_x0=clip_x0,
                                                              candidates=candidates, seconds=seconds,
                                                              tail_frames=tail_frames).items()
                                       if v is not None})
        secs = g.seconds or self.clip_seconds
        # the UNet's last latent frame comes out several times louder than the rest (a click once decoded):
        # denoise a few frames more (a multiple of the UNet's down-sampling) and drop them
        factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        tail = -(-g.tail_frames // factor) * factor
        latent_frames, window = clip_frames(secs) // 4 + tail, clip_frames(self.clip_seconds) // 4 + tail
        q, n = self._queries(text, audio)
        r, notes, ids = self._melodies(q, melody, melody_tokens, clip_frames(secs) / 100.0)
        cond = condition(self.mode, q, r).repeat_interleave(g.candidates, 0)
        roll = None
        if self.mode == "mmgen+roll":
            roll = torch.from_numpy(np.stack([melody_features(x, latent_frames, self.diffusion.roll) for x in notes]))
            roll = roll.repeat_interleave(g.candidates, 0)
        gen = torch.Generator().manual_seed(seed)
        step = g.batch_size * g.candidates
        with self.compute.autocast(self.unet.device):
            latents = torch.cat([sample_latents(self.unet, self.diffusion, cond[i:i + step],
                                                None if roll is None else roll[i:i + step], latent_frames,
                                                sampler=g.sampler, steps=g.steps, guidance=g.guidance,
                                                guidance_form=g.guidance_form, eta=g.eta, clip=g.clip_x0, window=window,
                                                generator=gen, progress=progress, null_cond=self.null_cond)
                                 for i in range(0, len(cond), step)])
            mels = self.decoder.decode(latents[:, :, :latent_frames - tail])
        with self.compute.for_part("vocoder").autocast(self.unet.device):
            wavs = self.decoder.vocode(mels).numpy()
        sims = np.zeros(len(wavs), dtype=np.float32)
        if g.candidates > 1:
            a = self.embedder.embed_audio(list(wavs)).float().cpu()
            sims = (a * q.repeat_interleave(g.candidates, 0)).sum(-1).numpy()
        best = best_candidates(sims, n, g.candidates)
        return Generation(wavs[best], mels[best], notes, ids, sims[best])

    # ------------------------------------------------------------ saving and loading

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write unet/, vae/, vocoder/, melody_db/, alignment/ and the configs: a self-contained folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(folder / "unet")
        self.decoder.save_pretrained(folder)
        self.melody_db.save(folder / "melody_db")
        if self.melody_notes:
            (folder / NOTES_FILE).write_text(json.dumps(
                {i: [[n.pitch, n.start, n.end, n.instrument] for n in notes] for i, notes in self.melody_notes.items()}))
        meta = {"clip_seconds": self.clip_seconds, "diffusion": asdict(self.diffusion),
                "generation": asdict(self.generation), "alignment": None}
        if isinstance(self.embedder, CLMP):
            save_state(folder / "alignment", {"model": self.embedder.trained_parts().state_dict()})
            meta["alignment"] = asdict(self.embedder.cfg)
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, embedder=None, compute: ComputeConfig | None = None,
                        **generation: Any) -> "MMGenPipeline":
        """Load a folder written by :meth:`save_pretrained`; ``generation`` overrides its settings."""
        folder = Path(folder)
        if not (folder / CONFIG_FILE).exists():
            raise CheckpointError(f"{folder}: no {CONFIG_FILE}; not a saved MMGen pipeline "
                                  "(write one with MMGenPipeline.save_pretrained)")
        meta = json.loads((folder / CONFIG_FILE).read_text())
        if embedder is None:
            if meta["alignment"] is None:
                raise CheckpointError(f"{folder}: saved with a custom embedder; pass embedder=... to from_pretrained")

            embedder = load_trained(CLMP(AlignmentConfig(**meta["alignment"]), meta["clip_seconds"]), folder / "alignment")
        gen = GenerationConfig(**{**meta["generation"], **generation})
        if gen.mode != meta["generation"]["mode"]:
            raise CheckpointError(f"{folder}: this pipeline's UNet is mode {meta['generation']['mode']!r}, "
                                  f"not {gen.mode!r}; save one per mode")
        notes = None
        if (folder / NOTES_FILE).exists():
            notes = {i: [Note(int(p), float(a), float(b), int(k)) for p, a, b, k in rows]
                     for i, rows in json.loads((folder / NOTES_FILE).read_text()).items()}
        return cls(load_unet(folder), Decoder.from_pretrained(folder), embedder, VectorDB.load(folder / "melody_db"),
                   DiffusionConfig(**meta["diffusion"]), gen, float(meta["clip_seconds"]), compute, notes)

    @classmethod
    def from_official(cls, folder: str | Path, profile: str | Profile = "paper", compute: ComputeConfig | None = None,
                      **generation: Any) -> "MMGenPipeline":
        """The authors' release (:class:`~mmgen_core.pipeline.official.OfficialRelease`) on ``profile``'s models.

        Their UNet conditions on [q, r] by FiLM with no roll: mode ``mmgen``, ε-prediction. The VAE and HiFi-GAN
        come from the same checkpoint, the CLMP from ``mg2-clmp.pt`` (RoBERTa's tokenizer and config from the
        profile's ``alignment.text_model``, a local roberta-base folder). r is the exact top-1 of ``melody.npy``
        (a flat index over it; their ``melody.faiss`` is only checked against it). The release keeps no notes for
        its database melodies, so ``Generation.melodies`` of retrieved ones are empty."""
        prof = profile if isinstance(profile, Profile) else load_profile(profile)
        gen = GenerationConfig(**{**prof.section("generation"), "pretrained": None, "mode": "mmgen", **generation})
        if gen.mode != "mmgen":
            raise CheckpointError(f"{folder}: the authors' UNet is conditioned on [q, r] alone (mode 'mmgen'), "
                                  f"not {gen.mode!r}")
        release = OfficialRelease.find(folder)
        ldm_path = str(release.path("ldm"))
        ldm = read_checkpoint(ldm_path)
        clip_seconds = float(prof.section("data")["clip_seconds"])
        clmp_state, clmp_source = release.clmp_state(ldm)
        embedder = load_official_clmp(clmp_state, prof.section("alignment", AlignmentConfig), clip_seconds, clmp_source)
        diffusion = replace(prof.section("diffusion", DiffusionConfig), prediction="epsilon")
        parts = convert_ldm(ldm, diffusion, ldm_path)
        vae_cfg = prof.section("vae", VAEConfig)
        unet, vae, hifigan = (build_unet(diffusion, "mmgen", vae_cfg.latent_channels), build_vae(vae_cfg),
                              build_hifigan(prof.section("vocoder", VocoderConfig)))
        for model, state in ((unet, parts.unet), (vae, parts.vae), (hifigan, parts.vocoder)):
            load_weights(model, state, ldm_path)
        vae.register_to_config(scaling_factor=parts.scale_factor)
        vectors = release.melody_vectors()
        ids = [str(i) for i in range(len(vectors))]
        pipe = cls(unet, Decoder(vae, Vocoder("hifigan", hifigan.eval())), embedder,
                   VectorDB.build(vectors, ids, IndexConfig(kind="flat")), diffusion, gen, clip_seconds, compute,
                   {i: [] for i in ids})
        pipe.null_cond = official_null_condition(embedder)
        return pipe
