"""eGeMAPS functionals over sliding windows: shape, grid alignment, agreement with openSMILE's own
per-excerpt functionals, resampling, degenerate audio, errors and the content cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from baselines.features import egemaps
from baselines.features.egemaps import (
    NUM_EGEMAPS_FEATURES,
    NonFiniteFeatureWarning,
    cached_egemaps_window_features,
    egemaps_feature_names,
    egemaps_window_features,
    label_frame_window_indices,
)
from benchbox.cache import Cache
from benchbox.errors import MediaError

SECONDS = 12.0
STEP_S = 0.04
NUM_FRAMES = int(round(SECONDS / STEP_S)) + 1  # frame 0 at t = 0, the last at t = 12 s


def voiced_signal(seconds: float, *, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Speech-like test sound: a harmonic tone with F0 modulation, voiced/unvoiced bursts and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    f0_hz = 140 + 30 * np.sin(2 * np.pi * 0.3 * t) + 10 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 12))
    voiced = np.sin(2 * np.pi * 0.7 * t) > -0.3
    loudness = 0.6 + 0.4 * np.sin(2 * np.pi * 0.13 * t)
    return (0.2 * harmonics * voiced * loudness + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_voiced_wav(path: Path, seconds: float, *, rate: int = 16_000, seed: int = 0) -> Path:
    soundfile.write(path, voiced_signal(seconds, rate=rate, seed=seed), rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def voiced_wav(tmp_path_factory) -> Path:
    return write_voiced_wav(tmp_path_factory.mktemp("egemaps") / "voiced.wav", SECONDS)


@pytest.fixture(scope="module")
def voiced_features(voiced_wav) -> np.ndarray:
    return egemaps_window_features(voiced_wav, num_frames=NUM_FRAMES)


def reference_functionals(signal: np.ndarray) -> np.ndarray:
    """openSMILE's standard eGeMAPS v02 functionals of one excerpt (the independent reference)."""
    import opensmile

    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    return smile.process_signal(signal, 16_000).to_numpy()[0]


def test_shape_dtype_names_and_finite(voiced_features):
    assert voiced_features.shape == (NUM_FRAMES, NUM_EGEMAPS_FEATURES)
    assert voiced_features.dtype == np.float32
    assert np.isfinite(voiced_features).all()
    names = egemaps_feature_names()
    assert len(names) == NUM_EGEMAPS_FEATURES and names[0] == "F0semitoneFrom27.5Hz_sma3nz_amean"


def test_edge_frames_take_the_nearest_full_window(voiced_features):
    half_window_frames = 50  # 2 s / 40 ms: frame 50 (t = 2 s) is the first with a full 4 s window
    assert (voiced_features[:half_window_frames] == voiced_features[half_window_frames]).all()
    assert not (voiced_features[half_window_frames + 1] == voiced_features[half_window_frames]).all()
    # the last full window ends inside the file's last 60 ms; later frames repeat it
    last_full = NUM_FRAMES - 1 - half_window_frames - 1
    assert (voiced_features[last_full:] == voiced_features[last_full]).all()
    assert not (voiced_features[last_full - 1] == voiced_features[last_full]).all()


@pytest.mark.parametrize("label_frame", [100, 175])
def test_window_matches_opensmile_functionals_of_the_excerpt(voiced_wav, voiced_features, label_frame):
    """Frame i summarises [t_i - 2 s, t_i + 2 s). Differences come from LLD edge effects in the cut
    excerpt (pitch Viterbi smoothing, 3-frame moving averages, voiced-segment boundaries)."""
    signal, _ = soundfile.read(voiced_wav, dtype="float32")
    start = int(round((label_frame * STEP_S - 2.0) * 16_000))
    reference = reference_functionals(signal[start : start + 4 * 16_000])
    ours = voiced_features[label_frame].astype(np.float64)
    relative = np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-6)
    assert np.median(relative) < 0.01
    assert np.mean(relative < 0.05) >= 0.85


def test_window_is_centred_on_the_label_frame(tmp_path):
    """Near-silence until 6 s, a steady harmonic tone after: the window centred on frame 150 (t = 6 s)
    is half tone, so its mean loudness is midway; a window shifted by one frame (40 ms) is 1 % off."""
    rate = 16_000
    t = np.arange(12 * rate) / rate
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    noise = 0.001 * np.random.default_rng(0).standard_normal(t.size)
    path = tmp_path / "onset.wav"
    soundfile.write(path, (noise + 0.2 * (t >= 6.0) * tone).astype(np.float32), rate, subtype="PCM_16")
    loudness = egemaps_window_features(path, num_frames=NUM_FRAMES)[
        :, egemaps_feature_names().index("loudness_sma3_amean")
    ]
    fraction_of_tone = (loudness - loudness[50]) / (loudness[250] - loudness[50])
    assert abs(fraction_of_tone[150] - 0.5) < 0.005
    assert abs(fraction_of_tone[149] - 0.49) < 0.005 and abs(fraction_of_tone[151] - 0.51) < 0.005
    assert fraction_of_tone[99] < 0.001 < fraction_of_tone[101]  # first window to reach t = 6 s


