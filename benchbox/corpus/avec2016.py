"""Reader and validator for the AVEC 2016 package layout of RECOLA (and the synthetic corpus).

```
ROOT/recordings_audio/<split>_<n>.wav
ROOT/recordings_video/<split>_<n>.mp4
ROOT/ratings_gold_standard/<target>/<split>_<n>.arff
```
A missing ``recordings_audio`` or ``recordings_video`` folder means a modality-limited corpus; a session
missing its file inside an existing folder is a problem. :func:`scan_corpus` collects every problem
(for ``benchbox data check``); :func:`load_corpus` raises one :class:`CorpusError` listing them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from benchbox.cache import file_sha256
from benchbox.corpus.arff import read_arff
from benchbox.corpus.media import audio_info, video_info
from benchbox.corpus.session import FRAME_STEP_S, Corpus, LabelledSession, session_sort_key
from benchbox.errors import CorpusError, MediaError

__all__ = [
    "SYNTHETIC_MARKER",
    "DEFAULT_TARGETS",
    "DEFAULT_TOLERANCE_FRAMES",
    "SessionInfo",
    "CorpusScan",
    "scan_corpus",
    "load_corpus",
]

SYNTHETIC_MARKER = "BENCHBOX_SYNTHETIC.json"
DEFAULT_TARGETS = ("arousal", "valence")
#: Labels and media may differ by this many 40 ms frames (0.2 s) before it is a problem.
DEFAULT_TOLERANCE_FRAMES = 5
LABEL_RANGE = (-1.0, 1.0)
AUDIO_DIR, VIDEO_DIR, GOLD_DIR = "recordings_audio", "recordings_video", "ratings_gold_standard"
_SESSION_ID = re.compile(r"^(?P<split>[A-Za-z]+)_(?P<number>\d+)$")


@dataclasses.dataclass
class SessionInfo:
    """What the scan learnt about one session (for the manifest)."""

    id: str
    split: str
    audio_path: Path | None = None
    video_path: Path | None = None
    label_paths: dict[str, Path] = dataclasses.field(default_factory=dict)
    num_frames: int | None = None
    labels: np.ndarray | None = None
    audio_rate_hz: int | None = None
    audio_duration_s: float | None = None
    video_fps: float | None = None
    video_frames: int | None = None
    video_size: tuple[int, int] | None = None
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def label_duration_s(self) -> float | None:
        return None if self.num_frames is None else (self.num_frames - 1) * FRAME_STEP_S


@dataclasses.dataclass
class CorpusScan:
    """Result of scanning a corpus folder: sessions, problems, manifest and fingerprint."""

    root: Path
    targets: tuple[str, ...]
    sessions: list[SessionInfo]
    problems: list[str]
    has_audio: bool
    has_video: bool
    synthetic: bool
    generator: dict | None
    manifest: list[tuple[str, int, str]]
    tolerance_frames: int

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the sorted manifest lines ``relative-path<TAB>size<TAB>sha256``."""
        digest = hashlib.sha256()
        for rel, size, sha in self.manifest:
            digest.update(f"{rel}\t{size}\t{sha}\n".encode())
        return digest.hexdigest()

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [p for s in self.sessions for p in s.problems]


