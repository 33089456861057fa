"""Audio baselines (eGeMAPS + SVR / XGBoost / ridge): the regressor grid search, the plugins' outputs,
learning a label that audio carries (loudness), the feature cache and plugin conformance."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
from foreign_corpus import FRAME_STEP_S, write_arff

from baselines.audio import EgemapsRidge, EgemapsSVR, EgemapsXGB
from baselines.regressors import (
    DEFAULT_GRIDS,
    REGRESSOR_KINDS,
    grid_search_on_select,
    make_regressor,
    parameter_grid,
)
from benchbox.cache import Cache
from benchbox.corpus.avec2016 import load_corpus
from benchbox.corpus.media import SilentAudioWarning
from benchbox.corpus.session import strip_labels
from benchbox.metrics import ccc_score
from benchbox.models.mean import MeanModel
from benchbox.plugin import ModelContext
from benchbox.suites import load_suite
from benchbox.testing import check_model

PLUGINS = {"egemaps-svr": EgemapsSVR, "egemaps-xgb": EgemapsXGB, "egemaps-ridge": EgemapsRidge}
RATE_HZ = 16_000
LOUDNESS_SECONDS = 12.0


# -- a corpus whose labels audio can predict -------------------------------------------------------
def loudness_envelope(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A slow trace in [-1, 1] on the 40 ms grid (a few random sinusoids with 3-8 s periods)."""
    t = np.arange(int(round(seconds / FRAME_STEP_S)) + 1) * FRAME_STEP_S
    trace = sum(np.sin(2 * np.pi * t / rng.uniform(3, 8) + rng.uniform(0, 2 * np.pi)) for _ in range(3))
    return np.clip(trace / 2.2, -1, 1)


def write_loudness_session(root: Path, session_id: str, seconds: float, rng: np.random.Generator) -> None:
    """A harmonic tone whose amplitude follows the label (label -1: -26 dB, +1: 0 dB relative)."""
    labels = loudness_envelope(seconds, rng)
    t = np.arange(int(round(seconds * RATE_HZ))) / RATE_HZ
    f0_hz = 150 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / RATE_HZ
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    gain = 10 ** ((labels - 1) * 13 / 20)  # dB follows the label
    amplitude = np.interp(t, np.arange(len(labels)) * FRAME_STEP_S, gain)
    signal = 0.25 * amplitude * tone + 0.002 * rng.standard_normal(t.size)
    path = root / "recordings_audio" / f"{session_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal.astype(np.float32), RATE_HZ, subtype="PCM_16")
    for target, trace in (("arousal", labels), ("valence", -labels)):
        write_arff(root / "ratings_gold_standard" / target / f"{session_id}.arff", session_id, trace)


@pytest.fixture(scope="module")
def loudness_corpus(tmp_path_factory) -> Path:
    """4 train sessions (the suite selects on the last one) and 2 dev sessions of 12 s, audio only."""
    root = tmp_path_factory.mktemp("loudness") / "corpus"
    rng = np.random.default_rng(7)
    for session_id in ("train_1", "train_2", "train_3", "train_4", "dev_1", "dev_2"):
        write_loudness_session(root, session_id, LOUDNESS_SECONDS, rng)
    return root


def make_ctx(tmp_path: Path, cache: Cache | None = None) -> ModelContext:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return ModelContext(targets=("arousal", "valence"), seed=0, device="cpu",
                        cache=cache or Cache(tmp_path / "cache"), scratch_dir=scratch,
                        logger=logging.getLogger("test"))


def partitions(root: Path):
    suite = load_suite("avec2016")
    return suite.partitions(load_corpus(root, targets=suite.targets, tolerance_frames=suite.tolerance_frames))


# -- regressors ------------------------------------------------------------------------------------
def test_make_regressor_rejects_unknown_kind_and_parameter():
    with pytest.raises(ValueError, match="'kind' parameter of make_regressor .* Got 'svm'"):
        make_regressor("svm")
    with pytest.raises(ValueError, match="'gamma' parameter of make_regressor is not .* LinearSVR"):
        make_regressor("svr", gamma=1.0)


