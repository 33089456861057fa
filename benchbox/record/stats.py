"""The record of a run's statistics (``stats.json``), written by :mod:`benchbox.stats.run_stats`.

Effects are always ``model_a - model_b`` (for RMSE a negative effect means model_a is better). NaN is
written as ``null`` and read back as NaN in ``float`` fields.

Format history (key ``benchbox_stats_format``):

- 1: one Holm family (every model against the references), its ``verdicts``, percentile session-bootstrap
  intervals; tests carried ``p_holm``. Read by upgrading: the verdicts become the comparisons of one
  family, ``interval_method`` is the percentile bootstrap.
- 2: the suite's declared families (:class:`FamilyResult`, each with its own Holm correction, test and
  alternative), session jackknife-t intervals, the calibration figures behind them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from benchbox.record._codec import RecordFormatError, check_format, from_jsonable, to_jsonable

__all__ = ["STATS_FORMAT", "StatsRecord", "ModelUsage", "ScoreEstimate", "SeedSpread", "Effect", "PairTest",
           "Comparison", "FamilyResult"]

STATS_FORMAT = 2
_KEY = "benchbox_stats_format"


@dataclasses.dataclass(frozen=True)
class ModelUsage:
    """Which seeds of a model the statistics used, and why others were left out."""

    status: Literal["ok", "failed"]
    seeds_used: list[int]
    seeds_missing: list[int]
    seeds_excluded: dict[str, str]
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class ScoreEstimate:
    """A score of a model's seed-averaged predictions with its interval."""

    model: str
    target: str
    metric: str
    scope: str
    estimate: float
    ci_low: float
    ci_high: float
    interval_method: str
    num_undefined_resamples: int = 0


@dataclasses.dataclass(frozen=True)
class SeedSpread:
    """A score of each seed separately, with mean and SD across seeds."""

    model: str
    target: str
    metric: str
    scope: str
    per_seed: dict[str, float]
    num_seeds: int
    mean: float
    sd: float


@dataclasses.dataclass(frozen=True)
class Effect:
    name: str
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    interval_method: str


@dataclasses.dataclass(frozen=True)
class PairTest:
    """One exploratory paired test between two models on one target (the full matrix, BH-adjusted)."""

    id: str
    test: str
    method: str
    target: str
    model_a: str
    model_b: str
    statistic_name: str
    statistic: float
    p_value: float
    p_min: float
    num_sessions: int
    effect: Effect
    num_permutations: int | None = None
    exact: bool | None = None
    p_bh: float | None = None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One comparison of a family: a model against a reference on one target."""

    model: str
    reference: str
    target: str
    outcome: Literal["better", "worse", "not_significant"]
    delta_ccc: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    sentence: str


@dataclasses.dataclass(frozen=True)
class FamilyResult:
    """A declared family of comparisons with its test, alternative and Holm correction.

    ``smallest_attainable_adjusted_p`` is what Holm makes of the smallest p-value the test can give:
    where it is above ``alpha`` (``rejection_possible`` false) no comparison of the family can be
    significant, whatever the data.
    """

    name: str
    description: str
    alternative: str
    test: str
    unit: str
    num_units: int
    correction: str
    size: int
    smallest_attainable_p: float
    smallest_attainable_adjusted_p: float
    rejection_possible: bool
    comparisons: list[Comparison]
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class StatsRecord:
    """Scores with intervals, seed spread, paired tests and verdicts of a run on one partition."""

    generated_at: str
    run: dict[str, Any]  # suite, suite_version, suite_fingerprint of the run it was computed from
    partition: str
    targets: list[str]
    sessions: list[str]
    num_sessions: int
    alpha: float
    confidence: float
    resamples: int
    rng_seed: int
    models: dict[str, ModelUsage]
    scores: list[ScoreEstimate]
    seeds: list[SeedSpread]
    families: list[FamilyResult]
    tests: list[PairTest]
    interval_method: str
    methods: dict[str, str]
    notes: list[str]
    calibration: dict[str, Any] = dataclasses.field(default_factory=dict)
    benchbox_stats_format: int = STATS_FORMAT

    @property
    def usable_models(self) -> list[str]:
        return [name for name, usage in self.models.items() if usage.status == "ok"]

    def score(self, model: str, target: str, metric: str = "ccc", scope: str = "global") -> ScoreEstimate | None:
        return next((s for s in self.scores if (s.model, s.target, s.metric, s.scope) == (model, target, metric,
                                                                                          scope)), None)

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    def family(self, name: str) -> FamilyResult | None:
        return next((f for f in self.families if f.name == name), None)

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> StatsRecord:
        if not isinstance(data, Mapping):
            raise RecordFormatError(f"{source}: stats.json must be a JSON object. Got {type(data).__name__}.")
        version = check_format(data, key=_KEY, known=STATS_FORMAT, source=source)
        if version == 1:
            data = _upgrade_from_1(data, source)
        return from_jsonable(cls, data, source=source)


def _upgrade_from_1(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A format-1 ``stats.json`` as format 2: its Holm family and verdicts become one family."""
    holm = data.get("holm_family") or {}
    if not isinstance(holm, Mapping):
        raise RecordFormatError(f"{source}: holm_family must be an object. Got {holm!r} instead.")
    size = int(holm.get("size") or 0)
    p_min = holm.get("smallest_attainable_p")
    comparisons = [{"model": v.get("model"), "reference": v.get("reference"), "target": v.get("target"),
                    "outcome": v.get("outcome"), "delta_ccc": v.get("delta_ccc"), "ci_low": v.get("ci_low"),
                    "ci_high": v.get("ci_high"), "p_value": v.get("p_value"), "p_adjusted": v.get("p_holm"),
                    "sentence": v.get("sentence")} for v in data.get("verdicts") or [] if isinstance(v, Mapping)]
    family = {"name": "every model against the references", "description": "stats.json of format 1",
              "alternative": "two-sided", "test": "paired session randomisation test", "unit": "session",
              "num_units": data.get("num_sessions"), "correction": "holm", "size": size,
              "smallest_attainable_p": p_min,
              "smallest_attainable_adjusted_p": min(1.0, p_min * size) if isinstance(p_min, int | float) else None,
              "rejection_possible": bool(holm.get("rejection_possible")), "comparisons": comparisons}
    return {**data, _KEY: STATS_FORMAT, "families": [family] if size else [],
            "interval_method": "percentile session bootstrap", "calibration": {}}
