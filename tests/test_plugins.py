"""Plugins arrive through the entry-point group, exactly like a user's: a throwaway package is
installed with pip into a temporary folder and run through the suite next to the built-in ``mean``."""

import re
from pathlib import Path

import pandas as pd
import pytest
from plugin_packages import install_plugin_package

from benchbox.cli import main
from benchbox.errors import BenchboxError, RegistryError
from benchbox.record import RunFolder
from benchbox.registry import create_model, model_names
from benchbox.testing import check_model

PLUGIN_SOURCE = '''
import numpy as np


class AudioEnergy:
    """Predicts each target from the RMS energy of the audio (a small working plugin)."""

    name = "throwaway-energy"
    modalities = frozenset({"audio"})

    def _energy(self, session):
        audio = session.load_audio(16_000)
        chunks = np.zeros((session.num_frames, 640), dtype=np.float32)
        usable = min(len(audio) // 640, session.num_frames)
        chunks[:usable] = audio[: usable * 640].reshape(usable, 640)
        return np.log(np.sqrt((chunks ** 2).mean(axis=1)) + 1e-4)

    def fit(self, train, select, ctx):
        x = np.concatenate([self._energy(s) for s in train])
        y = np.concatenate([s.labels for s in train])
        design = np.stack([x, np.ones_like(x)], axis=1)
        self.coef_, *_ = np.linalg.lstsq(design, y, rcond=None)

    def predict(self, sessions, ctx):
        assert not hasattr(sessions[0], "labels"), "test labels leaked"
        out = {}
        for s in sessions:
            e = self._energy(s)
            out[s.id] = np.stack([e, np.ones_like(e)], axis=1) @ self.coef_
        return out


class WrongLength:
    """Returns one frame too few (must fail alone)."""

    name = "throwaway-short"
    modalities = frozenset()

    def fit(self, train, select, ctx):
        pass

    def predict(self, sessions, ctx):
        return {s.id: np.zeros((s.num_frames - 1, len(ctx.targets))) for s in sessions}


from baselines.fusion import late_fusion_plugin

EnergyFusion = late_fusion_plugin("throwaway-fusion", ["throwaway-energy", "mean"])
BrokenFusion = late_fusion_plugin("throwaway-fusion-broken", ["throwaway-crash", "mean"])


class AfterEnergy(AudioEnergy):
    """Needs throwaway-energy to run first; says nothing about combining its predictions."""

    name = "throwaway-after"
    requires = ("throwaway-energy",)


class AfterEnergyOwnProtocol(AfterEnergy):
    """Needs throwaway-energy to run first but learns from the media itself."""

    name = "throwaway-after-own"
    combines_predictions = False


class Crashes:
    """Raises while fitting (must fail alone)."""

    name = "throwaway-crash"
    modalities = frozenset()

    def fit(self, train, select, ctx):
        raise RuntimeError("deliberate failure in fit")

    def predict(self, sessions, ctx):
        return {}
'''

