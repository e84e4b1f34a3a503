"""MMGenPipeline and ``mmgen generate`` on smoke-sized random models and a synthetic manifest."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pretty_midi
import pytest
import soundfile as sf
import torch
from conftest import synth

from mmgen_core.alignment import CLMP, AlignmentConfig
from mmgen_core.audio import save_audio
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.cli import generate_main, output_paths
from mmgen_core.data import Item, Manifest, item_notes, require_selection_split
from mmgen_core.decoder import (
    Decoder,
    VAEConfig,
    Vocoder,
    VocoderConfig,
    build_hifigan,
    build_vae,
)
from mmgen_core.diffusion import DiffusionConfig, build_unet, melody_features
from mmgen_core.evaluation.melody_metrics import chroma_similarity
from mmgen_core.melody import MelodyError, Note, load_midi, notes_to_text, save_midi, text_to_notes
from mmgen_core.pipeline import (
    GenerationConfig,
    MMGenPipeline,
    best_candidates,
    load_melody,
    score_melodies,
)
from mmgen_core.pipeline.experiments import (
    choose_sampler,
    guidance_sweep,
    sampler_sweep,
    time_generation,
)
from mmgen_core.pipeline.quality import load_probe
from mmgen_core.retrieval import VectorDB

SECONDS = 0.64  # 64 mel frames → 16 latent frames
DIFF = DiffusionConfig(block_out_channels=[8, 16], attention=[False, True], head_channels=8, norm_num_groups=4)
GEN = GenerationConfig(steps=2, candidates=2, batch_size=2)


def _melody(k: int) -> list[Note]:
    return [Note(60 + (k + i) % 12, 0.15 * i, 0.15 * i + 0.12) for i in range(4)]


def _accompanied(k: int) -> list[Note]:
    """A tune over a held bass note: its token text serialises the overlap, so notes decoded from it are warped."""
    return _melody(k) + [Note(48 + k, 0.0, 0.6, instrument=1)]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    root = tmp_path_factory.mktemp("data")
    items = []
    for k in range(4):
        notes = _accompanied(k)
        save_audio(root / f"c{k}.wav", synth(notes, SECONDS))
        save_midi(notes, root / f"c{k}.mid")
        items.append(Item(id=f"c{k}", audio=f"c{k}.wav", captions=[f"tune number {k}", f"melody {k} on flute"],
                          melody=notes_to_text(notes), melody_gt=notes_to_text(notes), split="train",
                          meta={"score_midi": f"c{k}.mid"}))
    man = Manifest(root)
    man.write(items)
    return man


@pytest.fixture(scope="module")
def embedder() -> CLMP:
    torch.manual_seed(0)
    cfg = AlignmentConfig(audio_spec_size=64, audio_patch=16, audio_window=2, audio_width=8, audio_depths=[1, 1],
                          audio_heads=[1, 1], melody_tower="mean")
    return CLMP(cfg, SECONDS).eval()


def _db(embedder, manifest) -> VectorDB:
    items = manifest.items("train")
    vectors = embedder.embed_melody([it.melody for it in items]).float().numpy()
    return VectorDB.build(vectors, [it.id for it in items], tokens=[it.melody for it in items])


def _pipe(mode: str, embedder, manifest) -> MMGenPipeline:
    torch.manual_seed(1)
    vae = build_vae(VAEConfig(block_out_channels=[4, 4, 8], norm_num_groups=2))
    vocoder = Vocoder("hifigan", build_hifigan(VocoderConfig(upsample_initial_channel=32, resblock_kernel_sizes=[3],
                                                             resblock_dilation_sizes=[[1]])).eval())
    db = _db(embedder, manifest)
    return MMGenPipeline(build_unet(DIFF, mode, 8), Decoder(vae, vocoder), embedder, db,
                         DIFF, GenerationConfig(**{**GEN.__dict__, "mode": mode}), SECONDS,
                         melody_notes=score_melodies(db, manifest))


@pytest.fixture(scope="module")
def pipe(embedder, manifest) -> MMGenPipeline:
    return _pipe("mmgen+roll", embedder, manifest)


def test_text_to_music_shapes_and_retrieved_melody(pipe, manifest):
    out = pipe(["a flute tune", "a calm melody"], seed=0, progress=False)
    assert out.waveforms.shape == (2, 64 * 160) and out.waveforms.dtype == np.float32
    assert out.mels.shape == (2, 64, 64) and np.isfinite(out.waveforms).all()
    train_ids = {it.id for it in manifest.items("train")}
    assert set(out.melody_ids) <= train_ids and all(len(m) > 0 for m in out.melodies)
    assert out.scores.shape == (2,)
    by_id = {it.id: it for it in manifest.items("train")}
    for mid, notes in zip(out.melody_ids, out.melodies):  # the roll follows the retrieved clip's score notes
        assert notes == item_notes(manifest, by_id[mid])


def test_roll_of_retrieved_accompanied_clip_is_the_roll_of_its_notes(pipe, manifest):
    out = pipe("tune number 2", seed=0, candidates=1, progress=False)
    exact = item_notes(manifest, {it.id: it for it in manifest.items()}[out.melody_ids[0]])
    frames = 16
    roll = melody_features(out.melodies[0], frames, DIFF.roll)
    assert np.array_equal(roll, melody_features(exact, frames, DIFF.roll))
    decoded = text_to_notes(notes_to_text(exact))  # what the roll was built from before: time-warped
    assert not np.array_equal(roll, melody_features(decoded, frames, DIFF.roll))


def test_saved_pipeline_keeps_the_exact_notes(pipe, tmp_path):
    loaded = MMGenPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.melody_notes == pipe.melody_notes


def test_oracle_tokens_embed_r_while_the_roll_follows_the_notes(pipe, manifest):
    it = manifest.items()[1]
    out = pipe(it.caption, melody=[item_notes(manifest, it)], melody_tokens=[it.melody], seed=0, candidates=1,
               progress=False)
    assert out.melodies[0] == item_notes(manifest, it)
    with pytest.raises(ValueError, match="melody_tokens"):
        pipe(it.caption, melody_tokens=[it.melody], progress=False)


def test_score_melodies_rejects_foreign_ids(embedder, manifest):
    db = VectorDB.build(np.eye(2, 8, dtype=np.float32), ["c0", "elsewhere"])
    with pytest.raises(CheckpointError, match="not train clips"):
        score_melodies(db, manifest)


def test_user_melody_and_audio_query(pipe, manifest, tmp_path):
    notes = _melody(5)
    save_midi(notes, tmp_path / "m.mid")
    out = pipe("a tune", melody=tmp_path / "m.mid", seed=1, progress=False)
    assert out.melody_ids == ["user"] and [n.pitch for n in out.melodies[0]] == [n.pitch for n in notes]
    out = pipe(audio=manifest.audio_path(manifest.items()[0]), seed=1, progress=False)
    assert out.waveforms.shape == (1, 64 * 160) and out.melody_ids[0].startswith("c")


def test_candidates_are_reranked_by_similarity(pipe):
    one = pipe("a tune", seed=3, candidates=1, progress=False)
    two = pipe("a tune", seed=3, candidates=3, progress=False)
    assert one.scores[0] == 0.0 and -1.0 <= two.scores[0] <= 1.0
    assert two.waveforms.shape == one.waveforms.shape
    q = pipe.embedder.embed_text(["a tune"]).float()
    kept = pipe.embedder.embed_audio(list(two.waveforms)).float()
    assert float((kept * q).sum()) == pytest.approx(float(two.scores[0]), abs=1e-4)  # the score is the kept clip's


def test_reranking_keeps_the_most_similar_candidate_of_each_prompt():
    sims = np.array([0.1, 0.9, 0.5, 0.7, 0.2, 0.3])  # two prompts × three candidates
    assert list(best_candidates(sims, 2, 3)) == [1, 3]  # argmin would keep rows 0 and 4


def test_text_mode_uses_no_melody(embedder, manifest):
    out = _pipe("text", embedder, manifest)("a tune", seed=0, progress=False)
    assert out.melody_ids == [""] and out.melodies == [[]]


def test_saved_pipeline_gives_identical_audio(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    again = MMGenPipeline.from_pretrained(tmp_path / "p")
    a = pipe("a flute tune", seed=5, progress=False)
    b = again("a flute tune", seed=5, progress=False)
    assert np.array_equal(a.waveforms, b.waveforms) and a.melody_ids == b.melody_ids
    assert not np.array_equal(a.waveforms, again("a flute tune", seed=6, progress=False).waveforms)
    with pytest.raises(CheckpointError, match="mode"):
        MMGenPipeline.from_pretrained(tmp_path / "p", mode="text")


def test_bad_inputs_are_explained(pipe, tmp_path):
    with pytest.raises(ValueError, match="empty text"):
        pipe("  ", progress=False)
    with pytest.raises(ValueError, match=r"\[1\] hold bytes that are not UTF-8"):
        pipe(["a tune", b"caf\xe9".decode("utf-8", "surrogateescape")], progress=False)
    with pytest.raises(ValueError, match="exactly one"):
        pipe(progress=False)
    empty = pretty_midi.PrettyMIDI()
    empty.write(str(tmp_path / "empty.mid"))
    with pytest.raises(MelodyError, match="empty.mid"):
        load_melody(tmp_path / "empty.mid")
    (tmp_path / "x.txt").write_text("C D E")
    with pytest.raises(MelodyError, match="MIDI"):
        load_melody(tmp_path / "x.txt")
    with pytest.raises(CheckpointError, match="mmgen_pipeline.json"):
        MMGenPipeline.from_pretrained(tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--out", "o.wav"], "--text"),
    (["--text", "a tune"], "--out"),
    (["--text", "a tune", "--out", "o.wav", "--melody", "missing.mid"], "missing.mid"),
    (["--text", "a tune", "--out", "o.wav", "--melody", "notes.txt"], "--melody"),
    (["--text", "  ", "--out", "o.wav"], "--text"),
    (["--text", b"caf\xe9 au lait".decode("utf-8", "surrogateescape"), "--out", "o.wav"], "not UTF-8"),
    (["--text", "a tune", "--out", "o.mp3"], "--out"),
    (["--text", "a tune", "--out", "nodir/o.wav"], "nodir"),
    (["--text", "a tune", "--out", "o.wav", "--steps", "0"], "--steps"),
    (["--text", "a tune", "--out", "o.wav", "--melody", "empty.mid"], "empty.mid"),
    (["--text", "a tune", "--out", "o.wav", "--pipeline", "."], "--pipeline"),
    (["--text", "a", "--audio", "c.wav", "--out", "o.wav"], "--audio"),
    (["--text", "a", "--prompts", "p.txt", "--out", "o.wav"], "--prompts"),
    (["--prompts", "latin1.txt", "--out", "o.wav"], "latin1.txt, line 2: bytes that are not UTF-8"),
    (["--prompts", "blank.csv", "--out", "o.wav"], "blank.csv, line 3: empty caption in column 'caption'"),
    (["--prompts", "none.txt", "--out", "o.wav"], "none.txt: no captions"),
    (["--text", "a tune", "--out", "o.wav", "--melody-track", "1"], "give one"),
    (["--text", "a tune", "--out", "o.wav", "--melody", "two.mid", "--melody-track", "5"], "its tracks are 0: "),
    (["--text", "a tune", "--out", "o.wav", "--melody", "two.mid", "--melody-start", "60"], "no notes after 60 s"),
    (["--text", "a tune", "--out", "o.wav", "--melody", "two.mid", "--melody-start", "-1"], "--melody-start"),
    (["--text", "a tune", "--out", "o.wav", "--n", "0"], "--n must be"),
    (["--text", "a tune", "--out", "o.wav", "--save-melody", "m.wav"], "--save-melody"),
    (["--text", "a tune", "--out", "o.wav", "--device", "tpu"], "--device tpu"),
])
def test_cli_rejects_bad_input(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("C D E")
    (tmp_path / "c.wav").write_bytes(b"")
    pretty_midi.PrettyMIDI().write(str(tmp_path / "empty.mid"))
    (tmp_path / "p.txt").write_text("a tune\n")
    (tmp_path / "latin1.txt").write_bytes("a tune\ncaf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "blank.csv").write_text("file,caption\na.wav,a tune\nb.wav,  \n")
    (tmp_path / "none.txt").write_text("\n  \n")
    save_midi(_melody(1) + [Note(40, 0.0, 0.5, instrument=1)], tmp_path / "two.mid")
    with pytest.raises(SystemExit) as exc:
        generate_main(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_cli_generates_from_a_saved_pipeline(pipe, tmp_path, capsys):
    pipe.save_pretrained(tmp_path / "p")
    save_midi(_melody(2), tmp_path / "m.mid")
    code = generate_main(["--text", "a flute tune", "--melody", str(tmp_path / "m.mid"), "--out",
                          str(tmp_path / "o.wav"), "--pipeline", str(tmp_path / "p"), "--steps", "2", "--seed", "3"])
    assert code == 0 and (tmp_path / "o.wav").exists() and "melody user" in capsys.readouterr().out


def test_cli_generates_variations_of_every_prompt_following_one_track_and_saves_the_melodies(pipe, tmp_path, capsys,
                                                                                             monkeypatch):
    """A prompts file × --n variations: one numbered wav per clip, and with --save-melody the melody each followed
    (here track 0 of a two-track file, from 0.15 s in); --seconds shorter than the melody says it was cut, and
    without --seconds the music lasts as long as the melody."""
    pipe.save_pretrained(tmp_path / "p")
    tune = [Note(60 + i, 0.15 * i, 0.15 * i + 0.12) for i in range(10)]
    save_midi(tune + [Note(40, 0.0, 1.5, instrument=1)], tmp_path / "m.mid")
    (tmp_path / "prompts.csv").write_text("id,caption\n1,a flute tune\n2,\"a calm harp, slow\"\n")
    common = ["--melody", str(tmp_path / "m.mid"), "--melody-track", "0", "--melody-start", "0.15",
              "--pipeline", str(tmp_path / "p"), "--steps", "2"]
    seeds, call = [], MMGenPipeline.__call__
    monkeypatch.setattr(MMGenPipeline, "__call__", lambda self, *a, **kw: seeds.append(kw["seed"]) or call(self, *a, **kw))
    code = generate_main(["--prompts", str(tmp_path / "prompts.csv"), "--n", "2", "--seed", "5", "--save-melody",
                          str(tmp_path / "f.mid"), "--out", str(tmp_path / "o.wav"), "--seconds", "0.64", *common])
    out = capsys.readouterr().out
    assert code == 0 and out.count("melody user") == 4 and out.count("cut to its first 0.64 s of 1.32 s") == 4
    wavs = sorted(x.name for x in tmp_path.glob("o_*.wav"))
    assert wavs == ["o_000_0.wav", "o_000_1.wav", "o_001_0.wav", "o_001_1.wav"]
    followed = load_midi(tmp_path / "f_001_1.mid")
    assert [n.pitch for n in followed] == [61, 62, 63, 64, 65] and followed[0].start == 0.0  # track 0, from 0.15 s
    assert seeds == [5, 6]  # variation v: seed + v, every caption at once
    assert generate_main(["--text", "a flute tune", "--out", str(tmp_path / "long.wav"), *common]) == 0
    assert abs(len(sf.read(tmp_path / "long.wav")[0]) / 16000 - 1.32) < 0.05  # as long as the melody followed


def test_prompt_files_and_output_names():
    assert output_paths("x/o.wav", 1, 1) == [[Path("x/o.wav")]]
    assert output_paths("o.wav", 1, 2) == [[Path("o_0.wav"), Path("o_1.wav")]]
    assert output_paths("m.mid", 2, 1) == [[Path("m_000_0.mid")], [Path("m_001_0.mid")]]


def test_cli_on_a_fresh_checkout_fails_at_once_naming_what_to_run(tmp_path, monkeypatch, capsys):
    """No artifacts at all: exit 2 with the command that builds the first missing stage, building nothing."""
    monkeypatch.setenv("MMGEN_ROOT", str(tmp_path))
    code = generate_main(["--text", "a tune", "--out", str(tmp_path / "o.wav"), "--profile", "smoke"])
    assert code == 2 and "mmgen data" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.wav"))  # the dataset was not rendered


def test_guidance_sweep_table(pipe, manifest):
    items = manifest.items()[:2]
    notes = [item_notes(manifest, it) for it in items]
    df = guidance_sweep(pipe, items, notes, [1.0, 3.0], seed=0, steps=1)
    assert list(df.columns) == ["guidance w", "chroma", "audio-text similarity"]
    assert df["guidance w"].tolist() == [1.0, 3.0] and np.isfinite(df.drop(columns="guidance w").to_numpy()).all()
    assert df["chroma"].between(0, 1).all() and df["audio-text similarity"].between(-1, 1).all()
    direct = pipe([it.caption for it in items], melody=notes, seed=0, guidance=3.0, steps=1, candidates=1,
                  progress=False)
    chroma = np.mean([chroma_similarity(w, m) for w, m in zip(direct.waveforms, notes)])
    assert df["chroma"].iloc[1] == pytest.approx(chroma)  # the sweep is that call


def test_sampler_sweep_times_each_setting(pipe, manifest):
    items = manifest.items()[:2]
    notes = [item_notes(manifest, it) for it in items]
    df = sampler_sweep(pipe, items, notes, [("ddim", 1, 0.0), ("dpm", 2, 1.0, 3.0)], seconds=SECONDS, seed=0)
    assert df[["sampler", "steps", "η", "clip x0"]].values.tolist() == [["ddim", 1, "0", 0.0], ["dpm", 2, "—", 3.0]]
    t = df[f"seconds per {SECONDS:g} s clip"]
    assert (t > 0).all() and np.allclose(df["RTF"], t / SECONDS)
    assert df["chroma (2 clips)"].between(0, 1).all()
    assert df[["Δ chroma", "Δ low", "Δ high"]].iloc[0].tolist() == [0.0, 0.0, 0.0]  # the baseline against itself
    assert (df["Δ low"] <= df["Δ chroma"]).all() and (df["Δ chroma"] <= df["Δ high"]).all()
    assert np.isfinite(df["mel peak"]).all()


def test_choose_sampler_takes_the_fastest_setting_not_worse_than_the_baseline():
    sweep = pd.DataFrame({"sampler": ["ddim", "dpm", "dpm-sde", "ddim", "ddim"], "steps": [20, 10, 10, 5, 4],
                          "RTF": [0.2, 0.1, 0.11, 0.05, 0.04], "Δ low": [0.0, -0.01, 0.0, -0.2, 0.1],
                          "Δ sim low": [0.0, 0.0, 0.0, 0.0, -0.5], "mel peak": [5.0, 9.0, 2.5, 2.0, 2.0]})
    # ddim-5 follows the melody worse, ddim-4 fits the text worse, dpm-10 is louder than the baseline
    assert choose_sampler(sweep).tolist()[:2] == ["dpm-sde", 10]
    assert choose_sampler(sweep, margin=0.01).tolist()[:2] == ["dpm-sde", 10]
    assert choose_sampler(sweep.assign(**{"mel peak": 1.0}))["sampler"] == "dpm"
    assert choose_sampler(sweep.assign(**{"Δ low": -1.0}))["steps"] == 20  # nothing qualifies: the baseline


def test_time_generation_warms_up_then_times_one_clip():
    calls = []

    def fake_pipe(text, **kw):
        calls.append((text, kw))

    dt = time_generation(fake_pipe, "a tune", seconds=2.5, seed=3, sampler="dpm", steps=7)
    assert dt >= 0 and len(calls) == 2
    (_, warm), (_, timed) = calls
    assert warm["steps"] == 2 and timed["steps"] == 7  # the warm-up is short; the timed call uses the setting
    assert all(kw["seconds"] == 2.5 and kw["candidates"] == 1 and kw["seed"] == 3 and kw["sampler"] == "dpm"
               for _, kw in calls)
    calls.clear()
    time_generation(fake_pipe, "a tune", warmup=False, steps=7)
    assert len(calls) == 1 and calls[0][1]["seconds"] == 10.24


def test_recorded_melody_goes_through_basic_pitch(tmp_path, monkeypatch):
    """A recording as the melody: transcribed by the lead's extract_notes (stubbed here), then clipped."""
    import mmgen_core.pipeline.pipeline as ex

    heard = _melody(1) + [Note(72, 2.0, 2.5)]
    monkeypatch.setattr(ex, "extract_notes", lambda paths, progress=True: [heard for _ in paths])
    save_audio(tmp_path / "hum.wav", synth(heard, 2.6))
    assert load_melody(tmp_path / "hum.wav", seconds=1.0) == heard[:4]
    monkeypatch.setattr(ex, "extract_notes", lambda paths, progress=True: [MelodyError("hum.wav: no notes")])
    with pytest.raises(MelodyError, match="hum.wav"):
        load_melody(tmp_path / "hum.wav")


