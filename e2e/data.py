"""Inputs of the end-to-end model: raw audio chunks and face crops per label frame, training windows.

Audio alignment: the label at ``t = 0.04 i`` s pairs with the 640 samples (16 kHz) of ``(t - 40 ms, t]``,
i.e. sample indices ``640 i - 639 .. 640 i``. Frame 0 therefore sees 639 samples of zero padding and
sample 0; frames past the end of the file are zero-padded, samples past the last frame are unused.

Normalisation (a benchbox choice; secondary sources say "zero mean, unit variance", unverified): per
session, over all samples of the file, before framing, so the zero padding equals the session mean.
A silent file (variance 0) is only centred.

Face crops: :func:`label_frame_crops` puts one RGB crop of :func:`benchbox.faces.cached_face_crops` (the
crops the video baselines read) on every label frame -- the video frame shown at the label's time,
clamped at the end of the video (RECOLA videos have 7,500 frames for 7,501 labels) -- and resizes them
to the configuration's crop size. Nothing is decoded in the training loop: crops come from the cache,
memory-mapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import Session
from benchbox.errors import MediaError

__all__ = [
    "AUDIO_SAMPLE_RATE_HZ",
    "FACE_CROP_SIZE",
    "FrameIndexed",
    "SessionArrays",
    "audio_chunks",
    "cached_audio_chunks",
    "label_frame_crops",
    "session_normalised",
    "epoch_windows",
    "window_batch",
]

AUDIO_SAMPLE_RATE_HZ = 16_000
CHUNK_SAMPLES = 640
_EXTRACTOR = "e2e-audio-chunks"
_VERSION = "1"
#: Side of the face crops that :mod:`benchbox.faces` caches (the paper's 96 x 96).
FACE_CROP_SIZE = 96
_CROPS_EXTRACTOR = "e2e-label-frame-crops"
_CROPS_VERSION = "1"
#: Choices of ``normalisation`` in :func:`label_frame_crops`.
CROP_NORMALISATIONS = ("none", "session")
#: Grey levels per session SD in :func:`session_normalised`.
SESSION_NORMALISED_SCALE = 32.0
_NORMALISED_EXTRACTOR = "e2e-session-normalised-crops"
_NORMALISED_VERSION = "1"


def audio_chunks(samples: np.ndarray, num_frames: int, *, chunk_samples: int = CHUNK_SAMPLES) -> np.ndarray:
    """Normalised audio framed on the label grid: float32 ``(num_frames, chunk_samples)``.

    Example:
        >>> audio_chunks(np.arange(1, 5), 3, chunk_samples=2).astype(float).round(3).tolist()
        [[0.0, -1.342], [-0.447, 0.447], [1.342, 0.0]]
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if samples.size:
        samples = samples - samples.mean()
        std = samples.std()
        if std > 0:
            samples = samples / std
    needed = num_frames * chunk_samples
    padded = np.zeros(needed, dtype=np.float32)
    usable = samples[: needed - (chunk_samples - 1)]
    padded[chunk_samples - 1 : chunk_samples - 1 + usable.size] = usable
    return padded.reshape(num_frames, chunk_samples)


def cached_audio_chunks(session: Session, cache: Cache) -> np.ndarray:
    """:func:`audio_chunks` of a session's WAV (16 kHz mono) through the cache, memory-mapped."""
    params = {"sample_rate_hz": AUDIO_SAMPLE_RATE_HZ, "chunk_samples": CHUNK_SAMPLES,
              "num_frames": session.num_frames, "alignment": "(t-40ms, t]", "normalisation": "session z-score"}
    return cache.array(_EXTRACTOR, _VERSION, params, [session.audio_path],
                       lambda: audio_chunks(session.load_audio(AUDIO_SAMPLE_RATE_HZ), session.num_frames))


class FrameIndexed:
    """Rows ``array[index[i]]`` of a (memory-mapped) array, read lazily: crops on the label grid without a
    copy of the video's crops. Supports what the e2e code uses: ``len``, ``shape``, slicing, ``np.asarray``.
    """

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.array.shape[1:])

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.array[self.index[key]])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.asarray(self.array[self.index])
        return out if dtype is None else out.astype(dtype)


