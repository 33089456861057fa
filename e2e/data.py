"""Inputs of the end-to-end model: raw audio chunks per label frame and 150-frame training windows.

Audio alignment: the label at ``t = 0.04 i`` s pairs with the 640 samples (16 kHz) of ``(t - 40 ms, t]``,
i.e. sample indices ``640 i - 639 .. 640 i``. Frame 0 therefore sees 639 samples of zero padding and
sample 0; frames past the end of the file are zero-padded, samples past the last frame are unused.

Normalisation (a benchbox choice; secondary sources say "zero mean, unit variance", unverified): per
session, over all samples of the file, before framing, so the zero padding equals the session mean.
A silent file (variance 0) is only centred.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import Session

__all__ = [
    "AUDIO_SAMPLE_RATE_HZ",
    "SessionArrays",
    "audio_chunks",
    "cached_audio_chunks",
    "epoch_windows",
    "window_batch",
]

AUDIO_SAMPLE_RATE_HZ = 16_000
CHUNK_SAMPLES = 640
_EXTRACTOR = "e2e-audio-chunks"
_VERSION = "1"


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


@dataclasses.dataclass(frozen=True, eq=False)
class SessionArrays:
    """One session's per-frame inputs (``{modality: array with one row per frame}``) and labels."""

    id: str
    inputs: Mapping[str, np.ndarray]
    labels: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(next(iter(self.inputs.values())))


def epoch_windows(lengths: Sequence[int], window_frames: int, *, seed: int, epoch: int) -> list[tuple[int, int]]:
    """Training windows of one epoch: ``(session index, start frame)``, shuffled.

    Each session is tiled with non-overlapping windows from a random offset, so an epoch sees (almost)
    every frame once. The plan depends only on ``(seed, epoch)``, which is what makes a resumed run
    replay the same batches.
    """
    rng = np.random.default_rng([seed, epoch])
    windows = []
    for index, length in enumerate(lengths):
        count = length // window_frames
        if count == 0:
            continue
        offset = int(rng.integers(0, length - count * window_frames + 1))
        windows += [(index, offset + k * window_frames) for k in range(count)]
    order = rng.permutation(len(windows))
    return [windows[k] for k in order]


def window_batch(sessions: Sequence[SessionArrays], windows: Sequence[tuple[int, int]], window_frames: int):
    """Stack windows into ``({modality: (batch, window, ...)}, labels (batch, window, targets))``."""
    modalities = list(sessions[windows[0][0]].inputs)
    inputs = {m: np.stack([sessions[i].inputs[m][s : s + window_frames] for i, s in windows]) for m in modalities}
    labels = np.stack([sessions[i].labels[s : s + window_frames] for i, s in windows])
    return inputs, labels
