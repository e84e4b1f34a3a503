"""The music21 dataset built by worker processes: byte-identical to the sequential build, same artifact key."""
import dataclasses
import hashlib
from pathlib import Path

from mmgen_core.artifacts import stage_dir
from mmgen_core.config import load_profile
from mmgen_core.data import DataConfig, Manifest
from mmgen_core.data.sources.music21 import Draft, Work, build_music21, drafts, list_works
from mmgen_core.data.stage import DATASET_VERSION, dataset_dir, get_dataset


def _smoke(**changes) -> DataConfig:
    """The smoke profile's data section (2.56 s clips) with ``changes``."""
    cfg = load_profile("smoke").section("data", DataConfig)
    return dataclasses.replace(cfg, **changes)


def _tree(root: Path) -> dict[str, str]:
    """sha1 of every file under ``root``, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_parallel_build_is_byte_identical_with_the_same_key(tmp_path):
    cfg = _smoke(n_clips=32, max_works=60)
    roots = {}
    for workers in (1, 2):
        man = get_dataset(dataclasses.replace(cfg, workers=workers), tmp_path / f"w{workers}", seed=0, progress=False)
        roots[workers] = man.root
    assert roots[1].name == roots[2].name  # the artifact key ignores data.workers ...
    old_fields = {k: v for k, v in dataclasses.asdict(cfg).items()  # the fields of a dataset built before captions
                  if k not in ("workers", "captions", "caption_key_fraction", "split")}
    assert roots[1].name == stage_dir(tmp_path, "data", old_fields, seed=0, version=DATASET_VERSION).name
    assert dataset_dir(cfg, tmp_path, 0) == dataset_dir(dataclasses.replace(cfg, workers=0), tmp_path, 0)
    a, b = _tree(roots[1]), _tree(roots[2])  # ... and so does every byte of the dataset
    assert a == b
    assert {"manifest.jsonl", "rejects.jsonl", "done.json"} <= set(a)
    assert sum(k.endswith(".wav") for k in a) == 32 and sum(k.endswith(".mid") for k in a) >= 32


def test_bad_score_is_a_reject_reason_in_any_process():
    bad = Work("bach", "bach/no-such-chorale.mxl", None, "missing", "", "")
    works = [bad] + list_works(0, 3)
    seq = list(drafts(works, 2.56, 0, workers=1, ahead=1))
    par = list(drafts(works, 2.56, 0, workers=2, ahead=2))  # fewer ahead than works: the window slides
    assert isinstance(seq[0], str) and "no-such-chorale" in seq[0] and any(isinstance(d, Draft) for d in seq[1:])
    assert par == seq


def test_parallel_build_resumes_a_partial_build(tmp_path):
    root = tmp_path / "ds"
    first = build_music21(root, _smoke(n_clips=8, max_works=40, workers=2), progress=False, batch=4)
    ids = [it.id for it in first.items()]
    rejects = [r.id for r in first.rejects()]
    (root / "done.json").unlink()  # as if the build had stopped at 8 clips
    man = build_music21(root, _smoke(n_clips=16, max_works=40, workers=2), progress=False, batch=4)
    items = Manifest(root).items()
    assert len(items) == 16 and len({it.id for it in items}) == 16 and set(ids) <= {it.id for it in items}
    all_rejects = [r.id for r in man.rejects()]
    assert all_rejects[:len(rejects)] == rejects and len(set(all_rejects)) == len(all_rejects)  # none redone
    assert all((root / it.audio).exists() and (root / it.meta["score_midi"]).exists() for it in items)
