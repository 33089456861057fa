"""Reading audio (soundfile) and video (PyAV) the same way for every corpus and model.

Audio is returned mono float32 at the requested rate, whatever the file's rate and channel count.
Video frames come from PyAV with the file's own rate and size.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchbox.errors import MediaError

__all__ = [
    "AudioInfo",
    "VideoInfo",
    "SILENCE_DBFS",
    "SilentAudioWarning",
    "audio_info",
    "video_info",
    "load_audio",
    "audio_level_dbfs",
    "warn_if_silent",
    "iter_video_frames",
]

#: A file whose RMS level (dB relative to full scale) is below this counts as silent. Speech
#: recordings sit around -20 to -35 dBFS and a quiet room's noise floor around -50 to -60.
SILENCE_DBFS = -60.0


class SilentAudioWarning(UserWarning):
    """An audio file carries no signal above :data:`SILENCE_DBFS`: audio models see only silence."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate_hz: int
    num_samples: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    num_frames: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Rate, length and channels of a WAV file; MediaError naming the file if unreadable."""
    import soundfile

    path = Path(path)
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise MediaError(f"{path}: cannot read audio ({exc}). Expected a WAV file.") from exc
    return AudioInfo(path, int(info.samplerate), int(info.frames), int(info.channels))


def load_audio(path: str | os.PathLike, *, sample_rate_hz: int = 16_000) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at ``sample_rate_hz`` (polyphase resampling if needed)."""
    import soundfile
    from scipy.signal import resample_poly

    path = Path(path)
    try:
        samples, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise MediaError(f"{path}: cannot read audio ({exc}). Expected a WAV file.") from exc
    mono = samples.mean(axis=1)
    _warn_if_quiet(path, _dbfs(float(np.mean(np.square(mono, dtype=np.float64))) if mono.size else 0.0))
    if file_rate != sample_rate_hz:
        ratio = Fraction(sample_rate_hz, int(file_rate))
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def audio_level_dbfs(path: str | os.PathLike) -> float:
    """RMS level of a whole audio file (all channels mixed to mono) in dBFS; ``-inf`` for digital silence.

    Read in blocks (constant memory) and memoised per file version (path, size, modification time).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise MediaError(f"{path}: cannot read audio ({exc}). Expected a WAV file.") from exc
    return _file_level_dbfs(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _file_level_dbfs(path: str, size: int, mtime_ns: int) -> float:
    import soundfile

    total, count = 0.0, 0
    try:
        for block in soundfile.blocks(path, blocksize=1 << 18, dtype="float32", always_2d=True):
            mono = block.mean(axis=1, dtype=np.float64)
            total += float(np.dot(mono, mono))
            count += mono.size
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise MediaError(f"{path}: cannot read audio ({exc}). Expected a WAV file.") from exc
    return _dbfs(total / count if count else 0.0)


def warn_if_silent(path: str | os.PathLike) -> bool:
    """Warn with :class:`SilentAudioWarning` (naming the file) when ``path`` is silent; True if it is.

    Example:
        >>> import tempfile, warnings, numpy as np, soundfile
        >>> wav = Path(tempfile.mkdtemp()) / "quiet.wav"
        >>> soundfile.write(wav, np.zeros(1600, dtype=np.float32), 16_000)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_if_silent(wav)
        True
        >>> "quiet.wav is silent" in str(caught[0].message)
        True
    """
    return _warn_if_quiet(Path(path), audio_level_dbfs(path))


def _dbfs(mean_square: float) -> float:
    return 10.0 * math.log10(mean_square) if mean_square > 0 else -math.inf


def _warn_if_quiet(path: Path, level_dbfs: float) -> bool:
    if level_dbfs >= SILENCE_DBFS:
        return False
    warnings.warn(f"{path} is silent (RMS level {level_dbfs:.1f} dBFS, below {SILENCE_DBFS:g} dBFS): audio "
                  "features of this session carry no speech, so its audio predictions fall back to what the model "
                  "predicts for silence.", SilentAudioWarning, stacklevel=3)
    return True


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open video ({exc}). Expected an MP4 file with a video stream.") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: no video stream. Expected an MP4 file with a video stream.")
    return container


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count and size of a video, from the container's metadata."""
    path = Path(path)
    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:
            if stream.duration is not None and stream.time_base is not None:
                duration_s = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration_s = container.duration / 1_000_000
            else:
                duration_s = 0.0
            num_frames = int(math.floor(duration_s * fps + 0.5))
        return VideoInfo(path, fps, num_frames, int(stream.codec_context.width), int(stream.codec_context.height))
    finally:
        container.close()


def iter_video_frames(path: str | os.PathLike, *, pixel_format: str = "rgb24") -> Iterator[np.ndarray]:
    """Decoded frames in display order as ``(height, width, 3)`` uint8 arrays."""
    import av

    path = Path(path)
    container = _open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield _frame_array(frame, pixel_format)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: video is corrupt or truncated ({exc}).") from exc
    finally:
        container.close()


#: Planar 4:2:0 formats whose first plane is the luma (grey) image.
_YUV420 = frozenset({"yuv420p", "yuvj420p"})


def _frame_array(frame, pixel_format: str) -> np.ndarray:
    """A decoded frame as ``(height, width, 3)`` RGB or ``(height, width)`` grey uint8.

    The common case of H.264 video (yuv420p, even size) is converted by OpenCV: PyAV's software
    scaler takes about 4.5 ms for a 320x240 frame and OpenCV about 0.1 ms, and the difference in the
    result is rounding (at most 3 of 255 levels). Grey is the luma plane as stored (no conversion).
    Other formats go through PyAV.
    """
    name = frame.format.name
    if pixel_format == "gray" and name in _YUV420:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width].copy()
    if pixel_format == "rgb24" and name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        import cv2

        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format=pixel_format)