def _session_ids(folder: Path, suffix: str, problems: list[str]) -> dict[str, Path]:
    """Session files of ``folder`` by id; an entry that is not a readable file (a folder, a link to nothing or
    to itself) or whose split is not lower case is a problem, named, instead of a crash or a silent drop."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        match = _SESSION_ID.match(path.stem)
        if path.suffix.lower() != suffix or not match:
            continue
        if not path.is_file():
            problems.append(f"{path}: not a readable file (a folder, or a link to nothing or to itself); "
                            f"expected the {suffix} file of session {path.stem}.")
            continue
        if match["split"] != match["split"].lower():
            problems.append(f"{path}: the split of session {path.stem!r} is not lower case; AVEC 2016 names are "
                            f"train_<n>, dev_<n>, test_<n>. Rename the file.")
            continue
        found[path.stem] = path
    return found


def _read_label_trace(path: Path, session_id: str, target: str, problems: list[str]) -> np.ndarray | None:
    """Gold-standard column of one ARFF, checked for grid, NaN and range; None if unusable."""
    try:
        table = read_arff(path)
        values = table.numeric("GoldStandard")
        times = table.numeric("frameTime")
    except CorpusError as exc:
        problems.append(str(exc))
        return None
    if table.num_rows < 2:
        problems.append(f"{path}: {table.num_rows} label rows; expected one row per 40 ms.")
        return None
    steps = np.diff(times)
    bad_step = np.flatnonzero(~np.isclose(steps, FRAME_STEP_S, atol=1e-3))
    if bad_step.size:
        row = bad_step[0] + 1
        problems.append(
            f"{path}, line {table.line_numbers[row]}: frameTime {times[row]:.6g} after {times[row - 1]:.6g}; "
            f"expected a step of {FRAME_STEP_S} s."
        )
    if not np.isclose(times[0], 0.0, atol=1e-3):
        problems.append(f"{path}, line {table.line_numbers[0]}: first frameTime is {times[0]:.6g}; expected 0.")
    not_finite = np.flatnonzero(~np.isfinite(values))
    if not_finite.size:
        problems.append(
            f"{path}, line {table.line_numbers[not_finite[0]]}: GoldStandard is {float(values[not_finite[0]])} "
            f"({not_finite.size} non-finite values in the file); expected a number in [-1, 1]."
        )
    out_of_range = np.flatnonzero((values < LABEL_RANGE[0]) | (values > LABEL_RANGE[1]))
    if out_of_range.size:
        problems.append(
            f"{path}, line {table.line_numbers[out_of_range[0]]}: GoldStandard {values[out_of_range[0]]:.6g} "
            f"is outside [-1, 1] ({out_of_range.size} values); expected RECOLA's rating range."
        )
    if "Instance_name" in table.columns:
        names = set(table.columns["Instance_name"])
        if names and names != {session_id}:
            problems.append(f"{path}: Instance_name is {sorted(names)[:3]}; expected {session_id!r}.")
    return values if not (not_finite.size or out_of_range.size) else None


def _check_duration(info: SessionInfo, kind: str, media_duration_s: float, path: Path, tolerance: int) -> None:
    label_s = info.label_duration_s
    if label_s is None:
        return
    difference_frames = (media_duration_s - label_s) / FRAME_STEP_S
    if abs(difference_frames) > tolerance:
        relation = "shorter" if difference_frames > 0 else "longer"
        info.problems.append(
            f"{path}: {kind} lasts {media_duration_s:.2f} s but the labels of {info.id} cover {label_s:.2f} s "
            f"({info.num_frames} frames): labels are {relation} than the media by {abs(difference_frames):.0f} "
            f"frames; at most {tolerance} frames ({tolerance * FRAME_STEP_S:.2f} s) are tolerated."
        )


def scan_corpus(
    root: str | os.PathLike,
    *,
    targets: tuple[str, ...] = DEFAULT_TARGETS,
    tolerance_frames: int = DEFAULT_TOLERANCE_FRAMES,
    hash_files: bool = True,
) -> CorpusScan:
    """Read and check every file of an AVEC 2016-layout corpus without stopping at the first problem."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CorpusError(
            f"Corpus root {root} does not exist or is not a folder. Expected the AVEC 2016 package layout "
            f"({AUDIO_DIR}/, {VIDEO_DIR}/, {GOLD_DIR}/<target>/)."
        )
    problems: list[str] = []
    audio = _session_ids(root / AUDIO_DIR, ".wav", problems)
    video = _session_ids(root / VIDEO_DIR, ".mp4", problems)
    has_audio, has_video = (root / AUDIO_DIR).is_dir(), (root / VIDEO_DIR).is_dir()
    labels = {t: _session_ids(root / GOLD_DIR / t, ".arff", problems) for t in targets}
    for target in targets:
        if not (root / GOLD_DIR / target).is_dir():
            problems.append(f"{root / GOLD_DIR / target}: folder missing; expected one ARFF per session.")
    if not has_audio and not has_video:
        problems.append(f"{root}: neither {AUDIO_DIR}/ nor {VIDEO_DIR}/ exists; expected at least one modality.")

    ids = sorted(set(audio) | set(video) | {i for per in labels.values() for i in per}, key=session_sort_key)
    sessions: list[SessionInfo] = []
    for session_id in ids:
        info = SessionInfo(id=session_id, split=_SESSION_ID.match(session_id)["split"])
        sessions.append(info)
        if has_audio:
            info.audio_path = audio.get(session_id)
            if info.audio_path is None:
                info.problems.append(f"{root / AUDIO_DIR / (session_id + '.wav')}: session {session_id} has no audio.")
        if has_video:
            info.video_path = video.get(session_id)
            if info.video_path is None:
                info.problems.append(f"{root / VIDEO_DIR / (session_id + '.mp4')}: session {session_id} has no video.")
        traces = []
        for target in targets:
            path = labels[target].get(session_id)
            if path is None:
                info.problems.append(
                    f"{root / GOLD_DIR / target / (session_id + '.arff')}: session {session_id} has no {target} labels."
                )
                continue
            info.label_paths[target] = path
            trace = _read_label_trace(path, session_id, target, info.problems)
            if trace is not None:
                traces.append((target, path, trace))
        lengths = {len(trace) for _, _, trace in traces}
        if len(lengths) > 1:
            detail = ", ".join(f"{p.name} ({t}): {len(tr)}" for t, p, tr in traces)
            info.problems.append(f"{session_id}: label files differ in length: {detail}.")
        elif len(traces) == len(targets):
            info.labels = np.stack([trace for _, _, trace in traces], axis=1)
            info.num_frames = len(info.labels)
        if info.audio_path is not None:
            try:
                a = audio_info(info.audio_path)
                info.audio_rate_hz, info.audio_duration_s = a.sample_rate_hz, a.duration_s
                _check_duration(info, "audio", a.duration_s, info.audio_path, tolerance_frames)
            except MediaError as exc:
                info.problems.append(str(exc))
        if info.video_path is not None:
            try:
                v = video_info(info.video_path)
                info.video_fps, info.video_frames, info.video_size = v.fps, v.num_frames, (v.width, v.height)
                _check_duration(info, "video", v.duration_s, info.video_path, tolerance_frames)
            except MediaError as exc:
                info.problems.append(str(exc))

    marker = root / SYNTHETIC_MARKER
    generator = None
    if marker.exists():
        try:
            generator = json.loads(marker.read_text())
        except ValueError as exc:
            problems.append(f"{marker}: not valid JSON ({exc}).")

    manifest: list[tuple[str, int, str]] = []
    if hash_files:
        files = [marker] if marker.exists() else []
        for info in sessions:
            files += [p for p in (info.audio_path, info.video_path, *info.label_paths.values()) if p is not None]
        for path in sorted(files):
            manifest.append((path.relative_to(root).as_posix(), path.stat().st_size, file_sha256(path)))
    return CorpusScan(
        root=root,
        targets=tuple(targets),
        sessions=sessions,
        problems=problems,
        has_audio=has_audio,
        has_video=has_video,
        synthetic=generator is not None,
        generator=generator,
        manifest=manifest,
        tolerance_frames=tolerance_frames,
    )


