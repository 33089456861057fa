"""The video: expression and head-motion tracks from the expressed emotion, rendered and encoded frame
by frame (H.264 in MP4, 25 fps) without holding the frames in memory.

* valence moves the mouth corners (and, through :func:`face.render_frame`, cheeks and smile folds) and
  lowers the inner brows when negative;
* arousal opens the eyes, raises the brows, opens the mouth a little and makes head movements larger
  and faster, and blinks more frequent;
* speaking (the same :class:`~benchbox.corpus.synth.timeline.Timeline` as the audio) moves the jaw: a
  nuisance correlated with arousal, as in real recordings;
* nuisance: resting expression, expressivity, gaze shifts, slow head drift, lighting changes and
  camera noise.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import cv2
import numpy as np

from benchbox.corpus.synth.face import FaceRig, FaceState, render_frame
from benchbox.corpus.synth.latent import smooth_process
from benchbox.corpus.synth.subject import BehaviourStyle

__all__ = ["FPS", "ENCODER_OPTIONS", "add_h264_stream", "expression_tracks", "write_video"]

FPS = 25
_STEP_S = 1.0 / FPS
#: libx264 settings that make the bitstream a function of the frames alone. One thread and no B-frames;
#: ``asm=0`` because libx264's SIMD code (PyAV's wheels) now and then encodes identical frames differently
#: depending on the process's memory state (measured: 4 of 80 encodings of the same 150 frames after unrelated
#: allocations; 0 of 60 with ``asm=0``), and its output is not the C code's (approximate reciprocals), so it
#: would also depend on the CPU's instruction set. Costs about 3 s per 60 s session. CRF 23 keeps 300 s at
#: 320x240 to a few MB.
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23", "x264-params": "bframes=0:threads=1:sliced-threads=0:asm=0"}
_BLINK_PROFILE = np.array([0.55, 0.08, 0.0, 0.3, 0.7])
_NOISE_BANK_SIZE = 16


def _blinks(rng: np.random.Generator, behaviour: BehaviourStyle, arousal: np.ndarray) -> np.ndarray:
    """Eyelid multiplier per frame: 1 when open, dips to 0 during blinks (more blinks when aroused)."""
    num_frames = arousal.size
    probability = behaviour.blink_rate_hz * _STEP_S * np.exp(0.8 * arousal)
    starts = np.flatnonzero(rng.random(num_frames) < probability)
    multiplier = np.ones(num_frames)
    for start in starts:
        stop = min(start + _BLINK_PROFILE.size, num_frames)
        multiplier[start:stop] = np.minimum(multiplier[start:stop], _BLINK_PROFILE[: stop - start])
    return multiplier


def _gaze(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Gaze ``(frames, 2)``: fixations held for 0.3-3 s, then a quick shift."""
    out = np.empty((num_frames, 2))
    frame = 0
    while frame < num_frames:
        length = int(rng.integers(8, 75))
        out[frame:frame + length] = np.clip(rng.normal(0, 0.35, 2), -0.8, 0.8)
        frame += length
    return out


