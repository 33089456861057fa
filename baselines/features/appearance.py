"""Facial appearance features in the spirit of AVEC's LGBP-TOP, on the 40 ms label grid.

Uniform local binary patterns on three orthogonal planes (LBP-TOP) of the face-crop volume, optionally
on Gabor magnitude images (LGBP-TOP), as block histograms pooled over a temporal window centred on every
label frame; :class:`AppearancePCA` reduces them (standardisation + PCA, fitted on train only).

Codes
    8 neighbours at radius 1 (the square 8-neighbourhood, no interpolation), bit ``k`` set when
    neighbour ``k`` (clockwise from the top-left) is ``>=`` the centre. Codes with at most two 0/1
    transitions around the circle (58 of 256) get bins 0-57 in increasing code value; all others share
    bin 58: ``NUM_LBP_BINS = 59``. Planes of a ``(T, H, W)`` volume: XY (rows = y, columns = x, per
    frame), XT (rows = t, columns = x, per image row y) and YT (rows = t, columns = y, per image column
    x). Only interior centres get a code, so XT / YT codes exist for frames ``1 .. T-2``.

Blocks and windows
    A code belongs to the block of a ``grid`` (rows x columns, over the full crop) that holds its
    centre pixel. Per-frame block histograms of the three planes are counted once; the histogram of a
    window is a difference of cumulative sums, so a window is never recounted. Label frame ``i`` (at
    ``0.04 i`` s) uses video frame ``c = min(i, T - 1)`` (RECOLA video and labels share the 25 Hz grid;
    a 300 s session has 7,500 frames and 7,501 labels) and the window ``[c - (w-1)//2, c + w//2]``
    clipped to the video: edge frames use the partial window. Every (filter, plane, block) histogram is
    normalised to sum 1 over its window; one with no codes at all (fewer than 3 frames, empty block)
    is all zeros.

Feature layout
    ``D = F * 3 * rows * cols * 59`` columns, ordered (filter, plane XY/XT/YT, block row, block
    column, bin); ``F = 1`` without Gabor and ``F = 8`` with it. Default (4 x 4 grid): ``D = 2,832``;
    with Gabor ``D = 22,656``. See :func:`appearance_feature_dim`.

Gabor (LGBP)
    With ``gabor=True`` the grey crops are first halved in resolution (area averaging; 96 -> 48 px),
    then filtered by a bank of 2 wavelengths (4 and 8 px at half resolution, i.e. 8 and 16 px on the
    crop) x 4 orientations (0, 45, 90, 135 degrees); LBP-TOP is computed on each complex magnitude.
    The halving keeps the cost within the speed budget (full resolution costs about 4 times more).

Speed and memory (one core, a 300 s session of 7,500 crops of 96 x 96; measured with
``tests/benchmarks/test_bench_appearance.py``): LBP-TOP about 3.2 s (output 85 MB); LGBP-TOP about
15 s (output 680 MB: reduce it with :class:`AppearancePCA` before keeping many sessions in memory).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, NamedTuple

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = [
    "APPEARANCE_EXTRACTOR",
    "APPEARANCE_EXTRACTOR_VERSION",
    "NUM_LBP_BINS",
    "NUM_GABOR_FILTERS",
    "LbpTopCodes",
    "lbp_codes",
    "appearance_feature_dim",
    "appearance_window_features",
    "HOG_EXTRACTOR",
    "HOG_EXTRACTOR_VERSION",
    "hog_feature_dim",
    "hog_window_features",
    "AppearancePCA",
]

APPEARANCE_EXTRACTOR = "lbp_top_windows"
#: Bump when the output of :func:`appearance_window_features` changes for the same inputs and parameters.
APPEARANCE_EXTRACTOR_VERSION = "1"
NUM_LBP_BINS = 59
_NON_UNIFORM_BIN = NUM_LBP_BINS - 1

#: Neighbour offsets (row, column) in bit order: clockwise from the top-left.
_NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
_PLANE_AXES = {"xy": (1, 2), "xt": (0, 2), "yt": (0, 1)}  # (row axis, column axis) of a (T, H, W) volume

_GABOR_DOWNSAMPLE = 2
_GABOR_WAVELENGTHS_PX = (4.0, 8.0)  # at the downsampled resolution
_GABOR_ORIENTATIONS_RAD = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
NUM_GABOR_FILTERS = len(_GABOR_WAVELENGTHS_PX) * len(_GABOR_ORIENTATIONS_RAD)

HOG_EXTRACTOR = "hog_windows"
#: Bump when the output of :func:`hog_window_features` changes for the same inputs and parameters.
HOG_EXTRACTOR_VERSION = "1"
_HOG_BINS = 9

_CHUNK_FRAMES = 256  # frames per pass: bounds memory on memory-mapped sessions


class LbpTopCodes(NamedTuple):
    """Uniform-LBP bin (0-58) of every interior centre of a ``(T, H, W)`` volume, per plane.

    Shapes: ``xy`` ``(T, H-2, W-2)``; ``xt`` ``(T-2, H, W-2)``; ``yt`` ``(T-2, H-2, W)``; index
    ``[t, y, x]`` of each refers to the volume position ``t (+1), y (+1), x (+1)`` of its centre.
    """

    xy: np.ndarray
    xt: np.ndarray
    yt: np.ndarray


@functools.lru_cache(maxsize=1)
def _uniform_bin_lut() -> np.ndarray:
    codes = np.arange(256)
    bits = (codes[:, None] >> np.arange(8)) & 1
    transitions = (bits != np.roll(bits, -1, axis=1)).sum(axis=1)
    lut = np.full(256, _NON_UNIFORM_BIN, dtype=np.uint8)
    uniform = codes[transitions <= 2]
    lut[uniform] = np.arange(uniform.size, dtype=np.uint8)
    return lut


def _plane_codes(volume: np.ndarray, plane: str) -> np.ndarray:
    """Uniform-LBP bins of one plane of a (T, H, W) volume (any real dtype), interior centres only."""
    row_axis, col_axis = _PLANE_AXES[plane]
    num_rows, num_cols = volume.shape[row_axis], volume.shape[col_axis]

    def shifted(d_row: int, d_col: int) -> np.ndarray:
        index = [slice(None)] * 3
        index[row_axis] = slice(1 + d_row, num_rows - 1 + d_row)
        index[col_axis] = slice(1 + d_col, num_cols - 1 + d_col)
        return volume[tuple(index)]

    centre = shifted(0, 0)
    code = np.zeros(centre.shape, dtype=np.uint8)
    is_ge = np.empty(centre.shape, dtype=np.bool_)
    bit = np.empty(centre.shape, dtype=np.uint8)
    for k, (d_row, d_col) in enumerate(_NEIGHBOUR_OFFSETS):
        np.greater_equal(shifted(d_row, d_col), centre, out=is_ge)
        np.left_shift(is_ge.view(np.uint8), k, out=bit)
        np.bitwise_or(code, bit, out=code)
    return _uniform_bin_lut()[code]


def lbp_codes(gray_volume: np.ndarray) -> LbpTopCodes:
    """Uniform LBP (8 neighbours, radius 1, 59 bins) on the XY, XT and YT planes of a volume.

    Args:
        gray_volume: ``(T, H, W)`` array of any real dtype (grey levels or filter magnitudes).

    Returns:
        :class:`LbpTopCodes` of uint8 bins (58 = non-uniform); planes with fewer than 3 samples along
        an axis come back empty.

    Example:
        >>> volume = np.tile(np.arange(5, dtype=np.uint8), (4, 5, 1))  # static horizontal ramp
        >>> codes = lbp_codes(volume)
        >>> codes.xy.shape, codes.xt.shape, codes.yt.shape
        ((4, 3, 3), (2, 5, 3), (2, 3, 5))
    """
    volume = np.asarray(gray_volume)
    if volume.ndim != 3 or not (
        np.issubdtype(volume.dtype, np.integer) or np.issubdtype(volume.dtype, np.floating)
    ):
        raise ValueError(
            "The 'gray_volume' parameter of lbp_codes must be a real (T, H, W) array. "
            f"Got shape {volume.shape} and dtype {volume.dtype} instead."
        )
    return LbpTopCodes(*(_plane_codes(volume, plane) for plane in ("xy", "xt", "yt")))


def appearance_feature_dim(*, grid: tuple[int, int] = (4, 4), gabor: bool = False) -> int:
    """Number of columns of :func:`appearance_window_features` for a grid and Gabor setting."""
    num_filters = NUM_GABOR_FILTERS if gabor else 1
    return num_filters * 3 * grid[0] * grid[1] * NUM_LBP_BINS


def appearance_window_features(
    crops: np.ndarray,
    *,
    num_frames: int,
    window_frames: int = 25,
    grid: tuple[int, int] = (4, 4),
    gabor: bool = False,
) -> np.ndarray:
    """LBP-TOP (or LGBP-TOP) block histograms over the temporal window centred on every label frame.

    Args:
        crops: face crops, ``(T, H, W, 3)`` RGB or ``(T, H, W)`` grey, uint8 (or float); may be
            memory-mapped: it is read in chunks of 256 frames. Frame ``j`` is at ``0.04 j`` s.
        num_frames: length of the label grid (7,501 for a 300 s RECOLA session); label frame ``i``
            uses video frame ``min(i, T - 1)``.
        window_frames: window length in video frames (25 = 1 s), centred on the label frame.
        grid: blocks (rows, columns) of the spatial pooling.
        gabor: LGBP-TOP on 8 Gabor magnitude images (half resolution) instead of LBP-TOP on grey.

    Returns:
        float32 array ``(num_frames, appearance_feature_dim(grid=grid, gabor=gabor))``, finite; each
        59-bin (filter, plane, block) histogram sums to 1 (or is all zeros when it holds no codes).

    Raises:
        ValueError: a parameter is out of range or ``crops`` has the wrong shape.

    Example:
        >>> crops = np.random.default_rng(0).integers(0, 256, (30, 96, 96, 3), dtype=np.uint8)
        >>> appearance_window_features(crops, num_frames=31).shape
        (31, 2832)
    """
    function = "appearance_window_features"
    _check_crops(function, crops, min_size=3 * _GABOR_DOWNSAMPLE if gabor else 3)
    _check_positive_int(function, "num_frames", num_frames)
    _check_positive_int(function, "window_frames", window_frames)
    if not (
        isinstance(grid, tuple | list)
        and len(grid) == 2
        and all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in grid)
    ):
        raise ValueError(
            f"The 'grid' parameter of {function} must be a pair of positive ints (rows, columns). "
            f"Got {grid!r} instead."
        )
    grid = (int(grid[0]), int(grid[1]))

    per_frame = _per_frame_block_histograms(crops, grid=grid, gabor=bool(gabor))
    return _window_histograms(per_frame, num_frames=num_frames, window_frames=window_frames)


def hog_feature_dim(*, size: int = 96, cell_px: int = 16) -> int:
    """Number of columns of :func:`hog_window_features`: blocks of 2 x 2 cells, one cell apart, 9 bins."""
    blocks = size // cell_px - 1
    return blocks * blocks * 4 * _HOG_BINS


def hog_window_features(crops: np.ndarray, *, num_frames: int, window_frames: int = 25,
                        cell_px: int = 16) -> np.ndarray:
    """Histograms of oriented gradients of every crop, averaged over the window centred on each label frame.

    HOG (Dalal and Triggs 2005) with OpenCV's descriptor: unsigned gradients in 9 orientation bins per
    ``cell_px`` x ``cell_px`` cell, blocks of 2 x 2 cells one cell apart, each block L2-Hys normalised (so
    local contrast and lighting cancel). It describes where the edges of the face run (mouth corners,
    brows, eyelids), the appearance cue that OpenFace's facial action unit models read, and complements
    LBP-TOP's texture and motion histograms. The window convention is that of
    :func:`appearance_window_features` (label frame ``i`` uses video frame ``min(i, T - 1)``; edge frames
    use the part of the window inside the video).

    Args:
        crops: ``(T, S, S, 3)`` RGB or ``(T, S, S)`` grey square crops (uint8 or float); read in chunks.
        num_frames: length of the label grid.
        window_frames: window length in video frames (25 = 1 s).
        cell_px: cell side; ``S`` must be a multiple of it and at least two cells.

    Returns:
        float32 array ``(num_frames, hog_feature_dim(size=S, cell_px=cell_px))``, finite.

    Example:
        >>> crops = np.random.default_rng(0).integers(0, 256, (30, 96, 96, 3), dtype=np.uint8)
        >>> hog_window_features(crops, num_frames=31).shape
        (31, 900)
    """
    function = "hog_window_features"
    _check_crops(function, crops, min_size=3)
    _check_positive_int(function, "num_frames", num_frames)
    _check_positive_int(function, "window_frames", window_frames)
    _check_positive_int(function, "cell_px", cell_px)
    size = int(crops.shape[1])
    if crops.shape[2] != size or size % cell_px or size < 2 * cell_px:
        raise ValueError(f"The 'crops' parameter of {function} must hold square crops whose side is a multiple of "
                         f"cell_px={cell_px} and at least two cells. Got {crops.shape[1]} x {crops.shape[2]} instead.")
    descriptor = cv2.HOGDescriptor((size, size), (2 * cell_px, 2 * cell_px), (cell_px, cell_px),
                                   (cell_px, cell_px), _HOG_BINS)
    num_video_frames = int(crops.shape[0])
    per_frame = np.empty((num_video_frames, hog_feature_dim(size=size, cell_px=cell_px)), dtype=np.float32)
    for start in range(0, num_video_frames, _CHUNK_FRAMES):
        gray = _to_gray(np.asarray(crops[start : start + _CHUNK_FRAMES]))
        if gray.dtype != np.uint8:
            gray = np.clip(gray, 0, 255).astype(np.uint8)
        for k, image in enumerate(gray):
            per_frame[start + k] = descriptor.compute(image).ravel()
    lows, highs = _window_bounds(num_frames, num_video_frames, window_frames)
    cumulative = np.zeros((num_video_frames + 1, per_frame.shape[1]), dtype=np.float64)
    np.cumsum(per_frame, axis=0, out=cumulative[1:])
    return ((cumulative[highs] - cumulative[lows]) / (highs - lows)[:, None]).astype(np.float32)


def _check_positive_int(function: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"The '{name}' parameter of {function} must be a positive int. Got {value!r} instead."
        )


def _check_crops(function: str, crops: Any, *, min_size: int) -> None:
    shape = getattr(crops, "shape", None)
    dtype = getattr(crops, "dtype", None)
    ok_shape = shape is not None and (len(shape) == 3 or (len(shape) == 4 and shape[3] == 3))
    ok_dtype = dtype is not None and (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating))
    if not (ok_shape and ok_dtype and shape[0] >= 1 and min(shape[1], shape[2]) >= min_size):
        raise ValueError(
            f"The 'crops' parameter of {function} must be a real array of shape (T, H, W, 3) (RGB) or "
            f"(T, H, W) (grey) with T >= 1 and H, W >= {min_size}"
            f"{' (Gabor works at half resolution)' if min_size > 3 else ''}. "
            f"Got shape {shape} and dtype {dtype} instead."
        )


def _to_gray(chunk: np.ndarray) -> np.ndarray:
    """(n, H, W[, 3]) -> (n, H, W) grey: uint8 stays uint8, anything else becomes float32."""
    chunk = np.ascontiguousarray(chunk if chunk.dtype == np.uint8 else chunk.astype(np.float32))
    if chunk.ndim == 3:
        return chunk
    num, height, width, _ = chunk.shape
    return cv2.cvtColor(chunk.reshape(num * height, width, 3), cv2.COLOR_RGB2GRAY).reshape(num, height, width)


@functools.lru_cache(maxsize=1)
def _gabor_kernels() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(even, odd) float32 kernel pairs: zero-mean, unit L1 norm; wavelength-major order."""
    kernels = []
    for wavelength in _GABOR_WAVELENGTHS_PX:
        sigma = 0.56 * wavelength  # about one octave of bandwidth
        size = 2 * int(np.ceil(2 * sigma)) + 1
        for theta in _GABOR_ORIENTATIONS_RAD:
            pair = []
            for phase in (0.0, np.pi / 2):
                kernel = cv2.getGaborKernel(
                    (size, size), sigma, theta, wavelength, 0.5, phase, ktype=cv2.CV_64F
                )
                kernel -= kernel.mean()
                pair.append((kernel / np.abs(kernel).sum()).astype(np.float32))
            kernels.append(tuple(pair))
    return tuple(kernels)


