"""Files of the AVEC 2016 package layout, each written atomically (temporary file, then rename)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchbox.atomic import atomic_path, write_text

__all__ = ["format_gold_standard_arff", "format_individual_ratings_csv", "write_wav", "write_session_labels"]


def format_gold_standard_arff(session_id: str, times_s: np.ndarray, values: np.ndarray) -> str:
    """A gold-standard ARFF exactly as in the AVEC 2016 package (``Instance_name,frameTime,GoldStandard``).

    Example:
        >>> print(format_gold_standard_arff("dev_1", np.array([0.0, 0.04]), np.array([0.1, -0.2])))
        @relation GOLDSTANDARD
        <BLANKLINE>
        @attribute Instance_name string
        @attribute frameTime numeric
        @attribute GoldStandard numeric
        <BLANKLINE>
        @data
        <BLANKLINE>
        dev_1,0.000000,0.100000
        dev_1,0.040000,-0.200000
        <BLANKLINE>
    """
    header = (
        "@relation GOLDSTANDARD\n\n"
        "@attribute Instance_name string\n"
        "@attribute frameTime numeric\n"
        "@attribute GoldStandard numeric\n\n"
        "@data\n\n"
    )
    rows = [f"{session_id},{t:.6f},{v:.6f}" for t, v in zip(times_s.tolist(), values.tolist(), strict=True)]
    return header + "\n".join(rows) + "\n"


def format_individual_ratings_csv(times_s: np.ndarray, ratings: np.ndarray, rater_names: Sequence[str]) -> str:
    """``time;FM1;...`` rows of the individual ratings (``;``-separated, as in the AVEC 2016 package)."""
    lines = [";".join(["time", *rater_names])]
    for t, row in zip(times_s.tolist(), ratings.tolist(), strict=True):
        lines.append(f"{t:.6f};" + ";".join(f"{value:.6f}" for value in row))
    return "\n".join(lines) + "\n"


def write_wav(path: str | os.PathLike, pcm: np.ndarray, sample_rate_hz: int) -> None:
    """Mono 16-bit PCM WAV."""
    import soundfile

    with atomic_path(path, suffix=".wav") as tmp:
        soundfile.write(str(tmp), pcm, sample_rate_hz, subtype="PCM_16", format="WAV")


def write_session_labels(root: Path, session_id: str, target: str, times_s: np.ndarray, gold: np.ndarray,
                         ratings: np.ndarray, rater_names: Sequence[str]) -> None:
    """Gold standard (ARFF) and individual ratings (CSV) of one target of one session."""
    write_text(root / "ratings_gold_standard" / target / f"{session_id}.arff",
               format_gold_standard_arff(session_id, times_s, gold))
    write_text(root / "ratings_individual" / target / f"{session_id}.csv",
               format_individual_ratings_csv(times_s, ratings, rater_names))
