"""Executors: where and how the units of a run are run.

``local`` (:class:`LocalExecutor`, the default): each unit in a process of its own on this machine, ``--jobs``
at a time. The runner builds one :class:`UnitJob` per unit and hands them over; every executor runs the same
job function (:func:`run_job`), which runs the unit lifecycle of :mod:`benchbox.units`.
"""

from benchbox.executors.job import UnitJob, run_job, without_scored_labels
from benchbox.executors.local import LocalExecutor, UnitOutcome, available_cores

__all__ = ["UnitJob", "run_job", "without_scored_labels", "LocalExecutor", "UnitOutcome", "available_cores"]
