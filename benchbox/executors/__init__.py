"""Executors: where and how the feature jobs and units of a run are run.

``local`` (:class:`LocalExecutor`, the default): each unit in a process of its own on this machine, ``--jobs``
at a time. ``ray`` (:class:`~benchbox.executors.ray_executor.RayExecutor`, ``--executor ray``): each unit a Ray
task on a local Ray instance or a cluster, running the same per-unit supervision
(:func:`supervise_unit`). The runner builds one :class:`UnitJob` per unit and hands them over; every executor
runs the same job function (:func:`run_job`), which runs the unit lifecycle of :mod:`benchbox.units`.
"""

from benchbox.executors.graph import TaskGraph, cpu_shares
from benchbox.executors.job import UnitJob, run_job, without_scored_labels
from benchbox.executors.local import (
    FeatureWorker,
    LocalExecutor,
    UnitOutcome,
    UnitProcess,
    available_cores,
    supervise_unit,
)

__all__ = ["UnitJob", "run_job", "without_scored_labels", "LocalExecutor", "FeatureWorker", "TaskGraph", "cpu_shares",
           "UnitOutcome", "UnitProcess", "available_cores", "supervise_unit", "EXECUTORS"]

#: The executors ``benchbox run --executor`` knows.
EXECUTORS = ("local", "ray")
