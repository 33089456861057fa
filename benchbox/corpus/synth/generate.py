"""Write a synthetic RECOLA-shaped corpus: one independent job per session, spread over processes."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import numbers
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from benchbox.atomic import atomic_path, write_json
from benchbox.corpus.session import FRAME_STEP_S
from benchbox.errors import CorpusError

__all__ = ["GENERATOR_NAME", "GENERATOR_VERSION", "FRAME_SIZE", "synthesize", "session_generator", "generate_session"]

GENERATOR_NAME = "benchbox-synth"
#: Bump whenever the same seed would give different files.
GENERATOR_VERSION = "1.2"
#: Frame width and height of the videos in pixels.
FRAME_SIZE = (320, 240)
TARGETS = ("arousal", "valence")
SPLITS = ("train", "dev", "test")
#: Seconds of latent emotion before media time 0: raters react late, so they rate what happened earlier.
_LEAD_S = 6.0
#: Independent random streams of one session (the spawn key's last element).
_PARTS = ("subject", "latent", "raters_arousal", "raters_valence", "timeline", "voice", "face", "camera")
_SESSION_STREAM, _RATER_HABITS_STREAM = 1, 2


def session_generator(seed: int, session_id: str, part: str) -> np.random.Generator:
    """Random stream ``part`` of one session, a function of ``(seed, session_id, part)`` only.

    So a session's content depends neither on how many sessions are generated nor on the worker count.
    """
    id_key = int.from_bytes(session_id.encode("utf-8"), "little")
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(_SESSION_STREAM, id_key, _PARTS.index(part)))
    return np.random.default_rng(sequence)


def _rater_habits(seed: int) -> np.random.Generator:
    """The raters' lasting habits, shared by every session (and target) of a corpus seed."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(_RATER_HABITS_STREAM,)))


@dataclasses.dataclass(frozen=True)
class _SessionJob:
    root: str
    session_id: str
    seed: int
    seconds: float


def generate_session(root: str | os.PathLike, session_id: str, *, seed: int, seconds: float) -> str:
    """Write the audio, video and labels of one session under ``root``; returns the session id."""
    from benchbox.corpus.synth.face import build_rig
    from benchbox.corpus.synth.latent import draw_latent_emotion
    from benchbox.corpus.synth.raters import RATER_NAMES, avec2016_gold_standard, draw_raters, simulate_ratings
    from benchbox.corpus.synth.subject import draw_subject
    from benchbox.corpus.synth.timeline import draw_timeline
    from benchbox.corpus.synth.video import FPS, expression_tracks, write_video
    from benchbox.corpus.synth.voice import BLOCK_S, SAMPLE_RATE_HZ, render_audio, voice_controls
    from benchbox.corpus.synth.writers import write_session_labels, write_wav

    root = Path(root)

    def rng(part: str) -> np.random.Generator:
        return session_generator(seed, session_id, part)

    width, height = FRAME_SIZE
    subject = draw_subject(rng("subject"), width_px=width, height_px=height)
    latent = draw_latent_emotion(rng("latent"), seconds=seconds, step_s=FRAME_STEP_S, lead_s=_LEAD_S)
    num_label_frames = int(round(seconds / FRAME_STEP_S)) + 1
    label_times_s = np.arange(num_label_frames) * FRAME_STEP_S

    for target in TARGETS:
        target_rng = rng(f"raters_{target}")
        raters = draw_raters(_rater_habits(seed), target_rng)
        ratings = simulate_ratings(target_rng, latent.total(target), raters, step_s=FRAME_STEP_S, lead_s=_LEAD_S,
                                   num_frames=num_label_frames)
        gold = np.clip(avec2016_gold_standard(ratings), -1.0, 1.0)
        write_session_labels(root, session_id, target, label_times_s, gold, ratings, RATER_NAMES)

    arousal = latent.media("arousal", num_label_frames)
    valence = latent.media("valence", num_label_frames)
    timeline = draw_timeline(rng("timeline"), subject.voice, arousal, valence, step_s=FRAME_STEP_S, seconds=seconds)
    num_blocks = int(math.ceil(seconds / BLOCK_S))
    block_times_s = (np.arange(num_blocks) + 0.5) * BLOCK_S
    controls = voice_controls(rng("voice"), timeline, subject.voice, np.interp(block_times_s, label_times_s, arousal),
                              np.interp(block_times_s, label_times_s, valence), num_blocks=num_blocks)
    pcm = render_audio(rng("voice"), controls, subject.voice, int(round(seconds * SAMPLE_RATE_HZ)))
    write_wav(root / "recordings_audio" / f"{session_id}.wav", pcm, SAMPLE_RATE_HZ)

    num_video_frames = int(round(seconds * FPS))
    frame_times_s = np.arange(num_video_frames) / FPS
    jaw = np.interp(frame_times_s, block_times_s, controls.jaw)
    tracks = expression_tracks(rng("face"), subject.behaviour, arousal[:num_video_frames],
                               valence[:num_video_frames], jaw)
    with atomic_path(root / "recordings_video" / f"{session_id}.mp4", suffix=".mp4") as tmp:
        write_video(tmp, build_rig(subject.face), tracks, rng("camera"), subject.behaviour.camera_noise_sd)
    return session_id


