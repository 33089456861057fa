"""Statistics for comparing systems on time-continuous emotion recognition.

The session (recording) is the unit of every resampling: frames within a recording are strongly
autocorrelated, and tests or intervals that treat frames as independent are badly miscalibrated.

- :mod:`~benchbox.stats.paired`: exact paired session randomisation test (headline) and a Wilcoxon
  signed-rank test on per-session scores (secondary).
- :mod:`~benchbox.stats.multiplicity`: Holm (pre-declared family) and Benjamini-Hochberg (exploratory).
- :mod:`~benchbox.stats.bootstrap`: session (cluster) bootstrap intervals; Lin's interval for iid pairs.
- :mod:`~benchbox.stats.seeds`: mean and SD across seeds, seed averaging, Almost Stochastic Order.
- :mod:`~benchbox.stats.simulation`: the calibration study behind the claims above.
- :mod:`~benchbox.stats.run_stats`: all of it on a run folder, written to ``stats.json``.

Only numpy is imported eagerly; scipy and pandas are imported by the functions that need them.
"""

from __future__ import annotations

from benchbox.stats._sums import session_sufficient_stats, stack_stats
from benchbox.stats.bootstrap import (
    BOOTSTRAP_METHOD,
    LIN_METHOD,
    Interval,
    lin_ccc_interval,
    lin_z_standard_error,
    paired_bootstrap_ci,
    percentile_interval,
    session_bootstrap_ci,
    session_bootstrap_weights,
)
from benchbox.stats.multiplicity import benjamini_hochberg_adjust, holm_adjust, holm_rejection_possible
from benchbox.stats.paired import (
    RANDOMISATION_METHOD,
    WILCOXON_METHOD,
    PairedTestResult,
    WilcoxonResult,
    hodges_lehmann_interval,
    paired_randomisation_test,
    smallest_attainable_p,
    wilcoxon_session_test,
)
from benchbox.stats.seeds import (
    SeedSummary,
    almost_stochastic_order,
    average_over_seeds,
    seed_summary,
    violation_ratio,
)

__all__ = [
    # per-session sums
    "session_sufficient_stats",
    "stack_stats",
    # paired tests
    "PairedTestResult",
    "WilcoxonResult",
    "paired_randomisation_test",
    "wilcoxon_session_test",
    "hodges_lehmann_interval",
    "smallest_attainable_p",
    "RANDOMISATION_METHOD",
    "WILCOXON_METHOD",
    # multiplicity
    "holm_adjust",
    "benjamini_hochberg_adjust",
    "holm_rejection_possible",
    # intervals
    "Interval",
    "session_bootstrap_weights",
    "session_bootstrap_ci",
    "paired_bootstrap_ci",
    "percentile_interval",
    "lin_ccc_interval",
    "lin_z_standard_error",
    "BOOTSTRAP_METHOD",
    "LIN_METHOD",
    # seeds
    "SeedSummary",
    "seed_summary",
    "average_over_seeds",
    "almost_stochastic_order",
    "violation_ratio",
    # run folder
    "STATS_FORMAT",
    "compute_run_stats",
    "write_run_stats",
]


_LAZY = {"STATS_FORMAT": "benchbox.stats.run_stats", "compute_run_stats": "benchbox.stats.run_stats",
         "write_run_stats": "benchbox.stats.run_stats"}


def __getattr__(name: str):
    """The run-folder statistics load the run record (and pandas) only when asked for, so that reading a
    suite file (which checks its families) stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benchbox.stats' has no attribute {name!r}")