def session_normalised(crops, *, scale: float = SESSION_NORMALISED_SCALE) -> np.ndarray:
    """Crops of one session with who the person is taken out: ``128 + scale * (crop - mean crop) / SD``,
    uint8, where the mean crop is the session's pixel-wise mean and SD the root mean square of the
    deviations from it (one number per session, so colours keep their relations). A pixel that departs
    by more than about 4 SD is clipped.

    Per-subject normalisation is what handcrafted face models do too (OpenFace's person-specific
    normalisation, ``appearance-xgb``'s session standardisation): with a handful of training subjects
    the face's identity (shape, skin, hair, lighting) varies far more than its expression, and a network
    that sees raw crops learns the training faces. It uses the session's own frames only, never labels,
    so a test session is normalised like a training one.

    Example:
        >>> crops = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (100, 110, 120)])
        >>> session_normalised(crops)[:, 0, 0, 0].tolist()
        [89, 128, 167]
    """
    count = len(crops)
    if count == 0:
        return np.zeros((0, *crops.shape[1:]), dtype=np.uint8)
    total = np.zeros(crops.shape[1:], dtype=np.float64)
    for start in range(0, count, 1024):
        total += np.asarray(crops[start : start + 1024], dtype=np.float64).sum(axis=0)
    mean = total / count
    squares = 0.0
    for start in range(0, count, 1024):
        squares += float(((np.asarray(crops[start : start + 1024], dtype=np.float64) - mean) ** 2).sum())
    sd = np.sqrt(squares / (count * mean.size))
    factor = scale / sd if sd > 0 else 0.0
    out = np.empty(crops.shape, dtype=np.uint8)
    for start in range(0, count, 1024):
        block = (np.asarray(crops[start : start + 1024], dtype=np.float64) - mean) * factor + 128.0
        out[start : start + 1024] = np.clip(np.rint(block), 0, 255)
    return out


def label_frame_crops(session: Session, cache: Cache, *, size: int = FACE_CROP_SIZE,
                      normalisation: str = "none") -> np.ndarray | FrameIndexed:
    """One RGB face crop per label frame: uint8 ``(session.num_frames, size, size, 3)``.

    The 96 x 96 crops of :func:`benchbox.faces.cached_face_crops` are mapped onto the label grid (the
    video frame shown at each label time, clamped at the end of the video); ``size == 96`` reads them
    in place, another size stores resized crops (OpenCV area interpolation) in the cache once.
    ``normalisation="session"`` stores :func:`session_normalised` crops of that size in the cache once.
    """
    from benchbox.corpus.media import video_info
    from benchbox.faces import FACE_TRACK_VERSION, cached_face_crops, crops_for_label_frames

    if session.video_path is None:
        raise MediaError(f"Session {session.id!r} has no video file; the e2e video models need face crops "
                         "(run only audio models on a corpus without recordings_video/).")
    if not isinstance(size, int) or size < 8:
        raise MediaError(f"The 'size' parameter of label_frame_crops must be an integer >= 8. Got {size!r} instead.")
    if normalisation not in CROP_NORMALISATIONS:
        raise MediaError(f"The 'normalisation' parameter of label_frame_crops must be one of "
                         f"{list(CROP_NORMALISATIONS)}. Got {normalisation!r} instead.")
    if normalisation == "session":
        params = {"size": size, "num_frames": session.num_frames, "frame_step_s": session.frame_step_s,
                  "normalisation": "session", "scale": SESSION_NORMALISED_SCALE,
                  "source": {"crops_version": _CROPS_VERSION, "face_track_version": FACE_TRACK_VERSION}}
        return cache.array(_NORMALISED_EXTRACTOR, _NORMALISED_VERSION, params, [session.video_path],
                           lambda: session_normalised(label_frame_crops(session, cache, size=size)))

    def mapped() -> FrameIndexed:
        crops, _flags = cached_face_crops(cache, session.video_path)
        if len(crops) == 0:
            raise MediaError(f"{session.video_path}: no face crops (the video has no decodable frames).")
        fps = video_info(session.video_path).fps
        if not fps > 0:
            raise MediaError(f"{session.video_path}: the container gives no frame rate; cannot put video frames "
                             "on the 40 ms label grid.")
        index = crops_for_label_frames(crops, session.num_frames, fps=fps, frame_step_s=session.frame_step_s)
        return FrameIndexed(crops, index)

    if size == FACE_CROP_SIZE:
        return mapped()

    def resized() -> np.ndarray:
        import cv2

        source = mapped()
        out = np.empty((len(source), size, size, 3), dtype=np.uint8)
        for start in range(0, len(source), 512):
            for offset, crop in enumerate(source[start : start + 512]):
                out[start + offset] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        return out

    params = {"size": size, "num_frames": session.num_frames, "frame_step_s": session.frame_step_s,
              "source": {"size": FACE_CROP_SIZE, "face_track_version": FACE_TRACK_VERSION},
              "interpolation": "INTER_AREA"}
    return cache.array(_CROPS_EXTRACTOR, _CROPS_VERSION, params, [session.video_path], resized)


