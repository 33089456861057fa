"""LBP-TOP appearance features: codes against a plain loop, block/window histograms against an explicit
recount, temporal sanity, learnability of a synthetic mouth, and PCA fitted on train only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline

from baselines.features import appearance
from baselines.features.appearance import (
    NUM_LBP_BINS,
    AppearancePCA,
    appearance_feature_dim,
    appearance_window_features,
    lbp_codes,
)

# ---------------------------------------------------------------------------------------------------
# Independent reference: a loop over every centre, neighbours written out per plane.

_CLOCKWISE = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def _transitions(code: int) -> int:
    bits = format(code, "08b")
    return sum(bits[k] != bits[(k + 1) % 8] for k in range(8))


_UNIFORM_CODES = sorted(code for code in range(256) if _transitions(code) <= 2)


def _reference_bin(code: int) -> int:
    return _UNIFORM_CODES.index(code) if code in _UNIFORM_CODES else 58


def _reference_codes(volume: np.ndarray, plane: str) -> np.ndarray:
    num_t, height, width = volume.shape

    def position(t, y, x, d_row, d_col):
        if plane == "xy":
            return t, y + d_row, x + d_col
        if plane == "xt":
            return t + d_row, y, x + d_col
        return t + d_row, y + d_col, x  # yt: rows = t, columns = y

    t_range = range(num_t) if plane == "xy" else range(1, num_t - 1)
    y_range = range(height) if plane == "xt" else range(1, height - 1)
    x_range = range(width) if plane == "yt" else range(1, width - 1)
    out = np.zeros((len(t_range), len(y_range), len(x_range)), dtype=np.uint8)
    for i, t in enumerate(t_range):
        for j, y in enumerate(y_range):
            for k, x in enumerate(x_range):
                code = sum(
                    1 << bit
                    for bit, (d_row, d_col) in enumerate(_CLOCKWISE)
                    if volume[position(t, y, x, d_row, d_col)] >= volume[t, y, x]
                )
                out[i, j, k] = _reference_bin(code)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_lbp_codes_match_reference_loop(dtype):
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 4, size=(5, 7, 6)).astype(dtype)  # few levels: many ties (>= matters)
    codes = lbp_codes(volume)
    for plane in ("xy", "xt", "yt"):
        got = getattr(codes, plane)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, _reference_codes(volume, plane), err_msg=plane)


def test_lbp_codes_hand_made_patterns():
    assert len(_UNIFORM_CODES) == NUM_LBP_BINS - 1 == 58
    flat = lbp_codes(np.full((4, 5, 5), 7, dtype=np.uint8))
    for plane in flat:
        assert (plane == _reference_bin(0b11111111)).all()  # every neighbour >= centre
    ramp = np.tile(np.arange(6, dtype=np.uint8), (3, 6, 1))  # brighter to the right
    # neighbours at dx = -1 (bits 0, 6, 7) are darker: 0b00111110
    assert (lbp_codes(ramp).xy == _reference_bin(0b00111110)).all()
    checker = ((np.indices((1, 6, 6)).sum(axis=0) % 2) * 200).astype(np.uint8)
    xy = lbp_codes(checker).xy[0]
    bright = checker[0, 1:-1, 1:-1] == 200
    assert (xy[bright] == 58).all()  # 0b10101010: diagonals equal, 4-neighbours darker -> non-uniform
    assert (xy[~bright] == _reference_bin(0b11111111)).all()
    peak = np.zeros((1, 3, 3), dtype=np.uint8)
    peak[0, 1, 1] = 9
    assert lbp_codes(peak).xy[0, 0, 0] == _reference_bin(0) == 0


def test_lbp_codes_rejects_non_volume():
    with pytest.raises(ValueError, match=r"'gray_volume' parameter of lbp_codes .* Got shape \(4, 4\)"):
        lbp_codes(np.zeros((4, 4)))


# ---------------------------------------------------------------------------------------------------
# Temporal dynamics


def _smooth_image(size: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=(size, size)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 3.0)


#: Codes a time-constant volume produces on XT / YT: past and future equal the centre (bits 1, 5)
#: and each past/future neighbour equals the present one; the non-uniform 0b00100010 aside.
_TEMPORALLY_FLAT_BINS = [_reference_bin(code) for code in (0b11111111, 0b00111110, 0b11100011)]


def test_static_volume_gives_flat_temporal_codes_and_motion_does_not():
    image = _smooth_image(40, seed=1)
    static = np.repeat(image[None], 12, axis=0)
    moving = np.stack([np.roll(image, (t, 2 * t), axis=(0, 1)) for t in range(12)])
    static_codes, moving_codes = lbp_codes(static), lbp_codes(moving)
    for plane in ("xt", "yt"):
        assert np.isin(getattr(static_codes, plane), _TEMPORALLY_FLAT_BINS).mean() > 0.9
        assert np.isin(getattr(moving_codes, plane), _TEMPORALLY_FLAT_BINS).mean() < 0.4
    # the XY plane does not see time: same code distribution for both
    static_xy = np.bincount(static_codes.xy.ravel(), minlength=59) / static_codes.xy.size
    moving_xy = np.bincount(moving_codes.xy.ravel(), minlength=59) / moving_codes.xy.size
    assert np.abs(static_xy - moving_xy).sum() < 0.2


# ---------------------------------------------------------------------------------------------------
# Window features against an explicit recount


def _reference_window_features(gray, *, num_frames, window_frames, grid):
    num_t, height, width = gray.shape
    codes = lbp_codes(gray)
    # centre coordinates of every code, per plane
    t_start = {"xy": 0, "xt": 1, "yt": 1}
    y_start = {"xy": 1, "xt": 0, "yt": 1}
    x_start = {"xy": 1, "xt": 1, "yt": 0}
    num_blocks = grid[0] * grid[1]
    counts = {}  # plane -> (T, blocks, 59): codes centred on each frame, per block
    for plane in ("xy", "xt", "yt"):
        plane_codes = getattr(codes, plane)
        counts[plane] = np.zeros((num_t, num_blocks, NUM_LBP_BINS))
        for i, j, k in np.ndindex(plane_codes.shape):
            t, y, x = i + t_start[plane], j + y_start[plane], k + x_start[plane]
            block = (y * grid[0] // height) * grid[1] + x * grid[1] // width
            counts[plane][t, block, plane_codes[i, j, k]] += 1
    rows = []
    for label in range(num_frames):
        centre = min(label, num_t - 1)
        low, high = max(centre - (window_frames - 1) // 2, 0), min(centre + window_frames // 2, num_t - 1)
        row = []
        for plane in ("xy", "xt", "yt"):
            for hist in counts[plane][low : high + 1].sum(axis=0):
                row.append(hist / hist.sum() if hist.sum() else hist)
        rows.append(np.concatenate(row))
    return np.array(rows)


def test_window_features_match_explicit_recount_across_chunks(monkeypatch):
    monkeypatch.setattr(appearance, "_CHUNK_FRAMES", 4)  # several chunks, incl. a 1-frame last one
    gray = np.random.default_rng(2).integers(0, 6, size=(9, 10, 11)).astype(np.uint8)
    features = appearance_window_features(gray, num_frames=11, window_frames=4, grid=(2, 3))
    expected = _reference_window_features(gray, num_frames=11, window_frames=4, grid=(2, 3))
    assert features.dtype == np.float32 and features.shape == (11, appearance_feature_dim(grid=(2, 3)))
    np.testing.assert_allclose(features, expected, atol=1e-6)


def test_window_features_shape_normalisation_and_clamped_labels():
    crops = np.random.default_rng(3).integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    features = appearance_window_features(crops, num_frames=21, window_frames=5)
    assert features.shape == (21, 3 * 16 * 59) == (21, appearance_feature_dim())
    assert features.dtype == np.float32 and np.isfinite(features).all()
    np.testing.assert_allclose(features.reshape(21, -1, 59).sum(axis=2), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(features[20], features[19])  # label 20 -> last video frame 19


def test_window_features_of_memory_mapped_rgb_equal_grey(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "crops.npy"
    np.save(path, rgb)
    mapped = np.load(path, mmap_mode="r")
    gray = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb])
    np.testing.assert_array_equal(
        appearance_window_features(mapped, num_frames=6, grid=(2, 2)),
        appearance_window_features(gray, num_frames=6, grid=(2, 2)),
    )


def test_very_short_clip_has_zero_temporal_histograms():
    features = appearance_window_features(np.zeros((2, 8, 8), np.uint8), num_frames=3, grid=(1, 1))
    xy, xt, yt = features.reshape(3, 3, 59).transpose(1, 0, 2)
    assert (xy.sum(axis=1) == 1).all() and not xt.any() and not yt.any()


@pytest.mark.parametrize("crop_shape", [(24, 20), (25, 21)], ids=["even", "odd"])
def test_gabor_features_shape_and_per_frame_filtering(crop_shape):
    crops = np.random.default_rng(5).integers(0, 256, size=(5, *crop_shape, 3), dtype=np.uint8)
    features = appearance_window_features(crops, num_frames=5, gabor=True, grid=(2, 2))
    assert features.shape == (5, appearance_feature_dim(grid=(2, 2), gabor=True)) == (5, 8 * 3 * 4 * 59)
    np.testing.assert_allclose(features.reshape(5, -1, 59).sum(axis=2), 1.0, rtol=1e-5)
    # frames stacked in one cv2 call are filtered exactly as one frame at a time
    gray = np.random.default_rng(6).normal(size=(3, *crop_shape)).astype(np.float32)
    magnitudes = appearance._gabor_magnitudes(gray)
    small = cv2.resize(gray[1], (crop_shape[1] // 2, crop_shape[0] // 2), interpolation=cv2.INTER_AREA)
    for (even, odd), magnitude in zip(appearance._gabor_kernels(), magnitudes, strict=True):
        expected = cv2.magnitude(cv2.filter2D(small, cv2.CV_32F, even), cv2.filter2D(small, cv2.CV_32F, odd))
        np.testing.assert_allclose(magnitude[1], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crops": np.zeros((5, 8, 8, 4), np.uint8)}, r"'crops' parameter .* Got shape \(5, 8, 8, 4\)"),
        ({"crops": np.zeros((0, 8, 8), np.uint8)}, r"'crops' parameter .* Got shape \(0, 8, 8\)"),
        ({"crops": np.zeros((5, 4, 4), np.uint8), "gabor": True}, r"H, W >= 6 \(Gabor"),
        ({"num_frames": 0}, r"'num_frames' parameter .* Got 0 instead"),
        ({"window_frames": 2.5}, r"'window_frames' parameter .* Got 2.5 instead"),
        ({"grid": (4, 0)}, r"'grid' parameter .* Got \(4, 0\) instead"),
    ],
)
def test_window_features_reject_bad_arguments(kwargs, match):
    arguments = {"crops": np.zeros((5, 8, 8), np.uint8), "num_frames": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        appearance_window_features(arguments.pop("crops"), **arguments)


# ---------------------------------------------------------------------------------------------------
# Learnability: a dark mouth whose opening and curvature follow a hidden variable


def _smooth_trace(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    trace = np.convolve(rng.normal(size=num_frames + 60), np.hanning(31), mode="same")[30:-30]
    return (trace - trace.mean()) / trace.std()


def _mouth_crops(hidden: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey 64 x 64 'faces': a dark bar (mouth) that opens and smiles with ``hidden``; jitter, noise."""
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float32)
    frames = []
    for value in hidden:
        shift_y, shift_x = rng.uniform(-1.5, 1.5, size=2)
        x = (cols - 32 - shift_x) / 14
        curvature = 3.0 * value  # corners up (smile) or down
        centre_line = 44 + shift_y - curvature * x**2
        half_opening = max(2.5 + 1.2 * value, 0.6)
        inside = np.clip(half_opening - np.abs(rows - centre_line), 0, 1) * (np.abs(x) < 1)
        face = 150 + 20 * np.sin(rows / 9) - 110 * inside + rng.normal(0, 6, size=rows.shape)
        frames.append(np.clip(face, 0, 255).astype(np.uint8))
    return np.stack(frames)