def _gabor_magnitudes(gray: np.ndarray) -> list[np.ndarray]:
    """Gabor magnitude volumes (n, H/2, W/2) float32 of a grey (n, H, W) volume, one per filter.

    Each frame is filtered on its own (reflect-101 borders, as cv2's default), but with one cv2 call
    per kernel: frames are stacked vertically, each padded above and below with its own reflection.
    """
    num, height, width = gray.shape
    small_size = (width // _GABOR_DOWNSAMPLE, height // _GABOR_DOWNSAMPLE)  # (width, height), as cv2
    gray = gray.astype(np.float32)
    if height % _GABOR_DOWNSAMPLE == 0:  # one call: area averaging never mixes rows of two frames
        small = cv2.resize(
            gray.reshape(num * height, width),
            (small_size[0], num * small_size[1]),
            interpolation=cv2.INTER_AREA,
        )
    else:
        small = np.stack([cv2.resize(frame, small_size, interpolation=cv2.INTER_AREA) for frame in gray])
    small_height = small_size[1]
    small = small.reshape(num, small_height, small_size[0])
    magnitudes = []
    padded_by: dict[int, np.ndarray] = {}
    for even, odd in _gabor_kernels():
        pad = even.shape[0] // 2
        if pad not in padded_by:
            padded_by[pad] = np.ascontiguousarray(
                np.pad(small, ((0, 0), (pad, pad), (0, 0)), mode="reflect").reshape(-1, small.shape[2])
            )
        stacked = padded_by[pad]
        response = cv2.magnitude(
            cv2.filter2D(stacked, cv2.CV_32F, even), cv2.filter2D(stacked, cv2.CV_32F, odd)
        )
        magnitudes.append(response.reshape(num, small_height + 2 * pad, -1)[:, pad : pad + small_height])
    return magnitudes


def _block_ids(height: int, width: int, grid: tuple[int, int]) -> np.ndarray:
    """(H, W) int32 block index (row-major over the grid) of every pixel."""
    rows = np.arange(height) * grid[0] // height
    cols = np.arange(width) * grid[1] // width
    return (rows[:, None] * grid[1] + cols[None, :]).astype(np.int32)


def _bin_offsets(block_ids: np.ndarray, num_blocks: int, num_frames: int) -> np.ndarray:
    """(num_frames, h, w) intp: where the 59 bins of each code's (frame, block) histogram start."""
    frames = np.arange(num_frames, dtype=np.intp)[:, None, None]
    return (frames * num_blocks + block_ids[None].astype(np.intp)) * NUM_LBP_BINS


def _count_blocks(bins: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Add per-frame block histograms of ``bins`` (n, h, w) into ``out`` (n, blocks * 59).

    ``offsets`` comes from :func:`_bin_offsets` with at least n frames.
    """
    num = bins.shape[0]
    if num == 0:
        return
    index = np.add(offsets[:num], bins, dtype=np.intp)
    counts = np.bincount(index.ravel(), minlength=num * out.shape[1])
    out += counts.reshape(num, out.shape[1]).astype(out.dtype, copy=False)


def _per_frame_block_histograms(crops: np.ndarray, *, grid: tuple[int, int], gabor: bool) -> np.ndarray:
    """(T, F * 3 * blocks * 59) integer counts of codes centred on each video frame."""
    num_video_frames, height, width = crops.shape[:3]
    if gabor:
        height, width = height // _GABOR_DOWNSAMPLE, width // _GABOR_DOWNSAMPLE
    num_filters = NUM_GABOR_FILTERS if gabor else 1
    num_blocks = grid[0] * grid[1]
    block_ids = _block_ids(height, width, grid)
    plane_block_ids = {"xy": block_ids[1:-1, 1:-1], "xt": block_ids[:, 1:-1], "yt": block_ids[1:-1, :]}
    chunk_frames = min(_CHUNK_FRAMES, num_video_frames)
    plane_offsets = {
        plane: _bin_offsets(ids, num_blocks, chunk_frames) for plane, ids in plane_block_ids.items()
    }
    plane_width = num_blocks * NUM_LBP_BINS
    largest_block = int(np.bincount(block_ids.ravel()).max())
    dtype = np.uint16 if largest_block <= np.iinfo(np.uint16).max else np.uint32
    counts = np.zeros((num_video_frames, num_filters * 3 * plane_width), dtype=dtype)

    for start in range(0, num_video_frames, _CHUNK_FRAMES):
        stop = min(start + _CHUNK_FRAMES, num_video_frames)
        halo_start, halo_stop = max(start - 1, 0), min(stop + 1, num_video_frames)
        gray = _to_gray(np.asarray(crops[halo_start:halo_stop]))
        volumes = _gabor_magnitudes(gray) if gabor else [gray]
        for filter_index, volume in enumerate(volumes):
            for plane_index, plane in enumerate(("xy", "xt", "yt")):
                column = (filter_index * 3 + plane_index) * plane_width
                if plane == "xy":
                    bins = _plane_codes(volume[start - halo_start : stop - halo_start], "xy")
                    first = start
                else:  # centres at frames halo_start + 1 .. halo_stop - 2, i.e. max(start, 1) ..
                    bins = _plane_codes(volume, plane)  # .. min(stop, T - 1) - 1: no frame twice
                    first = halo_start + 1
                target = counts[first : first + bins.shape[0], column : column + plane_width]
                _count_blocks(bins, plane_offsets[plane], target)
    return counts


def _window_bounds(num_frames: int, num_video_frames: int, window_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Video frames ``[low, high)`` of the window centred on every label frame, clipped to the video."""
    centres = np.minimum(np.arange(num_frames), num_video_frames - 1)
    lows = np.maximum(centres - (window_frames - 1) // 2, 0)
    highs = np.minimum(centres + window_frames // 2 + 1, num_video_frames)
    return lows, highs


def _window_histograms(per_frame: np.ndarray, *, num_frames: int, window_frames: int) -> np.ndarray:
    """Normalised window sums of per-frame counts (T, D) for every label frame -> (num_frames, D)."""
    num_video_frames, dim = per_frame.shape
    lows, highs = _window_bounds(num_frames, num_video_frames, window_frames)
    largest_total = int(per_frame.max(initial=0)) * num_video_frames
    sum_dtype = np.int32 if largest_total < np.iinfo(np.int32).max else np.int64

    features = np.empty((num_frames, dim), dtype=np.float32)
    column_step = 32 * NUM_LBP_BINS  # whole histograms; bounds the cumulative sums (~60 MB a session)
    for column in range(0, dim, column_step):
        block = per_frame[:, column : column + column_step]
        cumulative = np.zeros((num_video_frames + 1, block.shape[1]), dtype=sum_dtype)
        np.cumsum(block, axis=0, dtype=sum_dtype, out=cumulative[1:])
        for row in range(0, num_frames, 2048):
            rows = slice(row, min(row + 2048, num_frames))
            window = (cumulative[highs[rows]] - cumulative[lows[rows]]).reshape(-1, NUM_LBP_BINS)
            totals = window.sum(axis=1, keepdims=True)
            normalised = np.divide(window, totals, out=np.zeros(window.shape), where=totals > 0)
            features[rows, column : column + block.shape[1]] = normalised.reshape(-1, block.shape[1])
    return features


class AppearancePCA(TransformerMixin, BaseEstimator):
    """Standardisation + PCA of appearance features, fitted on training frames only.

    The constructor only stores parameters (scikit-learn style: ``clone`` and ``get_params`` work).
    ``transform`` applies the training mean, scale and components to any data.

    Args:
        n_components: int (clamped to ``min(n_samples, n_features)`` of the fit data) or a float in
            (0, 1): the fraction of variance to keep.
        whiten: scale the components to unit variance.
        random_state: seed of the randomized SVD scikit-learn picks for large inputs.

    Consecutive frames are nearly identical (their windows overlap): fitting on every few frames of
    the training sessions (e.g. ``X[::5]``) gives the same components for a fraction of the cost.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> reducer = AppearancePCA(n_components=3).fit(rng.normal(size=(50, 8)))
        >>> reducer.transform(rng.normal(size=(4, 8))).shape
        (4, 3)
    """

    def __init__(
        self, n_components: int | float = 100, *, whiten: bool = False, random_state: int | None = 0
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None) -> AppearancePCA:  # noqa: N803 (scikit-learn naming)
        from sklearn.decomposition import PCA

        X = check_array(X, dtype=[np.float32, np.float64])  # noqa: N806
        num_samples, num_features = X.shape
        n_components = self.n_components
        is_fraction = isinstance(n_components, numbers.Real) and not isinstance(
            n_components, numbers.Integral
        )
        if is_fraction and not 0.0 < n_components < 1.0:
            raise ValueError(
                "The 'n_components' parameter of AppearancePCA must be a positive int or a float in (0, 1). "
                f"Got {n_components!r} instead."
            )
        if not is_fraction:
            _check_positive_int("AppearancePCA", "n_components", n_components)
            n_components = min(int(n_components), num_samples, num_features)
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0).astype(X.dtype)
        # Tall data and a variance fraction: eigh of the covariance beats a full SVD of X by far.
        solver = "covariance_eigh" if is_fraction and num_samples >= num_features else "auto"
        self.pca_ = PCA(
            n_components=n_components, whiten=self.whiten, svd_solver=solver, random_state=self.random_state
        ).fit((X - self.mean_) / self.scale_)
        self.n_components_ = int(self.pca_.n_components_)
        self.n_features_in_ = num_features
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "pca_")
        X = check_array(X, dtype=[np.float32, np.float64])  # noqa: N806
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"The 'X' parameter of AppearancePCA.transform must have {self.n_features_in_} columns "
                f"(as at fit). Got {X.shape[1]} instead."
            )
        return self.pca_.transform((X - self.mean_) / self.scale_).astype(np.float32)
