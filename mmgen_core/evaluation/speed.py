"""Speed measurements shared by notebooks and benchmarks."""
from __future__ import annotations

import time

import numpy as np
import torch

from mmgen_core.alignment.towers import TextTower


def text_tower_cost(enc: TextTower, texts: list[str], steps: int = 2) -> dict[str, float]:
    """Captions/s of a text tower: inference only (frozen, cached once) vs forward+backward (fine-tuned)."""
    batch = enc.tokenize(texts)
    was = [p.requires_grad for p in enc.parameters()]
    enc.requires_grad_(True)
    out = {}
    for mode in ("frozen (inference)", "fine-tuned (forward+backward)"):
        train = mode.startswith("fine")
        times = []
        for _ in range(steps + 1):  # the first call warms up
            t0 = time.perf_counter()
            with torch.set_grad_enabled(train):
                feats = enc(**batch)
                if train:
                    feats.square().mean().backward()
            times.append(time.perf_counter() - t0)
        out[mode] = len(texts) / float(np.mean(times[1:]))
    enc.zero_grad(set_to_none=True)
    for p, g in zip(enc.parameters(), was):
        p.requires_grad_(g)
    return out