@pytest.mark.parametrize("kind", REGRESSOR_KINDS)
def test_default_grids_are_searchable(kind):
    assert len(parameter_grid(kind)) == len(parameter_grid(kind, DEFAULT_GRIDS[kind])) >= 2


def test_grid_search_picks_the_right_parameters_per_target():
    """Target 0 is an interaction (x0 * x1: stumps cannot fit it, deep trees can); target 1 a noisy step
    in x2 (stumps fit it, deep trees overfit the noise). Selection is on the noise-free select labels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1_200, 5))
    clean = np.stack([x[:, 0] * x[:, 1], np.sign(x[:, 2])], axis=1)
    noisy = clean + np.array([0.1, 2.0]) * rng.standard_normal((1_200, 2))
    train, select = slice(0, 800), slice(800, None)
    result = grid_search_on_select(x[train], noisy[train], x[select], clean[select], "xgb",
                                   {"max_depth": [1, 6], "n_estimators": [100]}, frame_subsample=1)
    assert [t.params["max_depth"] for t in result.targets] == [6, 1]
    for search in result.targets:
        assert search.select_ccc == max(score for _, score in search.candidates) > 0.8
        assert [p["max_depth"] for p, _ in search.candidates] == [1, 6]  # every point, in grid order
    assert result.predict(x[:7]).shape == (7, 2)

    linear = clean[:, 0] + x[:, 3]
    svr = grid_search_on_select(x[train], linear[train], x[select], linear[select], "svr",
                                {"C": [1e-6, 1.0]}, frame_subsample=2)
    assert svr.targets[0].params == {"C": 1.0} and svr.fit_frames == 400


def test_grid_search_is_deterministic_and_validates_input():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((300, 4)), rng.standard_normal(300)
    grid = {"max_depth": [2], "n_estimators": [20]}
    first = grid_search_on_select(x, y, x, y, "xgb", grid, random_state=3)
    second = grid_search_on_select(x, y, x, y, "xgb", grid, random_state=3)
    np.testing.assert_array_equal(first.predict(x), second.predict(x))
    with pytest.raises(ValueError, match="'frame_subsample' parameter .* Got 0"):
        grid_search_on_select(x, y, x, y, "ridge", frame_subsample=0)
    with pytest.raises(ValueError, match="same non-zero number of frames"):
        grid_search_on_select(x, y[:10], x, y, "ridge")


# -- plugins ---------------------------------------------------------------------------------------
def test_importing_the_plugins_is_cheap():
    import subprocess

    code = ("import sys, baselines.audio; heavy = [m for m in ('torch', 'sklearn', 'xgboost', 'opensmile') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_svr_learns_loudness_and_beats_mean(loudness_corpus, tmp_path):
    parts = partitions(loudness_corpus)
    ctx = make_ctx(tmp_path)
    model = EgemapsSVR(windows_s=(1.0, 2.0))
    model.fit(parts.fit, parts.select, ctx)
    predictions = model.predict(strip_labels(parts.test), ctx)
    mean = MeanModel()
    mean.fit(parts.fit, parts.select, ctx)
    mean_predictions = mean.predict(strip_labels(parts.test), ctx)
    for k, target in enumerate(ctx.targets):
        gold = np.concatenate([s.labels[:, k] for s in parts.test])
        svr = ccc_score(gold, np.concatenate([predictions[s.id][:, k] for s in parts.test]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chance = np.nan_to_num(ccc_score(gold, np.concatenate([mean_predictions[s.id][:, k]
                                                                   for s in parts.test])))
        assert svr > 0.5 and svr > chance + 0.4, (target, svr, chance)
    info = model.profile_info()
    assert info["num_features"] == 88 and info["regressor"] == "svr"
    assert set(info["targets"]) == {"arousal", "valence"}
    arousal = info["targets"]["arousal"]
    assert arousal["window_s"] in (1.0, 2.0) and set(arousal["params"]) == {"C"}


def test_second_fit_hits_the_feature_cache(loudness_corpus, tmp_path):
    parts = partitions(loudness_corpus)
    cache = Cache(tmp_path / "cache")
    model = EgemapsRidge(windows_s=(2.0,))
    model.fit(parts.fit, parts.select, make_ctx(tmp_path, cache))
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == len(parts.fit) + len(parts.select)  # one per (file, window)
    stamps = [p.stat().st_mtime_ns for p in entries]
    import baselines.features.egemaps as egemaps

    calls = []
    original = egemaps.egemaps_window_features
    egemaps.egemaps_window_features = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        EgemapsRidge(windows_s=(2.0,)).fit(parts.fit, parts.select, make_ctx(tmp_path, cache))
    finally:
        egemaps.egemaps_window_features = original
    assert calls == []
    assert sorted((tmp_path / "cache").rglob("*.npy")) == entries
    assert [p.stat().st_mtime_ns for p in entries] == stamps


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_plugin_conformance_on_foreign_corpus(name, foreign_corpus):
    result = check_model(PLUGINS[name], corpus_root=foreign_corpus)
    assert result.name == name and result.modalities == ("audio",)
    assert result.num_predicted_sessions == 2


def test_predictions_shape_dtype_and_silent_audio(foreign_corpus, tmp_path):
    """A silent session predicts finite values and warns that the file is silent (naming it)."""
    parts = partitions(foreign_corpus)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(int(4.0 * RATE_HZ), dtype=np.float32), RATE_HZ)
    session = strip_labels(parts.test)[0]
    import dataclasses

    silent_session = dataclasses.replace(session, id="silent", audio_path=silent)
    ctx = make_ctx(tmp_path)
    model = EgemapsXGB(windows_s=(2.0,), grid={"max_depth": [2], "n_estimators": [10]})
    model.fit(parts.fit, parts.select, ctx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictions = model.predict([session, silent_session], ctx)
    silent_warnings = [w for w in caught if issubclass(w.category, SilentAudioWarning)]
    assert silent_warnings and all("silent.wav is silent" in str(w.message) for w in silent_warnings)
    for sid in (session.id, "silent"):
        assert predictions[sid].shape == (session.num_frames, 2)
        assert predictions[sid].dtype == np.float64 and np.isfinite(predictions[sid]).all()


def test_standardised_features_are_clipped_so_outliers_cannot_explode_a_linear_model():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 3))
    y = x[:, 0]
    outlier = np.array([[0.0, 1e6, 0.0]])  # e.g. a stddevNorm functional whose window mean was ~0
    clipped = make_regressor("ridge", alpha=1.0).fit(x, y + 0.1 * x[:, 1])
    plain = make_regressor("ridge", alpha=1.0, clip_sd=None).fit(x, y + 0.1 * x[:, 1])
    assert abs(clipped.predict(outlier)[0]) < 1.0 < abs(plain.predict(outlier)[0])
    with pytest.raises(ValueError, match="'clip_sd' parameter of make_regressor .* Got -1"):
        make_regressor("ridge", clip_sd=-1)


def test_session_normalisation_standardises_each_session_on_its_own():
    from types import SimpleNamespace

    from baselines.windowed import WindowedRegressorModel

    class Fixed(WindowedRegressorModel):
        def _session_features(self, session, window_s, ctx):
            return session.features

    sessions = [SimpleNamespace(features=np.arange(12.0).reshape(6, 2) * scale + offset)
                for scale, offset in ((1.0, 0.0), (3.0, 50.0))]
    on = Fixed(session_normalisation=True)
    stacked = on._features(sessions, 1.0, None)
    np.testing.assert_allclose(stacked[:6].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(stacked[6:].std(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(stacked[:6], stacked[6:], atol=1e-6)  # offsets and scales removed
    off = Fixed()._features(sessions, 1.0, None)
    np.testing.assert_array_equal(off, np.concatenate([s.features for s in sessions]))