def _run_job(job: _SessionJob) -> str:
    return generate_session(job.root, job.session_id, seed=job.seed, seconds=job.seconds)


def _init_worker() -> None:
    """One OpenCV thread per worker process: the parallelism is across sessions."""
    import cv2

    cv2.setNumThreads(1)


@contextlib.contextmanager
def _one_opencv_thread() -> Iterator[None]:
    """Render on one OpenCV thread in this process (restoring its count after), the setting of the workers."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise CorpusError(f"The '{name}' parameter of synthesize must be an integer >= 0. Got {value!r} instead.")
    return int(value)


def _validate(train, dev, test, seconds, seed, workers, progress) -> tuple[dict[str, int], float, int, int]:
    counts = {"train": _check_count("train", train), "dev": _check_count("dev", dev),
              "test": _check_count("test", test)}
    if sum(counts.values()) == 0:
        raise CorpusError("synthesize needs at least one session. Got train=0, dev=0 and test=0.")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds):
        raise CorpusError(f"The 'seconds' parameter of synthesize must be a finite number. Got {seconds!r} instead.")
    if seconds <= 0:
        raise CorpusError(f"The 'seconds' parameter of synthesize must be > 0. Got {seconds!r} instead.")
    steps = seconds / FRAME_STEP_S
    if abs(steps - round(steps)) > 1e-6:
        raise CorpusError(
            f"The 'seconds' parameter of synthesize must be a multiple of {FRAME_STEP_S} s (the label step), so "
            f"that audio, video and labels end together. Got {seconds!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise CorpusError(f"The 'seed' parameter of synthesize must be an integer >= 0. Got {seed!r} instead.")
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    elif isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise CorpusError(f"The 'workers' parameter of synthesize must be an integer >= 1 or None. "
                          f"Got {workers!r} instead.")
    if progress is not None and not callable(progress):
        raise CorpusError(f"The 'progress' parameter of synthesize must be callable or None. Got {progress!r} instead.")
    return counts, float(seconds), int(seed), int(workers)


def synthesize(
    out_dir: str | os.PathLike,
    *,
    train: int = 9,
    dev: int = 9,
    test: int = 9,
    seconds: float = 300.0,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[str], object] | None = None,
) -> Path:
    """Write a deterministic synthetic corpus in the AVEC 2016 package layout of RECOLA.

    ``recordings_audio/<id>.wav`` (16 kHz mono PCM_16), ``recordings_video/<id>.mp4`` (H.264, 25 fps,
    320x240), ``ratings_gold_standard/{arousal,valence}/<id>.arff`` and
    ``ratings_individual/{arousal,valence}/<id>.csv`` for the sessions ``train_1..``, ``dev_1..`` and
    ``test_1..``, then ``BENCHBOX_SYNTHETIC.json`` with every parameter. Every file is written
    atomically and the marker last, so an interrupted run leaves a folder without marker; running again
    rewrites it. Each session depends only on ``(seed, session id, seconds)``.

    Args:
        out_dir: Folder to write (created if missing).
        train, dev, test: Number of sessions per split.
        seconds: Length of every session; a multiple of 0.04 s.
        seed: Corpus seed (integer >= 0).
        workers: Processes; ``None`` means ``min(2, os.cpu_count())``.
        progress: Called with each session id when that session is written.

    Returns:
        The corpus root.

    Raises:
        CorpusError: for a bad argument or an ``out_dir`` that is not a folder.
    """
    from benchbox.corpus.avec2016 import SYNTHETIC_MARKER
    from benchbox.corpus.synth.raters import RATER_NAMES
    from benchbox.corpus.synth.video import ENCODER_OPTIONS, FPS
    from benchbox.corpus.synth.voice import SAMPLE_RATE_HZ

    counts, seconds, seed, workers = _validate(train, dev, test, seconds, seed, workers, progress)
    root = Path(out_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise CorpusError(
            f"The 'out_dir' parameter of synthesize must be a folder. Got {str(root)!r}, a file, instead."
        )
    root.mkdir(parents=True, exist_ok=True)
    partial = root / PARTIAL_MARKER
    existing = _session_files(root)
    if existing and not ((root / SYNTHETIC_MARKER).exists() or partial.exists()):
        raise CorpusError(f"{root} holds session files that benchbox did not write (e.g. {existing[0]}) and no "
                          f"{SYNTHETIC_MARKER}; synthesize writes only into an empty folder or one of its own.")
    write_json(partial, {"generator": GENERATOR_NAME, "note": "synthesis in progress"})
    (root / SYNTHETIC_MARKER).unlink(missing_ok=True)  # incomplete until every session is rewritten

    session_ids = [f"{split}_{n}" for split in SPLITS for n in range(1, counts[split] + 1)]
    for stale in _session_files(root):  # sessions of an earlier, larger synthesis in this folder
        if stale.stem not in session_ids:
            stale.unlink()
    jobs = [_SessionJob(str(root), session_id, seed, seconds) for session_id in session_ids]
    if workers == 1 or len(jobs) == 1:
        with _one_opencv_thread():  # as in a worker process, so that both paths render alike
            for job in jobs:
                _report(progress, _run_with_note(job))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                                 initializer=_init_worker) as pool:
            futures = {pool.submit(_run_job, job): job for job in jobs}
            for future in as_completed(futures):
                try:
                    session_id = future.result()
                except BrokenProcessPool as exc:
                    raise CorpusError(
                        f"A worker process of synthesize died while generating {futures[future].session_id} in "
                        f"{root}. Worker processes are started with 'spawn': a script that calls synthesize must do "
                        f"so under `if __name__ == '__main__':`; or pass workers=1 to stay in this process."
                    ) from exc
                except BaseException as exc:
                    for other in futures:
                        other.cancel()
                    exc.add_note(f"while generating session {futures[future].session_id} of {root}")
                    raise
                _report(progress, session_id)

    width, height = FRAME_SIZE
    partial.unlink(missing_ok=True)
    write_json(root / SYNTHETIC_MARKER, {
        "generator": GENERATOR_NAME,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "train": counts["train"],
        "dev": counts["dev"],
        "test": counts["test"],
        "seconds": seconds,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "fps": FPS,
        "frame_width_px": width,
        "frame_height_px": height,
        "label_step_s": FRAME_STEP_S,
        "targets": list(TARGETS),
        "raters": list(RATER_NAMES),
        "video_codec": {"codec": "libx264", "pix_fmt": "yuv420p", **ENCODER_OPTIONS},
        "note": "Synthetic data written by benchbox; scores on it are not RECOLA results.",
    })
    return root


#: Written while a synthesis is in progress: a folder with it (or the final marker) is benchbox's own.
PARTIAL_MARKER = "BENCHBOX_SYNTHETIC.partial.json"
_SESSION_FOLDERS = ("recordings_audio", "recordings_video", "ratings_gold_standard", "ratings_individual")


def _session_files(root: Path) -> list[Path]:
    """Files of the corpus layout below ``root`` that are named like a session (``<split>_<n>.<ext>``)."""
    import re

    pattern = re.compile(r"^[A-Za-z]+_\d+$")
    return sorted(path for folder in _SESSION_FOLDERS if (root / folder).is_dir()
                  for path in (root / folder).rglob("*") if path.is_file() and pattern.match(path.stem))


def _run_with_note(job: _SessionJob) -> str:
    try:
        return _run_job(job)
    except BaseException as exc:
        exc.add_note(f"while generating session {job.session_id} of {job.root}")
        raise


def _report(progress: Callable[[str], object] | None, session_id: str) -> None:
    if progress is not None:
        progress(session_id)
