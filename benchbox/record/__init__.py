"""The run record: the only code that knows the run folder's format.

Typed, versioned records for the run (:class:`RunRecord`, ``run.json``), each unit's status
(:class:`UnitStatus`, ``units/<model>/seed-<s>/status.json``) and the statistics (:class:`StatsRecord`,
``stats.json``), each with ``to_json`` / ``from_json``; ``from_json`` reads every older format it knows and
refuses an unknown one with :class:`RecordFormatError`, naming the file, the version found and the versions
it reads. :class:`RunFolder` is what every reader (statistics, report, leaderboard, gate, CLI) calls instead
of opening files; :func:`to_jsonable` is the one JSON encoder for numpy and pandas values.
"""

from benchbox.record._codec import RecordFormatError, dumps, to_jsonable
from benchbox.record.folder import KEY_COLUMNS, RunFolder, frame_table
from benchbox.record.leaderboard import HEADLINE_COLUMN, leaderboard_table
from benchbox.record.run import (
    RUN_FORMAT,
    CorpusInfo,
    EnvironmentInfo,
    ModelEntry,
    RunRecord,
    SuiteInfo,
    options_sha256,
)
from benchbox.record.stats import (
    STATS_FORMAT,
    Comparison,
    Effect,
    FamilyResult,
    ModelUsage,
    PairTest,
    ScoreEstimate,
    SeedSpread,
    StatsRecord,
)
from benchbox.record.unit import UNIT_FORMAT, CandidateRecord, ProtocolRecord, TargetDecision, UnitStatus, now_utc

__all__ = [
    "RecordFormatError", "dumps", "to_jsonable",
    "RunFolder", "KEY_COLUMNS", "frame_table", "leaderboard_table", "HEADLINE_COLUMN",
    "RUN_FORMAT", "RunRecord", "SuiteInfo", "CorpusInfo", "EnvironmentInfo", "ModelEntry", "options_sha256",
    "STATS_FORMAT", "StatsRecord", "ModelUsage", "ScoreEstimate", "SeedSpread", "Effect", "PairTest", "Comparison",
    "FamilyResult",
    "UNIT_FORMAT", "UnitStatus", "CandidateRecord", "ProtocolRecord", "TargetDecision", "now_utc",
]
