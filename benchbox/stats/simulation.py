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

__all__ = ["SimulationDesign", "DESIGNS", "CONTROL_DESIGNS", "ADMISSIBLE_REJECTION", "simulate_datasets",
           "calibration_study", "block_test_study", "full_study"]


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

    def noise_for_difference(self, delta_ccc: float) -> float:
        """The error SD of a system whose population global CCC is ``delta_ccc`` below this design's.

        Example:
            >>> design = SimulationDesign()
            >>> round(design.population_ccc() - design.population_ccc(design.noise_for_difference(0.1)), 6)
            0.1
        """
        gold_var = self.gold_sd**2 + self.gold_session_sd**2
        target = self.population_ccc() - delta_ccc
        noise_var = 2 * self.gain * gold_var / target - gold_var - self.gain**2 * gold_var - self.offset_sd**2
        if not 0 < target or noise_var <= 0:
            raise ValueError(f"No error SD gives a CCC difference of {delta_ccc} in this design.")
        return math.sqrt(noise_var)


#: The designs of the calibration study. ``recola``: RECOLA's 300 s sessions with the correlation times of
#: its arousal and valence traces (gold ~8 s, a system's error ~2 s) and per-session offsets of a system's
#: error; ``embedded``: the embedded synthetic corpus (60 s sessions), with its parameters measured on the
#: default run (gold lag-1 autocorrelation 0.9988, error of egemaps-ridge 0.997, SD of its per-session
#: mean error 0.15 to 0.2, within-session error SD 0.11 to 0.13, gold SD within 0.10 to 0.12 and between
#: sessions 0.15 to 0.18).
DESIGNS = {
    "recola": SimulationDesign(),
    "embedded": SimulationDesign(num_frames=1_501, gold_sd=0.11, gold_session_sd=0.16, gold_ar=0.9988,
                                 offset_sd=0.17, noise_sd=0.12, noise_ar=0.997),
}


#: Designs studied for contrast, not for adoption: without per-session offsets of the errors, blocks of a
#: session are exchangeable once the errors decorrelate, and the block test keeps its size.
CONTROL_DESIGNS = {"recola-without-offsets": dataclasses.replace(DESIGNS["recola"], offset_sd=0.0)}


def _ar1(rng: np.random.Generator, shape: tuple, sd: float, ar: float) -> np.ndarray:
    """Stationary AR(1) traces along the last axis (float64)."""
    from scipy.signal import lfilter

    start = rng.standard_normal(shape[:-1] + (1,)) * sd
    innovations = rng.standard_normal(shape) * (sd * math.sqrt(1.0 - ar**2))
    trace, _ = lfilter([1.0], [1.0, -ar], innovations, axis=-1, zi=ar * start)
    return trace