def test_features_recover_a_hidden_mouth_variable_on_held_out_frames():
    rng = np.random.default_rng(7)
    hidden_train, hidden_test = _smooth_trace(300, rng), _smooth_trace(200, rng)
    features_train = appearance_window_features(
        _mouth_crops(hidden_train, rng), num_frames=300, window_frames=3
    )
    features_test = appearance_window_features(
        _mouth_crops(hidden_test, rng), num_frames=200, window_frames=3
    )
    model = make_pipeline(AppearancePCA(n_components=40), RidgeCV(alphas=np.logspace(-2, 3, 11)))
    model.fit(features_train, hidden_train)
    r = np.corrcoef(model.predict(features_test), hidden_test)[0, 1]
    assert r > 0.8


# ---------------------------------------------------------------------------------------------------
# PCA fitted on train only


def test_pca_transform_uses_training_statistics():
    rng = np.random.default_rng(8)
    train = rng.normal(size=(120, 10)) * np.arange(1, 11) + 5.0
    train[:, 3] = 2.0  # a constant column (a histogram bin never used) must not divide by zero
    test = rng.normal(size=(30, 10)) + 100.0  # far from the training mean
    reducer = AppearancePCA(n_components=4).fit(train)
    scale = np.where(train.std(axis=0) > 0, train.std(axis=0), 1.0)
    expected = ((test - train.mean(axis=0)) / scale) @ reducer.pca_.components_.T
    got = reducer.transform(test)
    assert got.dtype == np.float32 and got.shape == (30, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(got.mean(axis=0)).max() > 1.0  # not re-centred on the new data
    np.testing.assert_allclose(reducer.transform(train).mean(axis=0), 0.0, atol=1e-6)


def test_pca_parameters_clone_and_component_count():
    reducer = AppearancePCA(n_components=0.9, whiten=True)
    assert clone(reducer).get_params() == {"n_components": 0.9, "whiten": True, "random_state": 0}
    assert not hasattr(reducer, "pca_")  # the constructor stores parameters only
    rng = np.random.default_rng(9)
    data = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 6)) + 0.05 * rng.normal(size=(40, 6))
    assert AppearancePCA(n_components=0.9).fit(data).n_components_ == 2
    assert AppearancePCA(n_components=100).fit(data).n_components_ == 6  # clamped to the data
    with pytest.raises(ValueError, match=r"'n_components' parameter of AppearancePCA .* Got 1.5 instead"):
        AppearancePCA(n_components=1.5).fit(data)
    with pytest.raises(ValueError, match=r"must have 6 columns .* Got 5 instead"):
        AppearancePCA(n_components=2).fit(data).transform(data[:, :5])