def test_44k_stereo_input_is_resampled_to_16k(tmp_path, voiced_features):
    from scipy.signal import resample_poly

    mono = resample_poly(voiced_signal(SECONDS), 441, 160).astype(np.float32)  # the 16 kHz sound at 44.1 kHz
    path = tmp_path / "voiced_44k.wav"
    soundfile.write(path, np.stack([mono, mono], axis=1), 44_100, subtype="PCM_16")
    features = egemaps_window_features(path, num_frames=NUM_FRAMES)
    assert features.shape == (NUM_FRAMES, NUM_EGEMAPS_FEATURES)
    # up- and down-sampling and 16-bit rounding twice: close to the 16 kHz analysis, not bit-identical
    relative = np.abs(features - voiced_features) / np.maximum(np.abs(voiced_features), 1e-6)
    assert np.median(relative) < 0.01


def test_window_length_is_a_parameter(voiced_wav, voiced_features):
    features = egemaps_window_features(voiced_wav, num_frames=NUM_FRAMES, window_s=2.0)
    assert features.shape == (NUM_FRAMES, NUM_EGEMAPS_FEATURES)
    assert (features[:25] == features[25]).all() and not (features[26] == features[25]).all()
    assert not np.allclose(features, voiced_features)


def test_silent_wav_gives_finite_features(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(8 * 16_000, dtype=np.float32), 16_000, subtype="PCM_16")
    features = egemaps_window_features(path, num_frames=201)
    assert features.shape == (201, NUM_EGEMAPS_FEATURES)
    assert np.isfinite(features).all()


def test_non_finite_values_become_zero_with_a_warning_naming_the_file(voiced_wav, monkeypatch):
    values = np.ones((3, NUM_EGEMAPS_FEATURES))
    values[1, 5] = np.nan
    values[2, 7] = np.inf
    monkeypatch.setattr(
        egemaps, "_frame_mode_functionals", lambda *args: (np.array([0.0, 0.04, 0.08]), values)
    )
    with pytest.warns(NonFiniteFeatureWarning, match=r"voiced\.wav.*2 non-finite"):
        features = egemaps_window_features(voiced_wav, num_frames=60)
    assert np.isfinite(features).all() and features[51, 5] == 0 and features[52, 7] == 0


def test_file_shorter_than_a_window_gets_whole_file_functionals(tmp_path):
    path = write_voiced_wav(tmp_path / "short.wav", 2.5)
    features = egemaps_window_features(path, num_frames=63)
    assert (features == features[0]).all()
    signal, _ = soundfile.read(path, dtype="float32")
    np.testing.assert_allclose(features[0], reference_functionals(signal), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "content", [b"", b"this is not audio at all", b"RIFF\x10\x00\x00\x00WAVEfmt garbage"]
)
def test_unreadable_audio_raises_media_error_naming_the_file(tmp_path, content):
    path = tmp_path / "broken_7.wav"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="broken_7.wav"):
        egemaps_window_features(path, num_frames=10)


def test_missing_file_raises_media_error(tmp_path):
    with pytest.raises(MediaError, match="absent.wav"):
        egemaps_window_features(tmp_path / "absent.wav", num_frames=10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_frames": 0}, "'num_frames' parameter .* Got 0 instead"),
        ({"num_frames": 10, "window_s": 0.015}, "'window_s' parameter .* Got 0.015 instead"),
        ({"num_frames": 10, "window_s": -4.0}, "'window_s' parameter .* Got -4.0 instead"),
        ({"num_frames": 10, "frame_step_s": 0.0}, "'frame_step_s' parameter .* Got 0.0 instead"),
    ],
)
def test_bad_parameters_are_named(voiced_wav, kwargs, match):
    with pytest.raises(ValueError, match=match):
        egemaps_window_features(voiced_wav, **kwargs)


def test_cache_second_run_extracts_nothing(tmp_path, voiced_wav, voiced_features, monkeypatch):
    cache = Cache(tmp_path / "cache")
    first = cached_egemaps_window_features(cache, voiced_wav, num_frames=NUM_FRAMES)
    np.testing.assert_array_equal(first, voiced_features)

    def must_not_run(*args, **kwargs):
        raise AssertionError("extracted again on a cache hit")

    monkeypatch.setattr(egemaps, "egemaps_window_features", must_not_run)
    second = cached_egemaps_window_features(cache, voiced_wav, num_frames=NUM_FRAMES)
    np.testing.assert_array_equal(second, first)
    with pytest.raises(AssertionError, match="extracted again"):  # another window length is another entry
        cached_egemaps_window_features(cache, voiced_wav, num_frames=NUM_FRAMES, window_s=2.0)


def test_label_frames_map_to_the_window_with_the_nearest_centre():
    starts = np.arange(5) * 0.04  # windows of 0.16 s: centres at 0.08 ... 0.24
    indices = label_frame_window_indices(starts, window_s=0.16, num_frames=9, frame_step_s=0.04)
    assert indices.tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4]
    # 0.12 s windows: centres fall midway between label frames; the earlier window wins the tie
    indices = label_frame_window_indices(starts, window_s=0.12, num_frames=6, frame_step_s=0.04)
    assert indices.tolist() == [0, 0, 0, 1, 2, 3]