def load_corpus(
    root: str | os.PathLike,
    *,
    targets: tuple[str, ...] = DEFAULT_TARGETS,
    tolerance_frames: int = DEFAULT_TOLERANCE_FRAMES,
) -> Corpus:
    """Read an AVEC 2016-layout folder into a validated :class:`Corpus`.

    Raises:
        CorpusError: listing every problem found (each naming its file and, for labels, the line).
    """
    scan = scan_corpus(root, targets=targets, tolerance_frames=tolerance_frames)
    problems = scan.all_problems
    if not scan.sessions and not problems:
        problems.append(f"{scan.root}: no sessions found; expected files named <split>_<n>.wav/.mp4/.arff.")
    if problems:
        shown = "\n  - ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CorpusError(
            f"Corpus at {scan.root} has {len(problems)} problem(s):\n  - {shown}{more}\n"
            f"Run `benchbox data check {scan.root}` for the full manifest."
        )
    sessions = tuple(
        LabelledSession(
            id=info.id,
            split=info.split,
            audio_path=info.audio_path,
            video_path=info.video_path,
            num_frames=int(info.num_frames),
            labels=info.labels,
            targets=tuple(targets),
        )
        for info in scan.sessions
    )
    return Corpus(
        root=scan.root,
        sessions=sessions,
        targets=tuple(targets),
        synthetic=scan.synthetic,
        fingerprint=scan.fingerprint,
        generator=scan.generator,
    )
