"""The e2e plugins under the conformance check, cheap to import, presets resolved from the device."""

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchbox.cache import Cache
from benchbox.errors import BenchboxError
from benchbox.plugin import ModelContext
from benchbox.specs import spec_for_factory
from benchbox.testing import check_model
from e2e.plugins import E2EAV, E2EAudio, E2EVideo

torch.set_num_threads(1)


def _ctx(tmp_path, device="cpu"):
    return ModelContext(targets=("arousal", "valence"), seed=0, device=device, cache=Cache(tmp_path / "cache"),
                        scratch_dir=tmp_path, logger=logging.getLogger("test"))


def test_plugin_module_does_not_import_torch():
    code = "import sys, e2e.plugins; print('torch' in sys.modules, 'torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_e2e_audio_passes_the_conformance_check(foreign_corpus):
    model = E2EAudio("smoke")
    result = check_model(lambda: model, corpus_root=foreign_corpus)
    assert result.name == "e2e-audio" and result.modalities == ("audio",)
    assert result.frames_per_session == {"dev_1": 101, "dev_2": 101}
    info = model.profile_info()
    assert info["preset"] == "smoke" and info["audio_variant"] == "released"
    assert info["parameters"] == sum(p.numel() for p in model.model_.parameters())
    assert info["flops_per_media_second"] > 1e9 and info["epochs"] == 2 and info["training_time_s"] > 0
    assert not model.model_.training


def test_default_preset_follows_the_device_and_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCHBOX_E2E_PRESET", raising=False)
    assert E2EAudio()._resolve(_ctx(tmp_path))[0] == "cpu"
    assert E2EVideo()._resolve(_ctx(tmp_path))[0] == "cpu-video"
    assert E2EAV()._resolve(_ctx(tmp_path))[0] == "cpu-48px"
    assert E2EAudio()._resolve(_ctx(tmp_path, device="cuda"))[0] == "paper"
    assert E2EAV()._resolve(_ctx(tmp_path, device="cuda"))[0] == "paper"
    assert E2EAudio("smoke")._resolve(_ctx(tmp_path, device="cuda"))[0] == "smoke"
    preset, config, source = E2EAudio("paper", overrides={"max_epochs": 1})._resolve(_ctx(tmp_path))
    assert preset == "paper" and config.max_epochs == 1 and config.audio_variant == "paper"
    assert source == "option"
    # the variable is read once, by the harness (benchbox.specs), and reaches the plugin as its preset option
    monkeypatch.setenv("BENCHBOX_E2E_PRESET", "paper")
    assert E2EVideo()._resolve(_ctx(tmp_path))[::2] == ("cpu-video", "default for cpu")
    spec = spec_for_factory(E2EVideo, "e2e-video")
    assert spec.options == {"preset": "paper"} and spec.option_sources == {"preset": "$BENCHBOX_E2E_PRESET"}
    assert spec.create()._resolve(_ctx(tmp_path))[::2] == ("paper", "option")
    monkeypatch.setenv("BENCHBOX_E2E_PRESET", "papr")
    with pytest.raises(BenchboxError, match="Model 'e2e-video': unknown e2e preset 'papr'. Did you mean 'paper'"):
        spec_for_factory(E2EVideo, "e2e-video").create()
    info = E2EAudio("paper").profile_info()  # unfitted: the figures of the named preset
    assert info["preset"] == "paper" and info["audio_variant"] == "paper" and info["parameters"] > 8_000_000
    video = E2EVideo().profile_info()  # unfitted, no preset: the paper's figures
    assert video["crop_colour"] == "rgb" and video["crop_standardise"] is False
    video = E2EVideo("cpu-video").profile_info()
    assert video["crop_size_px"] == 48 and video["visual_frames_per_s"] == 5.0 and not video["paper_preset"]
    assert video["visual_network"] == "compact" and video["crop_colour"] == "grey" and video["crop_standardise"]
    assert E2EAudio().profile_info()["crop_colour"] is None


def test_video_plugin_reads_crops_through_its_loader(foreign_corpus):
    sizes = []

    def stub_crops(session, cache, size):
        sizes.append(size)
        rng = np.random.default_rng(len(session.id))
        return rng.integers(0, 256, (session.num_frames, size, size, 3), dtype=np.uint8)

    model = E2EVideo("smoke", overrides={"max_epochs": 1, "crop_size": 20}, crop_loader=stub_crops)
    result = check_model(lambda: model, corpus_root=foreign_corpus)
    assert result.modalities == ("video",) and model.model_.lstm.input_size == 2048
    assert set(sizes) == {20} and model.profile_info()["crop_size_px"] == 20


def test_stored_weights_are_keyed_by_the_content_of_the_resnet_weights_file(tmp_path, foreign_corpus):
    """The same path with other bytes is another starting point, so another cache entry (a run folder
    resumed after the file was replaced must not pick up weights trained from the old file)."""
    from benchbox.corpus.avec2016 import load_corpus

    sessions = load_corpus(foreign_corpus).sessions
    weights = tmp_path / "resnet50.pth"
    weights.write_bytes(b"first!")
    model = E2EVideo("smoke", visual_pretrained_weights=str(weights))
    ctx = _ctx(tmp_path)
    first = model.weights_path(sessions[:2], sessions[2:3], ctx)
    assert model.weights_path(sessions[:2], sessions[2:3], ctx) == first
    weights.write_bytes(b"second")
    assert model.weights_path(sessions[:2], sessions[2:3], ctx) != first
    weights.unlink()
    with pytest.raises(BenchboxError, match=r"resnet50.pth \(option 'visual_pretrained_weights'\) does not exist"):
        model.weights_path(sessions[:2], sessions[2:3], ctx)


def test_the_preset_from_the_environment_is_a_run_option(monkeypatch):
    """$BENCHBOX_E2E_PRESET becomes every e2e model's ``preset`` option (so the run folder differs, and does
    not depend on which models a command names), unless the suite sets one; other models get nothing."""
    from benchbox.specs import with_environment_options
    from benchbox.suites import load_suite

    plain = load_suite("avec2016")
    monkeypatch.delenv("BENCHBOX_E2E_PRESET", raising=False)
    assert with_environment_options(plain) is plain
    monkeypatch.setenv("BENCHBOX_E2E_PRESET", "paper")
    suite = with_environment_options(plain)
    assert suite.model_options == {name: {"preset": "paper"} for name in ("e2e-audio", "e2e-av", "e2e-video")}
    assert suite.definition_hash != plain.definition_hash
    assert with_environment_options(suite).definition_hash == suite.definition_hash  # idempotent
    given = plain.with_model_options({"e2e-audio": {"preset": "cpu"}})
    assert with_environment_options(given).options_for("e2e-audio") == {"preset": "cpu"}
    assert suite.option_sources["e2e-audio"] == {"preset": "$BENCHBOX_E2E_PRESET"}
    model = E2EAudio(**suite.options_for("e2e-audio"))
    assert model._resolve(_ctx_for_env())[::2] == ("paper", "option")


def _ctx_for_env():
    import tempfile
    from pathlib import Path

    return _ctx(Path(tempfile.mkdtemp()))


def test_an_unknown_preset_is_refused_when_the_model_is_created():
    """The constructor only stores its options (scikit-learn's rule); creating the model checks them."""
    from benchbox.registry import create_model

    assert E2EAudio("papr").preset == "papr"
    with pytest.raises(BenchboxError, match="Model 'e2e-audio': unknown e2e preset 'papr'. Did you mean 'paper'"):
        create_model("e2e-audio", {"preset": "papr"})
