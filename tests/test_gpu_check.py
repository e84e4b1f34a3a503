"""The GPU entry point: skips cleanly without a GPU, and its checks run (on the CPU, smoke sizes)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    return runpy.run_path(str(SCRIPT), run_name="gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the skip path does not apply")
def test_skips_cleanly_without_a_gpu(gpu_check, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MMGEN_ROOT", str(tmp_path))
    assert gpu_check["main"]([]) == 0
    assert "GPU check skipped" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_every_model_trains_a_step_and_samples_on_the_cpu(gpu_check, tmp_path, monkeypatch):
    monkeypatch.setenv("MMGEN_ROOT", str(tmp_path))
    assert gpu_check["main"](["--cpu", "--profile", "smoke", "--steps", "1"]) == 0
    df = pd.read_csv(tmp_path / "results" / "smoke" / "tables" / "gpu_check_on_cpu.csv")
    assert df["model"].tolist()[:4] == ["aligner", "VAE", "vocoder", "UNet (mmgen+roll)"]
    assert (df["seconds"] > 0).all() and (df["samples/s"].iloc[:4] > 0).all()
    assert df["what"].str.contains("DDIM-100").any() and (df["RTF"].dropna() > 0).all()