@dataclasses.dataclass(frozen=True, eq=False)
class SessionArrays:
    """One session's per-frame inputs (``{modality: array with one row per frame}``) and labels."""

    id: str
    inputs: Mapping[str, np.ndarray]
    labels: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(next(iter(self.inputs.values())))


def epoch_windows(lengths: Sequence[int], window_frames: int, *, seed: int, epoch: int,
                  batch_size: int = 1, batch_sessions: int = 0) -> list[tuple[int, int]]:
    """Training windows of one epoch: ``(session index, start frame)``, shuffled.

    Each session is tiled with non-overlapping windows from a random offset, so an epoch sees (almost)
    every frame once. The plan depends only on ``(seed, epoch)``, which is what makes a resumed run
    replay the same batches.

    With ``batch_sessions = k > 0`` the list is made of whole batches of ``batch_size`` windows, each
    batch ``k`` consecutive groups of ``batch_size // k`` windows of one session (``k`` different
    sessions, drawn with probability proportional to their windows not yet used); windows that cannot fill
    a batch any more are left out of this epoch. This is the batch layout that ``loss_pool = "session"``
    needs (:func:`e2e.loss.ccc_per_target`).

    Example:
        >>> plan = epoch_windows([100, 100, 100], 10, seed=0, epoch=1, batch_size=4, batch_sessions=2)
        >>> len(plan), [len({i for i, _ in plan[b:b + 2]}) for b in range(0, len(plan), 2)] == [1] * 14
        (28, True)
    """
    rng = np.random.default_rng([seed, epoch])
    tiles = []
    for index, length in enumerate(lengths):
        count = length // window_frames
        if count == 0:
            continue
        offset = int(rng.integers(0, length - count * window_frames + 1))
        tiles.append([(index, offset + k * window_frames) for k in range(count)])
    if batch_sessions <= 0:
        windows = [w for tile in tiles for w in tile]
        order = rng.permutation(len(windows))
        return [windows[k] for k in order]
    if batch_size % batch_sessions:
        raise ValueError(f"batch_sessions ({batch_sessions}) must divide batch_size ({batch_size}).")
    per_session = batch_size // batch_sessions
    remaining = [[tile[k] for k in rng.permutation(len(tile))] for tile in tiles]
    plan: list[tuple[int, int]] = []
    while True:
        counts = np.array([len(r) if len(r) >= per_session else 0 for r in remaining], dtype=float)
        if np.count_nonzero(counts) < batch_sessions:
            return plan
        for pick in rng.choice(len(remaining), size=batch_sessions, replace=False, p=counts / counts.sum()):
            plan += remaining[pick][:per_session]
            del remaining[pick][:per_session]


def window_batch(sessions: Sequence[SessionArrays], windows: Sequence[tuple[int, int]], window_frames: int):
    """Stack windows into ``({modality: (batch, window, ...)}, labels (batch, window, targets))``."""
    modalities = list(sessions[windows[0][0]].inputs)
    inputs = {m: np.stack([sessions[i].inputs[m][s : s + window_frames] for i, s in windows]) for m in modalities}
    labels = np.stack([sessions[i].labels[s : s + window_frames] for i, s in windows])
    return inputs, labels
