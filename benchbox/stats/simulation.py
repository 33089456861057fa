"""Calibration study: do the tests hold their size on RECOLA-shaped data, and what power do they have?

The simulated data mimic RECOLA's structure: S sessions of 7,501 frames; the gold standard of a session
is a per-session mean plus a smooth AR(1) trace; a system predicts ``gain * gold + offset_s + e(t)``
with a per-session error offset and an autocorrelated AR(1) error. Two systems with the same error
parameters are equally good (within each session their predictions are exchangeable: the null); a
system with a larger error SD is worse by a known population CCC difference (the alternative).

The population (infinitely many sessions) global CCC of a system is known in closed form:
``2 g G^2 / (G^2 + g^2 G^2 + offset_sd^2 + noise_sd^2)`` with ``G^2 = gold_sd^2 + gold_session_sd^2``,
which is what interval coverage is measured against.

Example:
    >>> design = SimulationDesign(num_sessions=6, num_frames=200)
    >>> a, b = simulate_datasets(design, 3, rng=0)
    >>> a.sum_pred.shape
    (6, 3)
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from benchbox.metrics import SufficientStats
from benchbox.stats._sums import as_rng, metric_of, pooled, scoped_metric
from benchbox.stats.bootstrap import lin_z_standard_error, percentile_interval, session_bootstrap_weights
from benchbox.stats.paired import paired_randomisation_test

__all__ = ["SimulationDesign", "simulate_datasets", "calibration_study"]


@dataclasses.dataclass(frozen=True)
class SimulationDesign:
    """Parameters of the simulated RECOLA-like datasets (frames at 25 Hz)."""

    num_sessions: int = 9
    num_frames: int = 7_501
    gold_sd: float = 0.15
    gold_session_sd: float = 0.10
    gold_ar: float = 0.995  # correlation time ~ 200 frames = 8 s
    gain: float = 0.7
    offset_sd: float = 0.08
    noise_sd: float = 0.10
    noise_ar: float = 0.98  # ~ 2 s

    def population_ccc(self, noise_sd: float | None = None) -> float:
        """Global CCC of a system over infinitely many sessions."""
        noise_sd = self.noise_sd if noise_sd is None else noise_sd
        gold_var = self.gold_sd**2 + self.gold_session_sd**2
        pred_var = self.gain**2 * gold_var + self.offset_sd**2 + noise_sd**2
        return 2 * self.gain * gold_var / (gold_var + pred_var)


def _ar1(rng: np.random.Generator, shape: tuple, sd: float, ar: float) -> np.ndarray:
    """Stationary AR(1) traces along the last axis (float64)."""
    from scipy.signal import lfilter

    start = rng.standard_normal(shape[:-1] + (1,)) * sd
    innovations = rng.standard_normal(shape) * (sd * math.sqrt(1.0 - ar**2))
    trace, _ = lfilter([1.0], [1.0, -ar], innovations, axis=-1, zi=ar * start)
    return trace


def _sums(gold: np.ndarray, pred: np.ndarray) -> tuple:
    """Per-session sums over frames of (datasets, sessions, frames) arrays -> fields (S, D)."""
    return (
        np.sum(pred, axis=-1).T,
        np.einsum("dsf,dsf->sd", pred, pred),
        np.einsum("dsf,dsf->sd", gold, pred),
    )


def simulate_datasets(
    design: SimulationDesign,
    num_datasets: int,
    *,
    noise_sd_b: tuple[float, ...] | float | None = None,
    rng: np.random.Generator | int | None = None,
    batch: int = 25,
) -> tuple[SufficientStats, ...]:
    """Per-session sums of systems A and B (and more) on ``num_datasets`` simulated datasets.

    Args:
        design: the data-generating parameters.
        num_datasets: D independent datasets of ``design.num_sessions`` sessions.
        noise_sd_b: error SD of the other system(s) (default: the same as A, i.e. the null). A tuple
            gives several systems on the same gold standard and system A.
        rng: Generator or seed.
        batch: datasets generated at once (bounds memory at about 8 * 4 * batch * S * F bytes).

    Returns:
        ``(stats_a, stats_b, ...)``, each with fields of shape ``(S, D)``.
    """
    rng = as_rng(rng)
    others = (
        (design.noise_sd,)
        if noise_sd_b is None
        else ((noise_sd_b,) if np.ndim(noise_sd_b) == 0 else tuple(noise_sd_b))
    )
    s, f = design.num_sessions, design.num_frames
    true_parts, pred_parts = [], [[] for _ in range(1 + len(others))]
    for start in range(0, num_datasets, batch):
        d = min(num_datasets, start + batch) - start
        gold = _ar1(rng, (d, s, f), design.gold_sd, design.gold_ar)
        gold += rng.standard_normal((d, s, 1)) * design.gold_session_sd
        true_parts.append((np.sum(gold, axis=-1).T, np.einsum("dsf,dsf->sd", gold, gold)))
        for k, noise_sd in enumerate((design.noise_sd, *others)):
            pred = _ar1(rng, (d, s, f), noise_sd, design.noise_ar)
            pred += design.gain * gold + rng.standard_normal((d, s, 1)) * design.offset_sd
            pred_parts[k].append(_sums(gold, pred))
            del pred
        del gold
    sum_true = np.concatenate([t[0] for t in true_parts], axis=1)
    sum_true_sq = np.concatenate([t[1] for t in true_parts], axis=1)
    n = np.full_like(sum_true, float(f))
    out = []
    for parts in pred_parts:
        sum_pred, sum_pred_sq, sum_cross = (np.concatenate([p[i] for p in parts], axis=1) for i in range(3))
        out.append(SufficientStats(n, sum_true, sum_pred, sum_true_sq, sum_pred_sq, sum_cross))
    return tuple(out)


def _rate(flags: np.ndarray) -> float:
    return float(np.mean(flags))


def calibration_study(
    design: SimulationDesign = SimulationDesign(),
    *,
    num_datasets: int = 400,
    alternative_noise_sd: float = 0.16,
    alpha: float = 0.05,
    resamples: int = 2_000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = 0,
) -> dict:
    """Size, power and interval coverage of the session-level methods (and of naive frame-level ones).

    Returns a JSON-serialisable dict: rejection rates under the null for the exact session
    randomisation test, the session-bootstrap "interval excludes 0" rule and the independent-frame Lin
    z-test; power of the randomisation test under the alternative; coverage of the session bootstrap
    intervals for the global CCC and for the CCC difference; how much smaller Lin's independent-frame
    standard error is than the actual spread of the estimate.
    """
    from scipy.stats import norm

    rng = as_rng(rng)
    started = time.perf_counter()
    stats_a, stats_null, stats_alt = simulate_datasets(
        design, num_datasets, noise_sd_b=(design.noise_sd, alternative_noise_sd), rng=rng
    )
    weights = session_bootstrap_weights(design.num_sessions, resamples=resamples, rng=rng)

    def ccc_and_interval(stats):
        estimate = metric_of(pooled(stats), "ccc")
        low, high, _ = percentile_interval(
            scoped_metric(stats, "ccc", "global", weights), confidence=confidence
        )
        return estimate, low, high

    ccc_a, low_a, high_a = ccc_and_interval(stats_a)
    ccc_null, _, _ = ccc_and_interval(stats_null)
    ccc_alt, _, _ = ccc_and_interval(stats_alt)
    boot_a = scoped_metric(stats_a, "ccc", "global", weights)
    diff_null_low, diff_null_high, _ = percentile_interval(
        boot_a - scoped_metric(stats_null, "ccc", "global", weights), confidence=confidence
    )
    diff_alt_low, diff_alt_high, _ = percentile_interval(
        boot_a - scoped_metric(stats_alt, "ccc", "global", weights), confidence=confidence
    )

    null_test = paired_randomisation_test(stats_a, stats_null, metric="ccc")
    alt_test = paired_randomisation_test(stats_a, stats_alt, metric="ccc")
    rmse_null_test = paired_randomisation_test(stats_a, stats_null, metric="rmse")

    # Lin's interval with every frame treated as an independent pair.
    _, se_a = lin_z_standard_error(pooled(stats_a))
    _, se_null = lin_z_standard_error(pooled(stats_null))
    lin_z = (np.arctanh(ccc_a) - np.arctanh(ccc_null)) / np.sqrt(se_a**2 + se_null**2)
    lin_p = 2 * norm.sf(np.abs(lin_z))
    actual_sd_z = float(np.std(np.arctanh(ccc_a), ddof=1))

    true_a = design.population_ccc()
    true_diff = true_a - design.population_ccc(alternative_noise_sd)
    return {
        "design": dataclasses.asdict(design),
        "num_datasets": num_datasets,
        "alpha": alpha,
        "bootstrap_resamples": resamples,
        "confidence": confidence,
        "null": {
            "randomisation_ccc_rejection_rate": _rate(null_test.p_value <= alpha),
            "randomisation_rmse_rejection_rate": _rate(rmse_null_test.p_value <= alpha),
            "bootstrap_interval_excludes_zero_rate": _rate((diff_null_low > 0) | (diff_null_high < 0)),
            "lin_independent_frames_rejection_rate": _rate(lin_p <= alpha),
            "exact_test_nominal_size": float(
                np.floor(alpha * 2**design.num_sessions / 2) * 2 / 2**design.num_sessions
            ),
        },
        "alternative": {
            "noise_sd_b": alternative_noise_sd,
            "true_ccc_difference": true_diff,
            "mean_observed_ccc_difference": float(np.mean(ccc_a - ccc_alt)),
            "randomisation_ccc_power": _rate(alt_test.p_value <= alpha),
            "difference_interval_coverage": _rate((diff_alt_low <= true_diff) & (true_diff <= diff_alt_high)),
        },
        "coverage": {
            "true_global_ccc": true_a,
            "mean_observed_global_ccc": float(np.mean(ccc_a)),
            "global_ccc_interval_coverage": _rate((low_a <= true_a) & (true_a <= high_a)),
            "mean_interval_width": float(np.mean(high_a - low_a)),
        },
        "lin_independent_frames": {
            "mean_standard_error_z": float(np.mean(se_a)),
            "actual_sd_z_across_datasets": actual_sd_z,
            "too_small_by_factor": actual_sd_z / float(np.mean(se_a)),
        },
        "seconds": time.perf_counter() - started,
    }
