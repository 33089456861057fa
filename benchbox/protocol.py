"""The AVEC continuous-emotion protocol, applied by the harness identically to every model.

Annotation delay compensation
    Raters react to what they see and hear with a lag of a few seconds, so the gold standard at time
    *t* describes the media around *t - d*. For a delay of ``d`` frames the model is fitted on labels
    shifted back in time (``labels[t + d]`` paired with the media at ``t``); its predictions are then
    shifted forward by ``d`` frames before scoring against the original gold standard. The harness
    fits the model once per candidate delay and keeps, per target, the delay with the best global CCC
    on the selection partition.

Post-processing
    A chain fitted per target on the selection partition and then applied to every partition:
    median filtering (window candidates), centring (move the prediction mean onto the training
    labels' mean), scaling (match the training labels' standard deviation). Each step is kept only if
    it improves the selection CCC, as the AVEC baselines did.

All functions are pure; the runner records every decision in the unit's status.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter

from benchbox.corpus.session import LabelledSession
from benchbox.metrics import SufficientStats, UndefinedMetricWarning

__all__ = [
    "shift_labels",
    "shift_predictions",
    "delay_shifted_sessions",
    "global_ccc",
    "choose_delay",
    "PostProcessing",
    "fit_postprocessing",
]


def shift_labels(labels: np.ndarray, delay_frames: int) -> np.ndarray:
    """``out[t] = labels[t + d]``; the last ``d`` frames repeat the final value (same length)."""
    if delay_frames == 0:
        return labels
    if delay_frames < 0:
        raise ValueError(f"The 'delay_frames' parameter must be >= 0. Got {delay_frames} instead.")
    tail = np.repeat(labels[-1:], min(delay_frames, len(labels)), axis=0)
    return np.concatenate([labels[delay_frames:], tail])[: len(labels)]


def shift_predictions(predictions: np.ndarray, delay_frames: int) -> np.ndarray:
    """``out[t] = predictions[t - d]``; the first ``d`` frames repeat the first value (same length)."""
    if delay_frames == 0:
        return predictions
    if delay_frames < 0:
        raise ValueError(f"The 'delay_frames' parameter must be >= 0. Got {delay_frames} instead.")
    head = np.repeat(predictions[:1], min(delay_frames, len(predictions)), axis=0)
    return np.concatenate([head, predictions[: len(predictions) - delay_frames]])[: len(predictions)]


def delay_shifted_sessions(sessions: Sequence[LabelledSession], delay_frames: int) -> list[LabelledSession]:
    """Copies of ``sessions`` whose labels are shifted by ``delay_frames`` (see :func:`shift_labels`)."""
    if delay_frames == 0:
        return list(sessions)
    return [dataclasses.replace(s, labels=shift_labels(s.labels, delay_frames)) for s in sessions]


def global_ccc(gold: Sequence[np.ndarray], predictions: Sequence[np.ndarray]) -> float:
    """CCC over the concatenation of sessions (1-D traces), NaN-safe for degenerate input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        stats = SufficientStats.total(SufficientStats.from_arrays(g, p) for g, p in zip(gold, predictions, strict=True))
        return float(stats.ccc())


def choose_delay(
    gold: Sequence[np.ndarray], predictions_by_delay: dict[int, Sequence[np.ndarray]]
) -> tuple[int, dict[int, float]]:
    """Delay (frames) whose shifted-back predictions have the best global CCC on ``gold``.

    ``predictions_by_delay[d]`` are the selection-partition predictions of the model fitted with delay
    ``d``, already shifted forward by ``d``. Ties and NaN go to the smallest delay.
    """
    scores = {d: global_ccc(gold, preds) for d, preds in sorted(predictions_by_delay.items())}
    best = max(scores, key=lambda d: (np.nan_to_num(scores[d], nan=-np.inf), -d))
    return best, scores


@dataclasses.dataclass(frozen=True)
class PostProcessing:
    """A fitted post-processing chain for one target. Apply with :meth:`apply`."""

    median_window_frames: int = 0
    shift: float = 0.0
    scale: float = 1.0
    centre: bool = False
    scaled: bool = False
    prediction_mean: float = 0.0

    def apply(self, trace: np.ndarray) -> np.ndarray:
        out = np.asarray(trace, dtype=np.float64)
        if self.median_window_frames > 1:
            out = median_filter(out, size=self.median_window_frames, mode="nearest")
        if self.scaled:
            out = (out - self.prediction_mean) * self.scale + self.prediction_mean
        if self.centre:
            out = out + self.shift
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit_postprocessing(
    gold: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    *,
    train_mean: float,
    train_std: float,
    median_windows_frames: Sequence[int] = (0, 5, 11, 25, 51),
    allow_centring: bool = True,
    allow_scaling: bool = True,
) -> tuple[PostProcessing, dict[str, float]]:
    """Fit the chain on the selection partition, greedily, keeping a step only if it raises the CCC.

    Centring and scaling use the *training* labels' mean and SD, and the selection predictions' own
    statistics, never the selection labels' statistics (so that the selection partition only chooses,
    it does not calibrate against its own labels).

    Returns the chain and the selection CCC after each accepted step (for the record).
    """
    history = {"none": global_ccc(gold, predictions)}
    best = PostProcessing()
    best_score = np.nan_to_num(history["none"], nan=-np.inf)
    for window in median_windows_frames:
        if window <= 1:
            continue
        candidate = dataclasses.replace(best, median_window_frames=int(window))
        score = global_ccc(gold, [candidate.apply(p) for p in predictions])
        if score > best_score + 1e-6:
            best, best_score = candidate, score
    if best.median_window_frames:
        history[f"median_filter_{best.median_window_frames}"] = best_score
    filtered = np.concatenate([best.apply(p) for p in predictions])
    prediction_mean, prediction_std = float(filtered.mean()), float(filtered.std())
    if allow_scaling and prediction_std > 1e-8 and train_std > 0:
        candidate = dataclasses.replace(best, scaled=True, scale=train_std / prediction_std,
                                        prediction_mean=prediction_mean)
        score = global_ccc(gold, [candidate.apply(p) for p in predictions])
        if score > best_score + 1e-6:
            best, best_score = candidate, score
            history["scaling"] = score
    if allow_centring:
        candidate = dataclasses.replace(best, centre=True, shift=train_mean - prediction_mean)
        score = global_ccc(gold, [candidate.apply(p) for p in predictions])
        if score > best_score + 1e-6:
            best, best_score = candidate, score
            history["centring"] = score
    return best, history