def expression_tracks(rng: np.random.Generator, behaviour: BehaviourStyle, arousal: np.ndarray, valence: np.ndarray,
                      jaw: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame values of every :class:`FaceState` field (arrays of length ``len(arousal)``)."""
    n = arousal.size

    def smooth(time_scale_s: float) -> np.ndarray:
        return smooth_process(rng, n, _STEP_S, time_scale_s)

    gain = behaviour.expressivity
    # soft saturation: a very positive session still shows its ups and downs instead of a pinned smile
    smile = np.tanh(behaviour.resting_smile + gain * 2.8 * (valence - 0.06) + 0.08 * smooth(2.0))
    eye_open = behaviour.resting_eye_open + gain * 0.45 * arousal + 0.06 * smooth(1.0)
    eye_open = eye_open * _blinks(rng, behaviour, arousal)
    brow_raise = gain * 1.3 * arousal + 0.25 * smooth(1.5) + 0.25 * jaw
    brow_frown = -gain * 2.5 * valence + 0.1 * smooth(3.0)
    mouth_open = 0.85 * jaw + 0.08 * np.clip(arousal, 0, None) + 0.03 * smooth(0.5)

    # head: slow wandering plus faster movements whose size grows with arousal, slow drift, nods while talking
    liveliness = np.clip(1.0 + 1.3 * arousal, 0.3, None)
    amplitude = behaviour.motion_px
    shift_x = amplitude * (0.7 * smooth(3.0) + 0.5 * liveliness * smooth(0.5)) + 6.0 * smooth(60.0)
    shift_y = amplitude * (0.5 * smooth(3.0) + 0.4 * liveliness * smooth(0.4)) + 4.0 * smooth(60.0) + 1.5 * jaw
    roll_deg = amplitude * 0.5 * (0.8 * smooth(4.0) + 0.5 * liveliness * smooth(0.6))
    return {
        "eye_open": np.clip(eye_open, 0.0, 1.25),
        "brow_raise": np.clip(brow_raise, -1.0, 1.0),
        "brow_frown": np.clip(brow_frown, 0.0, 1.0),
        "smile": np.clip(smile, -1.0, 1.0),
        "mouth_open": np.clip(mouth_open, 0.0, 1.0),
        "gaze": _gaze(rng, n),
        "roll_deg": roll_deg,
        "shift": np.stack([shift_x, shift_y], axis=1),
        "scale": 1.0 + 0.03 * smooth(30.0),
        "gain": 1.0 + 0.05 * smooth(20.0),
    }


def _state(tracks: dict[str, np.ndarray], k: int) -> FaceState:
    return FaceState(
        eye_open=float(tracks["eye_open"][k]),
        brow_raise=float(tracks["brow_raise"][k]),
        brow_frown=float(tracks["brow_frown"][k]),
        smile=float(tracks["smile"][k]),
        mouth_open=float(tracks["mouth_open"][k]),
        gaze_xy=(float(tracks["gaze"][k, 0]), float(tracks["gaze"][k, 1])),
        roll_deg=float(tracks["roll_deg"][k]),
        shift_xy=(float(tracks["shift"][k, 0]), float(tracks["shift"][k, 1])),
        scale=float(tracks["scale"][k]),
        gain=float(tracks["gain"][k]),
    )


def add_h264_stream(container, width: int, height: int):
    """Add the corpus's video stream (H.264, yuv420p, :data:`FPS`, :data:`ENCODER_OPTIONS`, one thread) to an
    open PyAV output ``container`` and return it."""
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.thread_count = 1
    stream.options = dict(ENCODER_OPTIONS)
    return stream


def write_video(path: str | os.PathLike, rig: FaceRig, tracks: dict[str, np.ndarray], rng: np.random.Generator,
                camera_noise_sd: float, *, on_frame: Callable[[int, np.ndarray], None] | None = None) -> int:
    """Render every frame of ``tracks`` and encode it to ``path`` (MP4, H.264, yuv420p, 25 fps).

    ``on_frame(k, bgra_frame)`` sees each rendered frame before exposure, noise and encoding.
    Returns the number of frames written.
    """
    import av

    height, width = rig.base.shape[:2]
    num_frames = tracks["eye_open"].size
    noise_bank = np.round(rng.normal(0.0, camera_noise_sd, (_NOISE_BANK_SIZE, height, width))).astype(np.int16)
    picks = rng.integers(0, _NOISE_BANK_SIZE, num_frames)
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = add_h264_stream(container, width, height)
        for k in range(num_frames):
            frame = render_frame(rig, _state(tracks, k))
            if on_frame is not None:
                on_frame(k, frame)
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGRA2YUV_I420)
            luma = yuv[:height]
            exposed = cv2.convertScaleAbs(luma, alpha=float(tracks["gain"][k]))
            np.clip(exposed + noise_bank[picks[k]], 0, 255, out=luma, casting="unsafe")
            picture = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            picture.pts = k
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return num_frames
