"""eGeMAPS v02 functionals over sliding windows on the 40 ms label grid, one openSMILE pass per file.

The 88 eGeMAPS v02 functionals are computed by openSMILE itself in frame mode: the package's own
``eGeMAPSv02.conf`` routes the frame mode of every ``cFunctionals`` component through the
``frameModeFunctionalsConf`` include, and we point that include at a generated file that says
``frameMode = fixed``, ``frameSize = window_s``, ``frameStep = frame_step_s``. The low-level
descriptors (LLDs, 10 ms hop) are therefore computed once over the whole file, and openSMILE summarises
them over every window in the same pass -- no openSMILE call per window, no change to the eGeMAPS
definition.

Alignment with the label grid
    Label frame ``i`` sits at ``t_i = i * frame_step_s`` (frame 0 at t = 0; a 300 s RECOLA session has
    7,501 frames). Its features summarise the window centred on ``t_i``: the LLD frames whose start
    times lie in ``[t_i - window_s / 2, t_i + window_s / 2)``. (Each LLD frame analyses 20-60 ms of
    audio from its start, so the audio seen reaches at most 60 ms past the window's right edge.)
    openSMILE reports each window's start time; a window's centre is ``start + window_s / 2`` and it is
    assigned to the label frame with the nearest time. When ``window_s / 2`` is an odd multiple of
    half a step, a centre falls midway between two label frames and the earlier window is used.

Edges
    Near the start and end of a file a full window centred on ``t_i`` does not fit in the audio;
    those label frames (the first ``window_s / 2 / frame_step_s`` frames, the last ones, and any
    frames past the end of the audio) get the features of the nearest full window. A file shorter
    than one window gets the functionals of the whole file on every frame. Output is never NaN:
    non-finite values from openSMILE become 0 with a :class:`NonFiniteFeatureWarning` naming the file.

Audio
    Read with soundfile, mixed down to mono, resampled to 16 kHz with
    :func:`scipy.signal.resample_poly` when the file has another rate, and clipped to the 16-bit range
    that the opensmile package converts to.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile

from benchbox.cache import Cache
from benchbox.errors import MediaError

__all__ = [
    "EGEMAPS_EXTRACTOR",
    "EGEMAPS_EXTRACTOR_VERSION",
    "EGEMAPS_SAMPLE_RATE_HZ",
    "NUM_EGEMAPS_FEATURES",
    "NonFiniteFeatureWarning",
    "egemaps_feature_names",
    "egemaps_window_features",
    "cached_egemaps_window_features",
    "label_frame_window_indices",
]

EGEMAPS_EXTRACTOR = "egemaps_v02_windows"
#: Bump when the output of :func:`egemaps_window_features` changes for the same inputs and parameters.
EGEMAPS_EXTRACTOR_VERSION = "1"
EGEMAPS_SAMPLE_RATE_HZ = 16_000
NUM_EGEMAPS_FEATURES = 88
#: Hop of the eGeMAPS low-level descriptors; window length and step must be multiples of it.
LLD_HOP_S = 0.01

_FUNCTIONALS_LEVEL = "func"  # sink level of the functionals in eGeMAPSv02.conf


class NonFiniteFeatureWarning(RuntimeWarning):
    """openSMILE returned NaN or inf for a file (e.g. silence); those values were replaced by 0."""


@functools.lru_cache(maxsize=1)
def egemaps_feature_names() -> tuple[str, ...]:
    """The 88 eGeMAPS v02 functional names, in the column order of the feature arrays."""
    import opensmile

    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    return tuple(smile.feature_names)


def egemaps_window_features(
    wav_path: str | os.PathLike,
    *,
    num_frames: int,
    window_s: float = 4.0,
    frame_step_s: float = 0.04,
) -> np.ndarray:
    """eGeMAPS v02 functionals of the window centred on every label frame.

    Args:
        wav_path: audio file (any rate and channel count libsndfile reads; analysed as 16 kHz mono).
        num_frames: length of the label grid; frame ``i`` is at ``i * frame_step_s`` seconds.
        window_s: window length in seconds (a multiple of 10 ms), part of the model-selection grid.
        frame_step_s: label grid step in seconds (a multiple of 10 ms).

    Returns:
        float32 array of shape ``(num_frames, 88)``, columns as :func:`egemaps_feature_names`; finite.

    Raises:
        MediaError: the file cannot be read as audio or holds no samples.
        ValueError: a parameter is out of range.

    Example:
        >>> features = egemaps_window_features("train_1.wav", num_frames=7501)  # doctest: +SKIP
        >>> features.shape  # doctest: +SKIP
        (7501, 88)
    """
    _check_parameters("egemaps_window_features", num_frames, window_s, frame_step_s)
    signal = _read_mono_16k(Path(wav_path))
    window_starts_s, window_features = _frame_mode_functionals(signal, window_s, frame_step_s)
    if window_features.shape[0] == 0:  # shorter than one window: summarise the whole file
        window_starts_s, window_features = _whole_file_functionals(signal)
    indices = label_frame_window_indices(
        window_starts_s, window_s=window_s, num_frames=num_frames, frame_step_s=frame_step_s
    )
    features = _finite_or_zero(window_features, Path(wav_path))
    return np.ascontiguousarray(features[indices], dtype=np.float32)


def cached_egemaps_window_features(
    cache: Cache,
    wav_path: str | os.PathLike,
    *,
    num_frames: int,
    window_s: float = 4.0,
    frame_step_s: float = 0.04,
) -> np.ndarray:
    """:func:`egemaps_window_features` through the content-addressed cache (memory-mapped on a hit).

    The key holds the extractor version, the parameters, the opensmile package version and the
    SHA-256 of the audio file, so a second run extracts nothing and a changed file re-extracts.
    """
    _check_parameters("cached_egemaps_window_features", num_frames, window_s, frame_step_s)
    params = {
        "num_frames": int(num_frames),
        "window_s": float(window_s),
        "frame_step_s": float(frame_step_s),
        "sample_rate_hz": EGEMAPS_SAMPLE_RATE_HZ,
        "feature_set": "eGeMAPSv02",
        "opensmile": importlib.metadata.version("opensmile"),
    }
    return cache.array(
        EGEMAPS_EXTRACTOR,
        EGEMAPS_EXTRACTOR_VERSION,
        params,
        [Path(wav_path)],
        lambda: egemaps_window_features(
            wav_path, num_frames=num_frames, window_s=window_s, frame_step_s=frame_step_s
        ),
    )


def label_frame_window_indices(
    window_starts_s: np.ndarray,
    *,
    window_s: float,
    num_frames: int,
    frame_step_s: float,
) -> np.ndarray:
    """For each label frame, the index of the window whose centre is nearest to the frame's time.

    Frames before the first full window or after the last one get the first or last window (the
    nearest valid one); a tie between two centres goes to the earlier window.

    Example:
        >>> label_frame_window_indices(np.array([0.0, 0.04, 0.08]), window_s=0.16, num_frames=6,
        ...                            frame_step_s=0.04).tolist()
        [0, 0, 0, 1, 2, 2]
    """
    centres_s = np.asarray(window_starts_s, dtype=np.float64) + window_s / 2
    label_times_s = np.arange(num_frames) * frame_step_s
    last = len(centres_s) - 1
    right = np.clip(np.searchsorted(centres_s, label_times_s, side="left"), 0, last)
    left = np.clip(right - 1, 0, last)
    tolerance_s = 1e-3 * frame_step_s  # openSMILE's timestamps carry float32 rounding
    take_left = (label_times_s - centres_s[left]) <= (centres_s[right] - label_times_s) + tolerance_s
    return np.where(take_left, left, right)


def _check_parameters(function: str, num_frames: int, window_s: float, frame_step_s: float) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int | np.integer) or num_frames < 1:
        raise ValueError(
            f"The 'num_frames' parameter of {function} must be a positive int. Got {num_frames!r} instead."
        )
    for name, value in (("window_s", window_s), ("frame_step_s", frame_step_s)):
        hops = value / LLD_HOP_S if isinstance(value, int | float) and math.isfinite(value) else math.nan
        if not (hops >= 1 and abs(hops - round(hops)) < 1e-6):
            raise ValueError(
                f"The '{name}' parameter of {function} must be a positive multiple of {LLD_HOP_S} s "
                f"(the eGeMAPS LLD hop). Got {value!r} instead."
            )


def _read_mono_16k(wav_path: Path) -> np.ndarray:
    """Samples of a file as float32 mono at 16 kHz, clipped to the 16-bit range."""
    try:
        samples, sample_rate_hz = soundfile.read(wav_path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise MediaError(
            f"{wav_path}: cannot read audio ({exc}). Expected a WAV (or other libsndfile) audio file."
        ) from exc
    if samples.size == 0:
        raise MediaError(f"{wav_path}: the audio file holds no samples.")
    mono = samples.mean(axis=1)
    if sample_rate_hz != EGEMAPS_SAMPLE_RATE_HZ:
        from scipy.signal import resample_poly

        divisor = math.gcd(EGEMAPS_SAMPLE_RATE_HZ, int(sample_rate_hz))
        mono = resample_poly(mono, EGEMAPS_SAMPLE_RATE_HZ // divisor, int(sample_rate_hz) // divisor)
    # opensmile-python scales by 32768 and casts to int16: keep +1.0 from wrapping to -32768.
    return np.clip(mono, -1.0, 32767 / 32768).astype(np.float32)


def _frame_mode_include(window_s: float, frame_step_s: float) -> str:
    """Text of the ``frameModeFunctionalsConf`` include: fixed windows starting every step."""
    return (
        "; generated by baselines.features.egemaps: eGeMAPS functionals over sliding windows\n"
        "frameMode = fixed\n"
        f"frameSize = {float(window_s)!r}\n"
        f"frameStep = {float(frame_step_s)!r}\n"
        "frameCenterSpecial = left\n"
    )


def _run_functionals(signal: np.ndarray, options: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (s) and functionals of one openSMILE pass; no rows if no window fits."""
    import opensmile

    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, _FUNCTIONALS_LEVEL, options=options)
    with warnings.catch_warnings():
        # opensmile-python pads a pass that yields no window with one NaN row; we detect that below.
        warnings.filterwarnings("ignore", message="Segment too short", category=UserWarning)
        frame = smile.process_signal(signal, EGEMAPS_SAMPLE_RATE_HZ)
    values = frame.to_numpy(dtype=np.float64)
    starts_s = frame.index.get_level_values("start").total_seconds().to_numpy()
    if len(values) == 1 and np.isnan(values).all():
        return starts_s[:0], values[:0]
    return starts_s, values