def _sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums over the frame chunks beginning at ``starts`` of (datasets, sessions, frames) -> (S * C, D)."""
    chunked = np.add.reduceat(values, starts, axis=-1)  # (D, S, C)
    return chunked.reshape(chunked.shape[0], -1).T


def simulate_datasets(
    design: SimulationDesign,
    num_datasets: int,
    *,
    noise_sd_b: tuple[float, ...] | float | None = None,
    rng: np.random.Generator | int | None = None,
    batch: int = 25,
    chunk_frames: int | None = None,
) -> tuple[SufficientStats, ...]:
    """Per-session (or per-chunk) sums of systems A and B (and more) on ``num_datasets`` simulated datasets.

    Args:
        design: the data-generating parameters.
        num_datasets: D independent datasets of ``design.num_sessions`` sessions.
        noise_sd_b: error SD of the other system(s) (default: the same as A, i.e. the null). A tuple
            gives several systems on the same gold standard and system A.
        rng: Generator or seed.
        batch: datasets generated at once (bounds memory at about 8 * 4 * batch * S * F bytes).
        chunk_frames: sums per chunk of this many frames (:func:`benchbox.stats.blocks.block_starts`)
            instead of per session: units in session-major order, ``S * C`` of them.

    Returns:
        ``(stats_a, stats_b, ...)``, each with fields of shape ``(S, D)`` (or ``(S * C, D)``).
    """
    from benchbox.stats.blocks import block_starts

    rng = as_rng(rng)
    others = (
        (design.noise_sd,)
        if noise_sd_b is None
        else ((noise_sd_b,) if np.ndim(noise_sd_b) == 0 else tuple(noise_sd_b))
    )
    s, f = design.num_sessions, design.num_frames
    starts = block_starts(f, chunk_frames) if chunk_frames else np.array([0])
    true_parts, pred_parts = [], [[] for _ in range(1 + len(others))]
    for start in range(0, num_datasets, batch):
        d = min(num_datasets, start + batch) - start
        gold = _ar1(rng, (d, s, f), design.gold_sd, design.gold_ar)
        gold += rng.standard_normal((d, s, 1)) * design.gold_session_sd
        true_parts.append((_sums(gold, starts), _sums(gold * gold, starts)))
        for k, noise_sd in enumerate((design.noise_sd, *others)):
            pred = _ar1(rng, (d, s, f), noise_sd, design.noise_ar)
            pred += design.gain * gold + rng.standard_normal((d, s, 1)) * design.offset_sd
            pred_parts[k].append((_sums(pred, starts), _sums(pred * pred, starts), _sums(gold * pred, starts)))
            del pred
        del gold
    sum_true = np.concatenate([t[0] for t in true_parts], axis=1)
    sum_true_sq = np.concatenate([t[1] for t in true_parts], axis=1)
    lengths = np.diff(np.append(starts, f)).astype(np.float64)
    n = np.broadcast_to(np.tile(lengths, s)[:, None], sum_true.shape).copy()
    out = []
    for parts in pred_parts:
        sum_pred, sum_pred_sq, sum_cross = (np.concatenate([p[i] for p in parts], axis=1) for i in range(3))
        out.append(SufficientStats(n, sum_true, sum_pred, sum_true_sq, sum_pred_sq, sum_cross))
    return tuple(out)


def _rate(flags: np.ndarray) -> float:
    return float(np.mean(flags))


def _coverage(low, high, truth) -> dict:
    return {"coverage": _rate((low <= truth) & (truth <= high)), "mean_width": float(np.nanmean(high - low))}


def _interval_study(stats_a, stats_b, weights, true_a: float, true_diff: float, confidence: float) -> dict:
    """Coverage and mean width of every interval method for the global CCC of A and for CCC(A) - CCC(B)."""
    from benchbox.stats.intervals import (
        bca_difference_interval,
        bca_interval,
        jackknife_t_difference_interval,
        jackknife_t_interval,
    )

    boot_a = scoped_metric(stats_a, "ccc", "global", weights)
    boot_diff = boot_a - scoped_metric(stats_b, "ccc", "global", weights)
    single = {
        "percentile": _coverage(*percentile_interval(boot_a, confidence=confidence)[:2], true_a),
        "bca": _coverage(*bca_interval(stats_a, weights, confidence=confidence)[1:], true_a),
        "jackknife_t": _coverage(*jackknife_t_interval(stats_a, confidence=confidence)[1:], true_a),
    }
    difference = {
        "percentile": _coverage(*percentile_interval(boot_diff, confidence=confidence)[:2], true_diff),
        "bca": _coverage(*bca_difference_interval(stats_a, stats_b, weights, confidence=confidence)[1:], true_diff),
        "jackknife_t": _coverage(*jackknife_t_difference_interval(stats_a, stats_b, confidence=confidence)[1:],
                                 true_diff),
    }
    return {"true_global_ccc": true_a, "true_ccc_difference": true_diff, "global_ccc": single,
            "ccc_difference": difference}


def block_test_study(
    design: SimulationDesign,
    *,
    block_s: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0),
    delta_ccc: float = 0.1,
    num_datasets: int = 400,
    alpha: float = 0.05,
    swaps: int = 999,
    frame_step_s: float = 0.04,
    rng: np.random.Generator | int | None = 0,
) -> dict:
    """Null rejection rate and power of the within-session block randomisation test for each block length,
    beside the session-level test on the same data (see :mod:`benchbox.stats.blocks`).

    Null: two equally good systems; alternative: B worse by ``delta_ccc`` (population global CCC).
    """
    from benchbox.stats.blocks import block_starts, group_units

    rng = as_rng(rng)
    chunk_frames = int(round(min(block_s) / frame_step_s))
    noise_alt = design.noise_for_difference(delta_ccc)
    stats_a, stats_null, stats_alt = simulate_datasets(design, num_datasets, noise_sd_b=(design.noise_sd, noise_alt),
                                                       rng=rng, chunk_frames=chunk_frames)
    chunks = np.shape(stats_a.n)[0] // design.num_sessions

    def rates(unit_chunks: int) -> tuple[float, float]:
        grouped = [group_units(st, design.num_sessions, chunks, unit_chunks) for st in (stats_a, stats_null,
                                                                                         stats_alt)]
        null = paired_randomisation_test(grouped[0], grouped[1], resamples=swaps, rng=rng)
        alt = paired_randomisation_test(grouped[0], grouped[2], resamples=swaps, rng=rng)
        return _rate(null.p_value <= alpha), _rate(alt.p_value <= alpha)

    session_null, session_power = rates(chunks)
    blocks = {}
    for seconds in block_s:
        unit_chunks = max(1, int(round(seconds / (chunk_frames * frame_step_s))))
        unit_chunks = min(unit_chunks, chunks)
        null_rate, power = rates(unit_chunks)
        blocks[f"{seconds:g}"] = {"null_rejection_rate": null_rate, "power": power,
                                  "units": design.num_sessions * len(block_starts(chunks, unit_chunks))}
    return {"num_sessions": design.num_sessions, "delta_ccc": delta_ccc, "num_datasets": num_datasets,
            "alpha": alpha, "session": {"null_rejection_rate": session_null, "power": session_power},
            "block_s": blocks}


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
    z-test; power of the randomisation test under the alternative; coverage and mean width of the
    interval methods (percentile, BCa, jackknife-t) for the global CCC and for the CCC difference; how
    much smaller Lin's independent-frame standard error is than the actual spread of the estimate.
    """
    from scipy.stats import norm

    rng = as_rng(rng)
    started = time.perf_counter()
    stats_a, stats_null, stats_alt = simulate_datasets(
        design, num_datasets, noise_sd_b=(design.noise_sd, alternative_noise_sd), rng=rng
    )
    weights = session_bootstrap_weights(design.num_sessions, resamples=resamples, rng=rng)
    ccc_a = metric_of(pooled(stats_a), "ccc")
    ccc_null = metric_of(pooled(stats_null), "ccc")
    ccc_alt = metric_of(pooled(stats_alt), "ccc")
    boot_a = scoped_metric(stats_a, "ccc", "global", weights)
    diff_null_low, diff_null_high, _ = percentile_interval(
        boot_a - scoped_metric(stats_null, "ccc", "global", weights), confidence=confidence
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
    intervals = _interval_study(stats_a, stats_alt, weights, true_a, true_diff, confidence)
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
            "difference_interval_coverage": intervals["ccc_difference"]["percentile"]["coverage"],
        },
        "coverage": {
            "true_global_ccc": true_a,
            "mean_observed_global_ccc": float(np.mean(ccc_a)),
            "global_ccc_interval_coverage": intervals["global_ccc"]["percentile"]["coverage"],
            "mean_interval_width": intervals["global_ccc"]["percentile"]["mean_width"],
        },
        "intervals": intervals,
        "lin_independent_frames": {
            "mean_standard_error_z": float(np.mean(se_a)),
            "actual_sd_z_across_datasets": actual_sd_z,
            "too_small_by_factor": actual_sd_z / float(np.mean(se_a)),
        },
        "seconds": time.perf_counter() - started,
    }


