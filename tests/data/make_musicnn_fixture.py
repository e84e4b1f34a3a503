"""Regenerate musicnn_reference.npz: the original TensorFlow musicnn on a fixed synthetic clip.

Runs outside the project, in a throw-away venv with the reference implementation:
    python3.11 -m venv ../tfref-venv && ../tfref-venv/bin/pip install tensorflow-cpu tf-keras librosa
    ../tfref-venv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 ../tfref-venv/bin/python tests/data/make_musicnn_fixture.py
(TF 2.16+ needs tf-keras + TF_USE_LEGACY_KERAS=1 for musicnn's tf.compat.v1.layers.)
The signal and front end below must stay identical to tests/test_evaluation.py and
mmgen_core.evaluation.musicnn.musicnn_logmel; only the network runs in TensorFlow.
"""
import os
from pathlib import Path

import librosa
import numpy as np
import tensorflow as tf
from musicnn import models

tf.compat.v1.disable_eager_execution()


def fixture_signal() -> np.ndarray:
    sr = 16000
    t = np.arange(int(3.5 * sr)) / sr
    f0 = 196.0 * 2 ** (np.floor(t * 4) % 8 / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(0.15 / k * np.sin(k * phase) for k in (1, 2, 3))
    return (tone + 0.02 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


mel = librosa.feature.melspectrogram(y=fixture_signal(), sr=16000, hop_length=256, n_fft=512, n_mels=96).T
logmel = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
patches = np.stack([logmel[:187], logmel[-187:]])  # our patching: one at 0, one aligned to the end

with tf.name_scope("model"):
    x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
    training = tf.compat.v1.placeholder(tf.bool)
    logits, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, training, "MTT_musicnn", 50)
sess = tf.compat.v1.Session()
tf.compat.v1.train.Saver().restore(sess, os.path.dirname(models.__file__) + "/MTT_musicnn/")
out = sess.run({"logits": logits, "probs": tf.nn.sigmoid(logits), "penultimate": penultimate,
                "mean_pool": mean_pool, "max_pool": max_pool}, feed_dict={x: patches, training: False})
np.savez_compressed(Path(__file__).with_name("musicnn_reference.npz"),
                    **{k: v.astype(np.float32) for k, v in out.items()}, tensorflow=np.array(tf.__version__))
print({k: v.shape for k, v in out.items()})