def _frame_mode_functionals(signal: np.ndarray, window_s: float, frame_step_s: float):
    with tempfile.TemporaryDirectory(prefix="benchbox-egemaps-") as folder:
        include = Path(folder) / "FrameModeFunctionals.conf.inc"
        include.write_text(_frame_mode_include(window_s, frame_step_s))
        return _run_functionals(signal, {"frameModeFunctionalsConf": str(include)})


def _whole_file_functionals(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts_s, values = _run_functionals(signal, {})
    if len(values) == 0:  # too short even for the LLDs: one NaN row, zeroed (with a warning) later
        return np.zeros(1), np.full((1, NUM_EGEMAPS_FEATURES), np.nan)
    return starts_s, values


def _finite_or_zero(features: np.ndarray, wav_path: Path) -> np.ndarray:
    """``features`` with NaN/inf replaced by 0, warning with the file name when any were found."""
    bad = ~np.isfinite(features)
    if bad.any():
        names = egemaps_feature_names()
        columns = sorted({names[k] for k in np.flatnonzero(bad.any(axis=0))})
        warnings.warn(
            f"{wav_path}: openSMILE returned {int(bad.sum())} non-finite eGeMAPS values "
            f"(features {', '.join(columns[:5])}{' …' if len(columns) > 5 else ''}); replaced by 0.",
            NonFiniteFeatureWarning,
            stacklevel=3,
        )
        features = np.where(bad, 0.0, features)
    return features
