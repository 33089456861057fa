"""Sessions and corpora: the data model every reader, model and metric shares.

A :class:`Session` is what a model may see at prediction time: media paths, the number of label
frames and their times, but no labels. A :class:`LabelledSession` adds the gold-standard traces and is
handed to models only for the partitions they may learn from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = ["FRAME_STEP_S", "Session", "LabelledSession", "Corpus", "session_sort_key", "strip_labels"]

#: Label grid of RECOLA / AVEC 2016: one gold-standard value every 40 ms.
FRAME_STEP_S = 0.04


def session_sort_key(session_id: str) -> tuple[str, int, str]:
    """Sort ``train_10`` after ``train_9``: split name, then the numeric index, then the raw id."""
    split, _, number = session_id.rpartition("_")
    if number.isdigit():
        return (split, int(number), session_id)
    return (session_id, -1, session_id)


@dataclasses.dataclass(frozen=True, eq=False)
class Session:
    """One recording as a model sees it at prediction time (no labels).

    Attributes:
        id: Session id, e.g. ``"train_3"``.
        split: Partition of the corpus the session belongs to (``train``, ``dev``, ``test``).
        audio_path: WAV file, or ``None`` for a corpus without audio.
        video_path: MP4 file, or ``None`` for a corpus without video.
        num_frames: Number of label frames; predictions must have exactly this many rows.
        frame_step_s: Spacing of the label grid in seconds (0.04 for RECOLA).
    """

    id: str
    split: str
    audio_path: Path | None
    video_path: Path | None
    num_frames: int
    frame_step_s: float = FRAME_STEP_S

    @property
    def frame_times_s(self) -> np.ndarray:
        """Time stamp of every label frame in seconds (``0, 0.04, 0.08, ...``)."""
        return np.arange(self.num_frames, dtype=np.float64) * self.frame_step_s

    @property
    def duration_s(self) -> float:
        """Time covered by the label grid: the time stamp of the last frame."""
        return (self.num_frames - 1) * self.frame_step_s

    def load_audio(self, sample_rate_hz: int = 16_000) -> np.ndarray:
        """Mono float32 audio of this session resampled to ``sample_rate_hz``."""
        from benchbox.corpus.media import load_audio

        if self.audio_path is None:
            from benchbox.errors import MediaError

            raise MediaError(f"Session {self.id!r} has no audio file.")
        return load_audio(self.audio_path, sample_rate_hz=sample_rate_hz)

    def without_labels(self) -> Session:
        """This session as a plain :class:`Session` (drops labels if there are any)."""
        return Session(
            id=self.id,
            split=self.split,
            audio_path=self.audio_path,
            video_path=self.video_path,
            num_frames=self.num_frames,
            frame_step_s=self.frame_step_s,
        )


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledSession(Session):
    """A session with its gold-standard traces.

    Attributes:
        labels: float64 array of shape ``(num_frames, len(targets))``.
        targets: Names of the label columns, e.g. ``("arousal", "valence")``.
    """

    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    targets: tuple[str, ...] = ()

    def target(self, name: str) -> np.ndarray:
        """The trace of one target."""
        return self.labels[:, self.targets.index(name)]


@dataclasses.dataclass(frozen=True, eq=False)
class Corpus:
    """A validated corpus: labelled sessions plus provenance.

    Attributes:
        root: Folder the corpus was read from.
        sessions: All sessions, sorted by split and number.
        targets: Label columns shared by all sessions.
        synthetic: True when the folder was written by benchbox's synthetic generator.
        fingerprint: SHA-256 over the manifest of files (relative path, size, content hash).
        generator: Parameters of the synthetic generator, or ``None`` for a real corpus.
    """

    root: Path
    sessions: tuple[LabelledSession, ...]
    targets: tuple[str, ...]
    synthetic: bool
    fingerprint: str
    generator: dict | None = None

    def __iter__(self) -> Iterator[LabelledSession]:
        return iter(self.sessions)

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def modalities(self) -> frozenset[str]:
        """The modalities every session of the corpus has (``audio``, ``video``)."""
        return frozenset(m for m, attribute in (("audio", "audio_path"), ("video", "video_path"))
                         if all(getattr(s, attribute) is not None for s in self.sessions))

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.split for s in self.sessions))

    def split(self, name: str) -> list[LabelledSession]:
        """Sessions of one split, in order."""
        return [s for s in self.sessions if s.split == name]

    def get(self, session_id: str) -> LabelledSession:
        for session in self.sessions:
            if session.id == session_id:
                return session
        raise KeyError(session_id)

    @property
    def description(self) -> str:
        """One line saying which data this is, for logs and reports."""
        kind = "synthetic RECOLA-shaped corpus" if self.synthetic else "corpus (not synthetic)"
        return f"{kind} at {self.root} ({len(self)} sessions, fingerprint {self.fingerprint[:12]})"


def strip_labels(sessions: Sequence[Session]) -> list[Session]:
    """Plain, label-free copies of ``sessions`` for prediction."""
    return [s.without_labels() for s in sessions]