ENTRY_POINTS = {
    'throwaway-energy': 'throwaway_plugin:AudioEnergy',
    'throwaway-short': 'throwaway_plugin:WrongLength',
    'throwaway-crash': 'throwaway_plugin:Crashes',
    'throwaway-fusion': 'throwaway_plugin:EnergyFusion',
    'throwaway-fusion-broken': 'throwaway_plugin:BrokenFusion',
    'throwaway-after': 'throwaway_plugin:AfterEnergy',
    'throwaway-after-own': 'throwaway_plugin:AfterEnergyOwnProtocol',
    'throwaway-broken': 'throwaway_plugin_missing:Nothing',
    'Throwaway.Bad': 'throwaway_plugin:AudioEnergy',
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    return install_plugin_package(tmp_path_factory, package="throwaway-plugin", module="throwaway_plugin",
                                  source=PLUGIN_SOURCE, entry_points=ENTRY_POINTS)


@pytest.fixture
def with_plugin(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    return plugin_site


def test_installed_plugin_is_registered(with_plugin):
    assert {"mean", "throwaway-energy", "throwaway-short", "throwaway-crash"} <= set(model_names())
    assert create_model("throwaway-energy").modalities == {"audio"}


def test_models_command_lists_plugins(with_plugin, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"throwaway-energy +audio +throwaway-plugin +Predicts each target", out)


def test_unknown_model_suggests_close_names(with_plugin, foreign_corpus, tmp_path, capsys):
    with pytest.raises(RegistryError, match=r"Unknown model 'throwaway-energi'. Did you mean 'throwaway-energy'"):
        create_model("throwaway-energi")
    code = main(["run", "--data-root", str(foreign_corpus), "--models", "maen", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "Unknown model 'maen'. Did you mean 'mean'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_plugin_runs_through_the_suite_and_bad_plugins_fail_alone(with_plugin, foreign_corpus, tmp_path):
    out = tmp_path / "run"
    args = ["run", "--data-root", str(foreign_corpus), "--out", str(out), "--no-progress",
            "--models", "mean,throwaway-energy,throwaway-short,throwaway-crash"]
    assert main(args) == 1  # some units failed
    folder = RunFolder(out)
    assert sorted(folder.finished_units()) == [("mean", 0), ("throwaway-energy", 0)]
    short = folder.unit_status("throwaway-short", 0)
    assert short.status == "failed"
    assert re.search(r"session \w+_\d: predictions have shape \(100, 2\); expected \(101, 2\)", short.error)
    crash = folder.unit_status("throwaway-crash", 0)
    assert "RuntimeError during fit (annotation delay 0 s): deliberate failure in fit" in crash.error
    assert "deliberate failure" in (folder.unit_dir("throwaway-crash", 0) / "traceback.txt").read_text()
    scores = pd.read_csv(folder.scores_path)
    assert set(scores["model"]) == {"mean", "throwaway-energy"}
    report = folder.report_path.read_text()
    assert "throwaway-energy" in report and "deliberate failure in fit" in report


def test_check_model_accepts_a_good_plugin_and_rejects_a_bad_one(with_plugin, foreign_corpus, tmp_path):
    from throwaway_plugin import AudioEnergy, WrongLength

    result = check_model(AudioEnergy, corpus_root=foreign_corpus)
    assert result.num_predicted_sessions == 2 and set(result.frames_per_session.values()) == {101}
    with pytest.raises(BenchboxError, match="predictions have shape") as raised:
        check_model(WrongLength, corpus_root=foreign_corpus)
    # the same unit lifecycle as benchbox run: the same violation, the same message
    out = tmp_path / "run"
    assert main(["run", "--data-root", str(foreign_corpus), "--out", str(out), "--no-progress",
                 "--models", "throwaway-short"]) == 1
    stored = RunFolder(out).unit_status("throwaway-short", 0).error
    assert str(raised.value) == stored
    assert stored.startswith("PredictionError during validate (annotation delay 0 s): Model 'throwaway-short', "
                             "session train_3: predictions have shape (100, 2); expected (101, 2)")


def test_late_fusion_of_a_user_plugin_runs_after_its_inputs(with_plugin, foreign_corpus, tmp_path):
    from benchbox.specs import resolve_run_models
    from benchbox.suites import load_suite

    assert resolve_run_models(load_suite("avec2016"), ["throwaway-fusion"]).names == ["throwaway-energy", "mean",
                                                                                    "throwaway-fusion"]
    out = tmp_path / "run"
    assert main(["run", "--data-root", str(foreign_corpus), "--out", str(out), "--no-progress",
                 "--models", "throwaway-fusion"]) == 0
    folder = RunFolder(out)
    status = folder.unit_status("throwaway-fusion", 0)
    assert status.fits == 1  # no delay search on already-compensated inputs
    weights = status.profile["weights"]["target_0"]
    assert set(weights) == {"throwaway-energy", "mean", "intercept"}
    fused = folder.read_predictions("throwaway-fusion", 0)
    assert len(fused) == len(folder.read_gold()) and fused[["arousal", "valence"]].notna().all().all()


def test_late_fusion_fails_alone_when_an_input_failed(with_plugin, foreign_corpus, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--data-root", str(foreign_corpus), "--out", str(out), "--no-progress",
                 "--models", "throwaway-fusion-broken"]) == 1
    folder = RunFolder(out)
    assert folder.is_done("mean", 0)
    status = folder.unit_status("throwaway-fusion-broken", 0)
    assert status.status == "failed"
    assert "combines 'throwaway-crash', which has no finished predictions for seed 0" in status.error


def test_requires_orders_models_and_combines_predictions_sets_the_protocol(with_plugin):
    """``requires`` alone means late fusion (no delay search, no post-processing); a model that only needs
    its inputs to run first says ``combines_predictions = False`` and gets the suite's protocol."""
    from benchbox.registry import model_info
    from benchbox.specs import resolve_run_models
    from benchbox.suites import load_suite

    suite = load_suite("avec2016")
    assert resolve_run_models(suite, ["throwaway-after-own"]).names == ["throwaway-energy", "throwaway-after-own"]
    implied, own = model_info("throwaway-after"), model_info("throwaway-after-own")
    assert implied.combines_predictions and not own.combines_predictions
    assert suite.protocol(implied.name, combines_predictions=implied.combines_predictions).delays_frames == (0,)
    settings = suite.protocol(own.name, combines_predictions=own.combines_predictions)
    assert settings.delays_frames == (0, 20, 40, 60, 80, 100) and settings.postprocessing


def test_run_options_reach_the_model_factory_and_bad_ones_are_named():
    from benchbox.cli import parse_model_options

    options = parse_model_options(["e2e-video.visual_pretrained_weights=/data/w/resnet50.pth",
                                   "e2e-video.learning_rate=1e-4", "e2e-video.preset=paper"])
    assert options == {"e2e-video": {"visual_pretrained_weights": "/data/w/resnet50.pth", "learning_rate": 1e-4,
                                     "preset": "paper"}}
    with pytest.raises(BenchboxError, match=r"Model 'e2e-video': the ResNet-50 weights file /data/w/resnet50.pth "
                                            r"\(option 'visual_pretrained_weights'\) does not exist"):
        create_model("e2e-video", options["e2e-video"])
    model = create_model("e2e-video", {**options["e2e-video"], "visual_pretrained_weights": __file__})
    assert model.preset == "paper"
    assert model.overrides == {"visual_pretrained_weights": __file__, "learning_rate": 1e-4}
    with pytest.raises(RegistryError, match=r"Model 'mean' does not accept the option\(s\) window"):
        create_model("mean", {"window": 3})
    with pytest.raises(BenchboxError, match=r"Model 'e2e-audio': unknown option 'max_epoch'.*Did you mean "
                                            r"'max_epochs'"):
        create_model("e2e-audio", {"max_epoch": 3})
    with pytest.raises(BenchboxError, match=r"--option 'e2e-video=3': expected MODEL.KEY=VALUE"):
        parse_model_options(["e2e-video=3"])


def test_options_for_a_model_that_is_not_installed_are_an_error(tmp_path):
    from benchbox.specs import resolve_run_models
    from benchbox.suites import load_suite

    suite = load_suite("avec2016").with_model_options({"e2e-vidoe": {"preset": "paper"}})
    with pytest.raises(BenchboxError, match=r"Options are given to model 'e2e-vidoe' \(in benchbox/suites/"
                                            r"avec2016.toml or by --option\), which is not installed. Did you "
                                            r"mean 'e2e-video'"):
        resolve_run_models(suite, ["mean"])


def test_run_options_on_the_command_line_are_checked_before_the_run_and_recorded(tmp_path, monkeypatch):
    import json

    from benchbox.testing import tiny_corpus

    monkeypatch.delenv("BENCHBOX_E2E_PRESET", raising=False)
    corpus = tiny_corpus(tmp_path / "corpus", train=3, dev=2, seconds=4.0)
    bad = tmp_path / "bad-run"
    code = main(["run", "--data-root", str(corpus), "--models", "e2e-audio", "--out", str(bad), "--no-progress",
                 "--option", "e2e-audio.max_epoch=1"])
    assert code != 0 and not bad.exists()  # refused before any run folder was made
    out = tmp_path / "run"
    code = main(["run", "--data-root", str(corpus), "--models", "e2e-audio", "--out", str(out), "--no-progress",
                 "--option", "e2e-audio.preset=smoke", "--option", "e2e-audio.max_epochs=1"])
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["models"][0]["options"] == {"preset": "smoke", "max_epochs": 1}
    status = json.loads((out / "units" / "e2e-audio" / "seed-0" / "status.json").read_text())
    assert status["profile"]["preset"] == "smoke" and status["profile"]["epochs"] == 1
    code = main(["run", "--data-root", str(corpus), "--models", "e2e-audio", "--out", str(out), "--no-progress",
                 "--option", "e2e-audio.preset=smoke", "--option", "e2e-audio.max_epochs=2"])
    assert code != 0  # the folder holds a run with other options: not resumed as if it were this one


def test_a_broken_plugin_is_listed_and_fatal_only_to_a_run_that_asks_for_it(with_plugin, foreign_corpus, tmp_path,
                                                                          capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"throwaway-broken .*BROKEN: Plugin 'throwaway-broken' \(throwaway_plugin_missing:Nothing, "
                     r"package throwaway-plugin\) failed to import: ModuleNotFoundError", out)
    assert re.search(r"Throwaway.Bad .*REFUSED: The model name 'Throwaway.Bad' \(entry point "
                     r"throwaway_plugin:AudioEnergy, package throwaway-plugin\) is not allowed", out)
    assert "Throwaway.Bad" not in model_names()
    assert main(["run", "--data-root", str(foreign_corpus), "--models", "mean", "--out", str(tmp_path / "ok"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", "--data-root", str(foreign_corpus), "--models", "throwaway-broken", "--out",
                 str(tmp_path / "broken"), "--no-progress"]) == 2
    assert "Plugin 'throwaway-broken'" in capsys.readouterr().err and not (tmp_path / "broken").exists()


def test_models_and_device_arguments_are_checked(foreign_corpus, tmp_path, capsys):
    assert main(["run", "--data-root", str(foreign_corpus), "--models", ",", "--out", str(tmp_path / "r")]) == 2
    assert "--models ',' names no model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["run", "--device", "tpu:9"])
    assert exited.value.code == 2 and "expected auto, cpu, cuda or cuda:N, got 'tpu:9'" in capsys.readouterr().err
