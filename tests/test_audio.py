import numpy as np
import pytest
import soundfile as sf

from mmgen_core.audio import (
    AUDIOLDM_MEL,
    AudioError,
    fit_length,
    griffin_lim,
    load_audio,
    log_mel,
    mel_filters,
    mel_to_magnitude,
    save_audio,
)


def test_log_mel_shape_matches_audioldm():
    wav = np.random.default_rng(0).standard_normal(163840).astype(np.float32) * 0.1
    mel = log_mel(wav)
    assert mel.shape == (1024, 64)  # 10.24 s → 1024 frames
    assert AUDIOLDM_MEL.frames(10.24) == 1024
    assert log_mel(np.zeros(16000, np.float32)).min() == pytest.approx(np.log(1e-5))


def test_log_mel_peak_at_tone_frequency():
    sr = 16000
    t = np.arange(sr) / sr
    mel = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32)).numpy()
    import librosa

    centers = librosa.mel_frequencies(n_mels=66, fmin=0, fmax=8000)[1:-1]
    assert abs(centers[mel.mean(0).argmax()] - 1000) < 100


def test_griffin_lim_resynthesises_a_tone():
    sr = 16000
    t = np.arange(sr) / sr
    wav = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    mel = log_mel(wav)
    back = griffin_lim(mel, n_iter=16)
    assert back.shape == wav.shape
    err = (log_mel(back) - mel)[10:-10].abs().mean().item()
    assert err < 1.0


def test_griffin_lim_matches_librosas_fast_griffin_lim():
    import librosa

    t = np.arange(32000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.2 * np.sin(2 * np.pi * 990 * t))
    mel = log_mel(wav.astype(np.float32))
    ours = log_mel(griffin_lim(mel, n_iter=32))
    mag = mel_to_magnitude(mel)
    c = AUDIOLDM_MEL
    theirs = librosa.griffinlim(mag, n_iter=32, hop_length=c.hop_length, win_length=c.win_length, n_fft=c.n_fft,
                                center=True, random_state=0)
    shift = c.n_fft // 2 - (c.n_fft - c.hop_length) // 2
    theirs = log_mel(fit_length(np.concatenate([np.zeros(shift), theirs]), len(wav)).astype(np.float32))
    err = lambda m: (m - mel)[10:-10].abs().mean().item()  # noqa: E731
    assert err(ours) < 1.1 * err(theirs) + 0.05  # the same algorithm: no worse than librosa's


def test_mel_to_magnitude_is_a_tighter_nnls_than_librosa():
    import librosa

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wav = sum(np.sin(2 * np.pi * f * t) for f in (220, 330, 880)) * 0.2 + 0.01 * rng.standard_normal(16000)
    mel = log_mel(wav.astype(np.float32)).numpy()
    target, fb = np.exp(mel).T, mel_filters().numpy()
    ours = mel_to_magnitude(mel)
    ref = librosa.feature.inverse.mel_to_stft(target, sr=16000, n_fft=1024, power=1.0, fmin=0, fmax=8000)
    assert ours.shape == ref.shape and (ours >= 0).all()
    assert np.abs(fb @ ours - target).mean() < np.abs(fb @ ref - target).mean()
    loud = mel_to_magnitude(mel + 60.0)  # far out of range (a diverged generation): finite, scaled alike
    assert np.isfinite(loud).all() and loud.max() > 1e10


def test_load_resamples_and_mixes(tmp_path):
    stereo = np.stack([np.sin(np.arange(44100) / 10), np.sin(np.arange(44100) / 10)], 1) * 0.3
    sf.write(tmp_path / "a.flac", stereo, 44100)
    wav = load_audio(tmp_path / "a.flac")
    assert wav.ndim == 1 and abs(len(wav) - 16000) <= 1 and wav.dtype == np.float32


@pytest.mark.parametrize("case", ["missing", "garbage", "empty", "silent", "nan"])
def test_bad_audio_names_the_file(tmp_path, case):
    path = tmp_path / f"{case}.wav"
    if case == "garbage":
        path.write_bytes(b"not audio at all")
    elif case == "empty":
        sf.write(path, np.zeros(10, np.float32), 16000)
    elif case == "silent":
        sf.write(path, np.zeros(16000, np.float32), 16000)
    elif case == "nan":
        x = np.full(16000, 0.1, np.float32)
        x[5] = np.nan
        sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=case):
        load_audio(path)


def test_save_is_atomic_and_round_trips(tmp_path):
    x = (np.sin(np.arange(16000) / 7) * 0.5).astype(np.float32)
    p = save_audio(tmp_path / "x.wav", x)
    assert not list(tmp_path.glob("*.tmp"))
    assert np.abs(load_audio(p) - x).max() < 1e-3
