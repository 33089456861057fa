"""Writes a small AVEC 2016-layout corpus the way *another* tool would: 44.1 kHz stereo WAV, ARFF with CRLF
line endings, `%` comments, blank lines and quoted instance names; tiny MP4s at 25 fps through PyAV.

The media carry no emotion; the corpus exists to test the reader and the harness, not the models.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile

FRAME_STEP_S = 0.04


def write_arff(path: Path, session_id: str, values: np.ndarray, *, crlf: bool = True, quote: bool = True,
               comments: bool = True) -> None:
    newline = "\r\n" if crlf else "\n"
    lines = []
    if comments:
        lines += ["% gold standard exported by annotation-tool 3.1", "% rater fusion: EWE", ""]
    lines += ["@RELATION GOLDSTANDARD", "", "@ATTRIBUTE Instance_name STRING", "@attribute frameTime NUMERIC",
              "@attribute GoldStandard numeric", "", "@DATA", ""]
    name = f"'{session_id}'" if quote else session_id
    for index, value in enumerate(values):
        lines.append(f"{name},{index * FRAME_STEP_S:.6f},{value:.6f}")
        if comments and index == 3:
            lines.append("% a comment inside the data section")
            lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def write_wav(path: Path, seconds: float, *, rate: int = 44_100, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    mono = 0.2 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.stack([mono, mono], axis=1).astype(np.float32), rate, subtype="PCM_16")


def write_mp4(path: Path, seconds: float, *, fps: int = 25, size: tuple[int, int] = (64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(int(round(seconds * fps))):
            image = np.full((size[1], size[0], 3), (index * 3) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_foreign_corpus(root: Path, *, splits: dict[str, int] | None = None, seconds: float = 4.0,
                         video: bool = True, seed: int = 0) -> Path:
    """Write the corpus; returns ``root``. Labels are smooth random traces in [-1, 1]."""
    splits = splits or {"train": 3, "dev": 2}
    rng = np.random.default_rng(seed)
    num_frames = int(round(seconds / FRAME_STEP_S)) + 1
    for split, count in splits.items():
        for number in range(1, count + 1):
            session_id = f"{split}_{number}"
            write_wav(root / "recordings_audio" / f"{session_id}.wav", seconds, seed=number)
            if video:
                write_mp4(root / "recordings_video" / f"{session_id}.mp4", seconds)
            for target in ("arousal", "valence"):
                trace = np.tanh(np.cumsum(rng.standard_normal(num_frames)) * 0.05)
                write_arff(root / "ratings_gold_standard" / target / f"{session_id}.arff", session_id, trace)
    return root