def test_long_pieces_are_denoised_in_training_length_windows_with_the_melody_repeated(pipe, monkeypatch):
    widths = []
    unet_forward = type(pipe.unet).forward

    def spy(self, sample, *args, **kwargs):
        widths.append(sample.shape[2])
        return unet_forward(self, sample, *args, **kwargs)

    monkeypatch.setattr(type(pipe.unet), "forward", spy)
    out = pipe("a tune", seed=0, seconds=3 * SECONDS, candidates=1, progress=False)
    assert out.waveforms.shape == (1, 3 * 64 * 160) and out.mels.shape == (1, 3 * 64, 64)
    assert set(widths) == {16 + 4}  # only windows of the clip length it was trained on (+ the 4 tail frames)
    period = [(n.pitch, round(n.start, 4)) for n in out.melodies[0] if n.start < SECONDS]
    again = [(n.pitch, round(n.start - SECONDS, 4)) for n in out.melodies[0] if SECONDS <= n.start < 2 * SECONDS]
    assert period and period == again  # the retrieved clip's melody repeats over the longer piece


def test_the_tail_frames_are_denoised_and_dropped(pipe, monkeypatch):
    widths = []
    unet_forward = type(pipe.unet).forward
    monkeypatch.setattr(type(pipe.unet), "forward",
                        lambda self, sample, *a, **k: (widths.append(sample.shape[2]), unet_forward(self, sample, *a, **k))[1])
    plain = pipe("a tune", seed=0, candidates=1, tail_frames=0, progress=False)
    tailed = pipe("a tune", seed=0, candidates=1, progress=False)
    assert widths[0] == 16 and widths[-1] == 16 + 4
    assert plain.waveforms.shape == tailed.waveforms.shape == (1, 64 * 160)
    with pytest.raises(ValueError, match="tail_frames"):
        GenerationConfig(tail_frames=-1)