# ---------------------------------------------------------------------------------------------------
# HOG


def test_hog_window_features_are_window_means_of_opencv_hog():
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (12, 96, 96, 3), dtype=np.uint8)
    features = appearance.hog_window_features(crops, num_frames=13, window_frames=5)
    assert features.shape == (13, appearance.hog_feature_dim()) == (13, 900) and features.dtype == np.float32
    descriptor = cv2.HOGDescriptor((96, 96), (32, 32), (16, 16), (16, 16), 9)
    per_frame = np.stack([descriptor.compute(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)).ravel() for c in crops])
    np.testing.assert_allclose(features[5], per_frame[3:8].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features[0], per_frame[0:3].mean(axis=0), rtol=1e-5, atol=1e-6)  # clipped window
    np.testing.assert_allclose(features[12], features[11], rtol=1e-6)  # label past the video: last frame


def test_hog_ignores_lighting_gain_but_sees_the_mouth():
    rng = np.random.default_rng(5)
    hidden = _smooth_trace(120, rng)
    crops = np.stack([cv2.resize(c, (96, 96)) for c in _mouth_crops(hidden, rng)])
    darker = (crops * 0.6).astype(np.uint8)
    bright, dark = (appearance.hog_window_features(c, num_frames=120, window_frames=1) for c in (crops, darker))
    assert np.abs(bright - dark).mean() < 0.1 * np.abs(bright).mean()
    model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(bright[:80], hidden[:80])
    assert np.corrcoef(model.predict(bright[80:]), hidden[80:])[0, 1] > 0.8


