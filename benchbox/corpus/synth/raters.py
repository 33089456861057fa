"""Simulated annotators and the AVEC 2016 gold standard.

RECOLA was rated by six annotators (three male, three female) with a joystick-like tool; each reacts with
a lag of a few seconds, uses the scale in an own way and adds noise. The gold standard of AVEC 2016
weights each rater by agreement with the others.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import lfilter

from benchbox.corpus.synth.latent import smooth_process
from benchbox.metrics import ccc_score

__all__ = ["RATER_NAMES", "Rater", "draw_raters", "simulate_ratings", "avec2016_gold_standard"]

#: Column names of ``ratings_individual`` in the AVEC 2016 package: French male (FM) and female (FF) raters.
RATER_NAMES = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")


@dataclasses.dataclass(frozen=True)
class Rater:
    """How one annotator rates one dimension of one session.

    Attributes:
        lag_s: Reaction delay (pure delay; the joystick inertia adds ``inertia_s`` on top on average).
        inertia_s: Time constant of the rater's one-pole smoothing.
        bias: Offset added to every rating.
        scale: Gain applied to the perceived emotion.
        noise_sd: Standard deviation of the rater's slowly varying error.
    """

    lag_s: float
    inertia_s: float
    bias: float
    scale: float
    noise_sd: float


def draw_raters(habits: np.random.Generator, session: np.random.Generator) -> list[Rater]:
    """Six raters: lasting habits (lag, scale) from ``habits``, per-session variation from ``session``.

    ``habits`` is seeded from the corpus seed only, so the same annotator keeps similar habits across
    sessions, as in RECOLA, where the same six people rated everything.
    """
    raters = []
    for _ in RATER_NAMES:
        lag_s = habits.uniform(1.2, 3.2)
        scale = habits.uniform(0.75, 1.25)
        bias = habits.normal(0.0, 0.06)
        raters.append(
            Rater(
                lag_s=float(np.clip(lag_s + session.normal(0, 0.15), 1.0, 3.5)),
                inertia_s=float(session.uniform(0.15, 0.45)),
                bias=float(bias + session.normal(0, 0.04)),
                scale=float(scale * session.uniform(0.9, 1.1)),
                noise_sd=float(session.uniform(0.04, 0.09)),
            )
        )
    return raters


def simulate_ratings(rng: np.random.Generator, perceived: np.ndarray, raters: list[Rater], *, step_s: float,
                     lead_s: float, num_frames: int) -> np.ndarray:
    """Ratings ``(num_frames, len(raters))`` of a trace that starts ``lead_s`` before media time 0.

    Rater ``i`` at media time ``t`` reports ``bias + scale * perceived(t - lag)`` seen through its
    joystick inertia, plus smooth noise, clipped to [-1, 1].
    """
    start = int(round(lead_s / step_s))
    out = np.empty((num_frames, len(raters)))
    grid = np.arange(len(perceived)) * step_s
    for column, rater in enumerate(raters):
        delayed = np.interp(grid - rater.lag_s, grid, perceived)
        phi = np.exp(-step_s / rater.inertia_s)
        smoothed = lfilter([1 - phi], [1, -phi], delayed, zi=[phi * delayed[0]])[0]
        noise = rater.noise_sd * smooth_process(rng, len(perceived), step_s, time_scale_s=3.0)
        trace = rater.bias + rater.scale * smoothed + noise
        out[:, column] = np.clip(trace[start:start + num_frames], -1.0, 1.0)
    return out


def avec2016_gold_standard(ratings: np.ndarray) -> np.ndarray:
    """Gold standard of AVEC 2016 from individual ratings ``(frames, raters)``.

    Each rater's agreement is the mean of its concordance correlation coefficients (population moments)
    with every other rater. Every trace is centred on its own mean and then shifted by the
    agreement-weighted mean of the raters' means; the gold standard is the mean of these traces. Equal
    raters give back their common trace; a rater who disagrees pulls the overall level less. Agreements
    that are negative or undefined count as zero weight; if no rater has positive agreement, the plain
    mean of the raters' means is used.

    Example:
        >>> import numpy as np
        >>> trace = np.linspace(-0.2, 0.4, 5)
        >>> gold = avec2016_gold_standard(np.stack([trace, trace, trace], axis=1))
        >>> bool(np.allclose(gold, trace))
        True
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[1] < 2 or ratings.shape[0] < 2:
        raise ValueError(
            f"The 'ratings' parameter of avec2016_gold_standard must have shape (frames >= 2, raters >= 2). "
            f"Got {ratings.shape} instead."
        )
    num_raters = ratings.shape[1]
    pairwise = np.full((num_raters, num_raters), np.nan)
    for i in range(num_raters):
        for j in range(i + 1, num_raters):
            pairwise[i, j] = pairwise[j, i] = _ccc_or_nan(ratings[:, i], ratings[:, j])
    defined = np.isfinite(pairwise)
    counts = defined.sum(axis=1)
    agreement = np.where(defined, pairwise, 0.0).sum(axis=1) / np.maximum(counts, 1)
    weights = np.where(counts > 0, np.clip(agreement, 0.0, None), 0.0)
    means = ratings.mean(axis=0)
    level = float(weights @ means / weights.sum()) if weights.sum() > 0 else float(means.mean())
    return (ratings - means).mean(axis=1) + level


def _ccc_or_nan(a: np.ndarray, b: np.ndarray) -> float:
    """CCC of two ratings; NaN (no warning) when both are the same constant."""
    if np.ptp(a) == 0 and np.ptp(b) == 0 and a[0] == b[0]:
        return float("nan")
    return float(ccc_score(a, b))