def _as_split(manifest: Manifest, root, split: str) -> Manifest:
    """The module's clips listed again, all in ``split`` (audio and scores read where they are)."""
    items = manifest.items()
    for it in items:
        it.split, it.audio = split, str(manifest.audio_path(it))
        it.meta["score_midi"] = str(manifest.root / it.meta["score_midi"])
    copy = Manifest(root)
    copy.write(items)
    return copy


def test_selection_refuses_test_split_items_before_generating(manifest, tmp_path):
    test = _as_split(manifest, tmp_path, "test")
    items = test.items("test")[:2]
    notes = [item_notes(test, it) for it in items]
    # no pipeline at all: the guard must fire before anything is embedded or generated
    with pytest.raises(ValueError, match="guidance_sweep: item 'c0' is from the test split"):
        guidance_sweep(None, items, notes, [1.0])
    with pytest.raises(ValueError, match="sampler_sweep: item 'c0' is from the test split"):
        sampler_sweep(None, items, notes, [("ddim", 1, 0.0)])
    with pytest.raises(ValueError, match="load_probe.*item 'c0' is from the test split"):
        load_probe(test, "test")


def test_validation_items_pass_the_selection_guard(pipe, manifest, tmp_path):
    valid = _as_split(manifest, tmp_path, "valid")
    require_selection_split(valid.items(), "a choice")
    probe = load_probe(valid, n_clips=2)  # the default split: validation
    assert probe.ids == ["c0", "c1"] and len(probe.refs) == len(probe.melodies) == 2
    assert len(guidance_sweep(pipe, valid.items()[:2], probe.melodies, [1.0], steps=1)) == 1
    assert len(sampler_sweep(pipe, valid.items()[:2], probe.melodies, [("ddim", 1, 0.0)], seconds=SECONDS)) == 1
