"""Face tracks and 96x96 face crops from a session's video, cached for every model that needs faces.

Detection is OpenCV's frontal-face Haar cascade (shipped inside opencv-python-headless) run on every
``detect_every``-th frame; boxes are smoothed over time, missing detections are interpolated between
detected frames (and held at the ends), and every frame carries a flag saying how its box was obtained.
Crops are square (the box enlarged by a margin), resized to ``size`` x ``size`` RGB uint8 and stored once
per (video file, parameters) in the content-addressed cache, memory-mapped on read. The baselines and
the end-to-end model read the same crops.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.media import iter_video_frames, video_info
from benchbox.errors import MediaError

__all__ = ["FACE_TRACK_VERSION", "FaceTrack", "NoFaceWarning", "track_faces", "cached_face_crops",
           "crops_for_label_frames", "DETECTED", "INTERPOLATED", "FALLBACK"]

#: Bump when tracks or crops change for the same video (2: detection on the luma plane, OpenCV colour
#: conversion of the crops).
FACE_TRACK_VERSION = "2"
#: Per-frame flags of a face track.
DETECTED, INTERPOLATED, FALLBACK = 0, 1, 2
log = logging.getLogger("benchbox.faces")


class NoFaceWarning(UserWarning):
    """No face (or too few) was found in a video; the crops fall back to interpolation or the frame centre."""


@dataclasses.dataclass(frozen=True)
class FaceTrack:
    """Smoothed face boxes of every video frame: ``boxes[i] = (centre_x, centre_y, side)`` in pixels."""

    boxes: np.ndarray
    flags: np.ndarray
    frame_size: tuple[int, int]

    @property
    def detected_fraction(self) -> float:
        return float(np.mean(self.flags == DETECTED)) if len(self.flags) else 0.0


def _cascade():
    import cv2

    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise MediaError(f"{path}: OpenCV's Haar cascade could not be loaded; reinstall opencv-python-headless.")
    return cascade


def _detect(cascade, frame: np.ndarray, scale: float) -> tuple[float, float, float] | None:
    import cv2

    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    min_side = max(20, int(min(gray.shape) * 0.2))
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])  # the largest face is the subject
    return ((x + w / 2) / scale, (y + h / 2) / scale, max(w, h) / scale)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < 3:
        return values
    from scipy.ndimage import median_filter, uniform_filter1d

    return uniform_filter1d(median_filter(values, size=(window, 1), mode="nearest"), size=window, axis=0,
                            mode="nearest")


def track_faces(video_path: str | os.PathLike, *, detect_every: int = 5, detection_width: int = 192,
                smooth_frames: int = 9) -> FaceTrack:
    """Detect, interpolate and smooth the face box of every frame of ``video_path``."""
    video_path = Path(video_path)
    info = video_info(video_path)
    cascade = _cascade()
    scale = min(1.0, detection_width / max(info.width, 1))
    detected_index, detected_boxes = [], []
    num_frames = 0
    for index, frame in enumerate(iter_video_frames(video_path, pixel_format="gray")):
        num_frames += 1
        if index % detect_every:
            continue
        box = _detect(cascade, frame, scale)
        if box is not None:
            detected_index.append(index)
            detected_boxes.append(box)
    if num_frames == 0:
        raise MediaError(f"{video_path}: no decodable video frames.")
    width, height = info.width, info.height
    flags = np.full(num_frames, INTERPOLATED, dtype=np.uint8)
    if len(detected_index) < 2:
        warnings.warn(f"{video_path}: no face found in {num_frames} frames; using the centre of the frame.",
                      NoFaceWarning, stacklevel=2)
        boxes = np.tile([width / 2, height / 2, min(width, height) * 0.8], (num_frames, 1))
        flags[:] = FALLBACK
        return FaceTrack(boxes, flags, (width, height))
    detected_index = np.asarray(detected_index)
    detected_boxes = np.asarray(detected_boxes, dtype=np.float64)
    # A smoothing pass over the detections removes single-frame jumps before interpolation.
    detected_boxes = _smooth(detected_boxes, max(1, smooth_frames // detect_every) | 1)
    frames = np.arange(num_frames)
    boxes = np.stack([np.interp(frames, detected_index, detected_boxes[:, k]) for k in range(3)], axis=1)
    flags[detected_index] = DETECTED
    sampled = frames[::detect_every]
    missing = np.setdiff1d(sampled, detected_index)
    gaps = len(missing) / max(len(sampled), 1)
    if gaps > 0.2:
        warnings.warn(f"{video_path}: no face found in {gaps:.0%} of the sampled frames; their boxes are "
                      f"interpolated from the neighbouring detections.", NoFaceWarning, stacklevel=2)
    return FaceTrack(boxes, flags, (width, height))


def _crop(frame: np.ndarray, box: np.ndarray, size: int, margin: float) -> np.ndarray:
    import cv2

    cx, cy, side = box
    half = side * (1 + margin) / 2
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    x1, y1 = int(round(cx + half)), int(round(cy + half))
    pad = max(0, -x0, -y0, x1 - frame.shape[1], y1 - frame.shape[0])
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, x1, y0, y1 = x0 + pad, x1 + pad, y0 + pad, y1 + pad
    return cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def _compute_crops(video_path: Path, track: FaceTrack, size: int, margin: float) -> np.ndarray:
    crops = np.empty((len(track.boxes), size, size, 3), dtype=np.uint8)
    count = 0
    for index, frame in enumerate(iter_video_frames(video_path)):
        if index >= len(crops):
            break
        crops[index] = _crop(frame, track.boxes[index], size, margin)
        count += 1
    return crops[:count]


def cached_face_crops(cache: Cache, video_path: str | os.PathLike, *, size: int = 96, margin: float = 0.25,
                      detect_every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Face crops ``(num_video_frames, size, size, 3)`` uint8 (memory-mapped) and per-frame flags.

    Both come from the cache when the same video and parameters were processed before.
    """
    video_path = Path(video_path)
    track_params = {"detect_every": detect_every, "detector": "haarcascade_frontalface_default"}
    holder: dict[str, FaceTrack] = {}

    def track() -> FaceTrack:
        if "track" not in holder:
            holder["track"] = track_faces(video_path, detect_every=detect_every)
        return holder["track"]

    track_array = cache.array("face-track", FACE_TRACK_VERSION, track_params, [video_path],
                              lambda: np.column_stack([track().boxes, track().flags]))
    stored = FaceTrack(np.asarray(track_array[:, :3]), np.asarray(track_array[:, 3]).astype(np.uint8),
                       (0, 0))
    crops = cache.array("face-crops", FACE_TRACK_VERSION, {**track_params, "size": size, "margin": margin},
                        [video_path], lambda: _compute_crops(video_path, stored, size, margin))
    return crops, stored.flags


def crops_for_label_frames(crops: np.ndarray, num_frames: int, *, fps: float = 25.0,
                           frame_step_s: float = 0.04) -> np.ndarray:
    """Index of the video frame shown at each label time (clamped at the end of the video)."""
    times = np.arange(num_frames) * frame_step_s
    return np.minimum(np.round(times * fps).astype(np.int64), len(crops) - 1)