def test_hog_rejects_crops_that_do_not_tile_into_cells():
    with pytest.raises(ValueError, match="'crops' parameter of hog_window_features must hold square crops"):
        appearance.hog_window_features(np.zeros((3, 90, 90), np.uint8), num_frames=3)


def test_session_normalised_appearance_pca_is_fitted_on_standardised_descriptors():
    """Faces differ between sessions far more than expressions within one: a PCA of raw descriptors puts
    its leading component on identity; with ``session_normalisation`` it must be fitted after each session
    is standardised, so that its leading component follows the expression (what the regressor needs)."""
    import logging
    from types import SimpleNamespace

    from baselines.video import AppearanceXGB

    rng = np.random.default_rng(5)
    expression_axis = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]) / np.sqrt(3)  # e.g. mouth-corner bins
    identity_axis = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]) / np.sqrt(3)  # e.g. face-shape bins

    def session(sid: int) -> SimpleNamespace:
        expression = rng.standard_normal((200, 1))
        rows = expression * expression_axis + 50.0 * rng.standard_normal() * identity_axis
        rows = rows + 0.3 * rng.standard_normal(rows.shape)
        return SimpleNamespace(id=f"train_{sid}", rows=rows, labels=np.hstack([expression, -expression]),
                               num_frames=200)

    class Fixed(AppearanceXGB):
        def _raw_features(self, session, window_s, ctx):
            return session.rows

    train, select = [session(i) for i in range(4)], [session(i) for i in range(4, 6)]
    ctx = SimpleNamespace(seed=0, targets=("arousal", "valence"), logger=logging.getLogger("test"))
    model = Fixed(windows_s=(1.0,), n_components=1, grid={"max_depth": [2], "learning_rate": [0.3]})
    model.fit(train, select, ctx)
    leading = model.pca_[1.0].pca_.components_[0]
    assert abs(leading @ expression_axis) > 0.99
    predictions = model.predict(select, ctx)["train_4"]
    assert np.corrcoef(predictions[:, 0], select[0].labels[:, 0])[0, 1] > 0.9

    raw = Fixed(windows_s=(1.0,), n_components=1, session_normalisation=False,
                grid={"max_depth": [2], "learning_rate": [0.3]})
    raw.fit(train, select, ctx)
    assert abs(raw.pca_[1.0].pca_.components_[0] @ identity_axis) > 0.95


def test_unknown_descriptors_are_refused_when_the_model_is_created():
    from benchbox.errors import RegistryError
    from benchbox.registry import create_model

    with pytest.raises(RegistryError, match=r"Model 'appearance-svr': The 'descriptors' parameter of AppearanceSVR "
                                            r"must be a non-empty subset of \['lbp-top', 'hog'\]. Got \['sift'\]"):
        create_model("appearance-svr", {"descriptors": ["sift"]})
