"""The one stage protocol: what keys an artifact folder, one done marker, and missing stages that may not be built."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmgen_core.alignment import AlignmentConfig, alignment_dir, resolve_variant
from mmgen_core.alignment.embeddings import mean_map10
from mmgen_core.artifacts import StageDir, stage_dir
from mmgen_core.checkpoints import CheckpointError
from mmgen_core.config import load_profile
from mmgen_core.data import Manifest
from mmgen_core.decoder import VAEConfig, VocoderConfig, decoder_dir
from mmgen_core.diffusion import DiffusionConfig, conditions_dir, unet_dir
from mmgen_core.reproduction import choose_tower
from mmgen_core.stages import Stages


def _dirs(profile):
    """Every stage folder of a profile, computed from its sections as Stages wires them (nothing trained)."""
    s = Stages(profile)
    data = Manifest(Path("artifacts") / "data-abc")
    align = alignment_dir(resolve_variant(s.alignment_config, "trimodal"), data, profile.artifacts, profile.seed)
    dec = decoder_dir(s.vae_config, s.vocoder_config, data, profile.artifacts, profile.seed)
    database = stage_dir(profile.artifacts, "retrieval", s.retrieval_config, upstream=[align])
    cfg = s.diffusion_config
    cond = conditions_dir(cfg, data, dec.name, align.path, database.path if cfg.train_melody == "retrieved" else None,
                          profile.artifacts, profile.seed)
    return {"alignment": align.name, "decoder": dec.name, "retrieval": database.name, "conditions": cond.name,
            "unet": unet_dir(cfg, "mmgen", cond, profile.artifacts, profile.seed).name}


@pytest.mark.parametrize("override", [{"alignment.log_every": 99}, {"alignment.checkpoint_every": 7},
                                      {"alignment.compare": ["bimodal"]}, {"vocoder.eval_clips": 3},
                                      {"vae.checkpoint_every": 9}, {"diffusion.checkpoint_every": 11},
                                      {"diffusion.modes": ["mmgen"]}, {"compute.precision": "fp32"},
                                      {"compute.attention": "sdpa"}, {"compute.parallel_training": False}])
def test_bookkeeping_fields_retrain_nothing(tmp_path, override):
    assert _dirs(load_profile("tiny", override, root=tmp_path)) == _dirs(load_profile("tiny", root=tmp_path))


def test_a_change_rebuilds_its_stage_and_everything_downstream(tmp_path):
    base = _dirs(load_profile("smoke", root=tmp_path))
    lr = _dirs(load_profile("smoke", {"alignment.lr": 0.5}, root=tmp_path))
    assert all(lr[k] != base[k] for k in ("alignment", "retrieval", "conditions", "unet")) and lr["decoder"] == base["decoder"]
    vae = _dirs(load_profile("smoke", {"vae.steps": 3}, root=tmp_path))
    assert vae["alignment"] == base["alignment"] and all(vae[k] != base[k] for k in ("decoder", "conditions", "unet"))
    steps = _dirs(load_profile("smoke", {"diffusion.steps": 3}, root=tmp_path))
    assert steps["conditions"] == base["conditions"] and steps["unet"] != base["unet"]


def test_retrieval_index_keys_the_unets_only_when_they_train_on_retrieved_melodies(tmp_path):
    index = {"retrieval.index": {"kind": "hnsw", "M": 8, "ef_construction": 32, "ef_search": 16}}
    own, own_ix = (_dirs(load_profile("smoke", o, root=tmp_path)) for o in ({}, index))  # smoke: own melody
    assert own_ix["retrieval"] != own["retrieval"] and own_ix["unet"] == own["unet"]
    got, got_ix = (_dirs(load_profile("paper", o, root=tmp_path)) for o in ({}, index))  # paper: retrieved
    assert got_ix["conditions"] != got["conditions"] and got_ix["unet"] != got["unet"]


def test_unkeyed_fields_are_real_config_fields():
    for cls in (AlignmentConfig, DiffusionConfig, VAEConfig, VocoderConfig):
        assert set(cls.UNKEYED) <= set(cls.__dataclass_fields__), cls


def test_stage_dir_done_marker_and_require(tmp_path):
    sd = stage_dir(tmp_path, "x", {"a": 1}, upstream=["data-1"])
    assert sd == stage_dir(tmp_path, "x", {"a": 1}, upstream=["data-1"]) != stage_dir(tmp_path, "x", {"a": 2})
    assert sd != stage_dir(tmp_path, "x", {"a": 1}, upstream=["data-2"]) and sd.name.startswith("x-")
    with pytest.raises(CheckpointError, match="run notebook 99"):
        sd.require(False, "thing", "run notebook 99")
    sd.require(True, "thing", "run notebook 99")  # may be built now: no error
    sd.finish({"score": 1.5})
    assert sd.done and sd.info() == {"score": 1.5} and StageDir(sd.path).done
    sd.require(False, "thing", "run notebook 99")  # done: nothing to build
    assert not list(sd.path.glob(".*tmp*"))  # the marker was written atomically


def test_training_recipe_fields_key_the_unets_not_their_conditions(tmp_path):
    base = _dirs(load_profile("smoke", root=tmp_path))
    for override in ({"diffusion.prediction": "epsilon"}, {"diffusion.loss_weighting": "none"},
                     {"diffusion.lr_schedule": "cosine"}):
        other = _dirs(load_profile("smoke", override, root=tmp_path))
        assert other["unet"] != base["unet"] and other["conditions"] == base["conditions"], override


def test_with_diffusion_shares_the_upstream_stages(tmp_path):
    stages = Stages(load_profile("smoke", root=tmp_path))
    stages.__dict__["conditions"] = "built once"  # as cached_property would hold it
    recipe = stages.with_diffusion(prediction="epsilon", steps=7)
    assert recipe.diffusion_config.prediction == "epsilon" and recipe.diffusion_config.steps == 7
    assert stages.diffusion_config.steps != 7 and recipe.profile is stages.profile
    assert recipe.__dict__["conditions"] == "built once"  # same training conditions: not rebuilt
    assert "conditions" not in stages.with_diffusion(roll="chroma").__dict__  # other conditions: rebuilt


@pytest.mark.parametrize("name", ["smoke", "tiny", "paper"])
def test_quickstart_model_keys_its_own_artifacts(tmp_path, name):
    """Notebook 00's quick model: fewer clips and steps than the profile, in its own folders (never the full model's)."""
    profile = load_profile(name, root=tmp_path)
    quick = profile.quickstart()
    full, fast = Stages(profile), Stages(quick)
    assert fast.data_config.n_clips < full.data_config.n_clips or full.data_config.n_clips == 0
    assert fast.diffusion_config.steps < full.diffusion_config.steps and fast.vae_config.steps < full.vae_config.steps
    assert quick.artifacts == profile.artifacts and quick.results == profile.results
    base, other = _dirs(profile), _dirs(quick)
    assert all(other[k] != base[k] for k in ("decoder", "alignment", "conditions", "unet"))
    assert "quickstart" in profile.sections and profile.sections == load_profile(name, root=tmp_path).sections


def test_quickstart_without_its_section_says_what_is_missing(tmp_path):
    profile = load_profile("smoke", root=tmp_path)
    del profile.sections["quickstart"]
    with pytest.raises(KeyError, match="no quickstart section"):
        profile.quickstart()


def test_the_alignment_claim_s_models_are_chosen_alike():
    cfg = load_profile("tiny").section("alignment", AlignmentConfig)
    data, root = Manifest(Path("artifacts") / "data-abc"), Path("artifacts")
    tri, at = resolve_variant(cfg, "trimodal"), resolve_variant(cfg, "trimodal-select-at")
    assert (tri.select_by, at.select_by) == ("all", "audio_text") and at.modalities == tri.modalities
    assert alignment_dir(tri, data, root, 0) != alignment_dir(at, data, root, 0)  # its own folder ...
    two = resolve_variant(cfg, "bimodal")  # ... while a two-modal model's A2T + T2A is all it has: one folder
    assert alignment_dir(two, data, root, 0) == alignment_dir(AlignmentConfig(**{**two.__dict__,
                                                                                 "select_by": "audio_text"}),
                                                          data, root, 0)
    scores = {d: {"mAP@10": v} for d, v in {"A2T": 0.2, "T2A": 0.4, "A2M": 0.9, "M2A": 0.9}.items()}
    assert mean_map10(scores) == pytest.approx(0.6) and mean_map10(scores, ("A2T", "T2A")) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="select_by"):
        AlignmentConfig(select_by="melody")


def test_the_melody_tower_is_chosen_on_validation():
    def run(tower, best, modalities="atm", select_by="all"):
        cfg = AlignmentConfig(modalities=modalities, melody_tower=tower, select_by=select_by)
        return SimpleNamespace(config=cfg, log=SimpleNamespace(best=best))

    runs = {"a": run("official", 0.55), "b": run("mean", 0.60), "c": run("transformer", 0.9, select_by="audio_text"),
            "d": run("transformer", 0.95, modalities="at")}  # neither compares towers on the same criterion
    assert choose_tower(runs) == "mean"
    with pytest.raises(ValueError, match="no tri-modal"):
        choose_tower({"d": runs["d"]})
