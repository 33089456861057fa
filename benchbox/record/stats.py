"""The record of a run's statistics (``stats.json``), written by :mod:`benchbox.stats.run_stats`.

Effects are always ``model_a - model_b`` (for RMSE a negative effect means model_a is better). NaN is
written as ``null`` and read back as NaN in ``float`` fields.

Format history (key ``benchbox_stats_format``):

- 1: as written since the statistics existed; verdicts written before ``statement`` and ``caveat`` were
  added read with ``statement`` = ``sentence`` and no caveat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from benchbox.record._codec import RecordFormatError, check_format, from_jsonable, to_jsonable

__all__ = ["STATS_FORMAT", "StatsRecord", "ModelUsage", "ScoreEstimate", "SeedSpread", "Effect", "PairTest",
           "HolmFamily", "Verdict", "References"]

STATS_FORMAT = 1
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
    """One paired test between two models on one target."""

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
    p_holm: float | None = None  # None outside the Holm family
    p_bh: float | None = None
    holm_family: bool = False


@dataclasses.dataclass(frozen=True)
class HolmFamily:
    size: int
    test_ids: list[str]
    smallest_attainable_p: float
    rejection_possible: bool


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A plain-language outcome of one comparison of the Holm family.

    ``sentence`` stands alone (quote it anywhere); ``statement`` + ``caveat`` let a report say a caveat
    common to the whole family once.
    """

    model: str
    reference: str
    target: str
    outcome: Literal["better", "worse", "not_significant"]
    delta_ccc: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    test_id: str
    sentence: str
    statement: str
    caveat: str | None = None


@dataclasses.dataclass(frozen=True)
class References:
    requested: list[str]
    used: list[str]
    missing: list[str]


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
    references: References
    models: dict[str, ModelUsage]
    scores: list[ScoreEstimate]
    seeds: list[SeedSpread]
    tests: list[PairTest]
    holm_family: HolmFamily
    verdicts: list[Verdict]
    methods: dict[str, str]
    notes: list[str]
    benchbox_stats_format: int = STATS_FORMAT

    @property
    def usable_models(self) -> list[str]:
        return [name for name, usage in self.models.items() if usage.status == "ok"]

    def score(self, model: str, target: str, metric: str = "ccc", scope: str = "global") -> ScoreEstimate | None:
        return next((s for s in self.scores if (s.model, s.target, s.metric, s.scope) == (model, target, metric,
                                                                                          scope)), None)

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_json(cls, data: Any, *, source: str) -> StatsRecord:
        if not isinstance(data, Mapping):
            raise RecordFormatError(f"{source}: stats.json must be a JSON object. Got {type(data).__name__}.")
        check_format(data, key=_KEY, known=STATS_FORMAT, source=source)
        verdicts = [{**v, "statement": v.get("statement", v.get("sentence"))} if isinstance(v, Mapping) else v
                    for v in data.get("verdicts") or []]
        return from_jsonable(cls, {**data, "verdicts": verdicts}, source=source)