#: A block length is adopted only where the block test's null rejection rate at alpha = 0.05 lies here.
ADMISSIBLE_REJECTION = (0.02, 0.08)


def full_study(*, sessions: tuple[int, ...] = (9, 27), num_datasets: int = 400, delta_ccc: float = 0.1,
               block_s: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0), rng: int = 20261203) -> dict:
    """The calibration behind the suite's statistics: for each design of :data:`DESIGNS` and each number of
    sessions, the session-level and block tests (size and power at ``delta_ccc``) and the interval methods
    (coverage and width); and the block lengths that keep their size everywhere (``adopted_block_s``)."""
    started = time.perf_counter()
    results: dict[str, dict] = {}
    for name, base in DESIGNS.items():
        for num_sessions in sessions:
            design = dataclasses.replace(base, num_sessions=num_sessions)
            noise_alt = design.noise_for_difference(delta_ccc)
            study = calibration_study(design, num_datasets=num_datasets, alternative_noise_sd=noise_alt, rng=rng)
            blocks = block_test_study(design, block_s=block_s, delta_ccc=delta_ccc, num_datasets=num_datasets,
                                      rng=rng + 1)
            results.setdefault(name, {})[str(num_sessions)] = {
                "intervals": study["intervals"], "session_test": blocks["session"], "block_test": blocks["block_s"]}
    low, high = ADMISSIBLE_REJECTION
    adopted = [seconds for seconds in block_s
               if all(low <= r[str(s)]["block_test"][f"{seconds:g}"]["null_rejection_rate"] <= high
                      for r in results.values() for s in sessions)]
    controls = {name: block_test_study(dataclasses.replace(design, num_sessions=sessions[0]), block_s=block_s,
                                       delta_ccc=delta_ccc, num_datasets=num_datasets, rng=rng + 2)
                for name, design in CONTROL_DESIGNS.items()}
    return {"generated_by": "python -m benchbox.stats.simulation", "num_datasets": num_datasets,
            "delta_ccc": delta_ccc, "alpha": 0.05, "confidence": 0.95,
            "admissible_rejection": list(ADMISSIBLE_REJECTION),
            "designs": {k: dataclasses.asdict(v) for k, v in {**DESIGNS, **CONTROL_DESIGNS}.items()},
            "results": results, "controls": controls, "adopted_block_s": adopted,
            "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    """``python -m benchbox.stats.simulation [--datasets N] [--out FILE]``: run :func:`full_study`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchbox.stats.simulation", description=full_study.__doc__)
    parser.add_argument("--datasets", type=int, default=400, help="simulated datasets per cell (default 400)")
    parser.add_argument("--out", help="write the results as JSON here (benchbox ships them as "
                                      "benchbox/stats/calibration.json)")
    args = parser.parse_args(argv)
    result = full_study(num_datasets=args.datasets)
    text = json.dumps(result, indent=1)
    if args.out:
        from benchbox.atomic import write_text

        write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
