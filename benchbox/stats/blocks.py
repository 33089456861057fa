"""Within-session blocks as exchangeable units of the paired randomisation test.

The session-level test (:mod:`benchbox.stats.paired`) has at most ``2^S`` swaps: with RECOLA's 9 test
sessions its smallest two-sided p-value is 0.0039. Cutting each session into consecutive blocks of B
seconds and swapping the two systems' predictions block by block gives ``S * 300 / B`` units. The pooled
(global) CCC does not depend on the order of frames, so the block test is the same randomisation test on
per-block sums. It is valid only where blocks are exchangeable: where the two systems' prediction errors
decorrelate within B **and** carry no per-session component (a system's per-recording bias is shared by
every block of a session, and swapping single blocks then underestimates the variance of the
difference). :func:`benchbox.stats.simulation.block_test_study` measures whether that holds; a suite may
use a block length only where the calibration study found the test's size within
:data:`benchbox.stats.simulation.ADMISSIBLE_REJECTION` (see ``benchbox/stats/calibration.json``).

Example:
    >>> block_starts(7_501, 750).tolist()
    [0, 750, 1500, 2250, 3000, 3750, 4500, 5250, 6000, 6750]
"""

from __future__ import annotations

import numpy as np

from benchbox.metrics import SufficientStats

__all__ = ["block_starts", "block_unit_ids", "group_units"]


def block_starts(num_frames: int, block_frames: int) -> np.ndarray:
    """Start frames of consecutive blocks of ``block_frames`` in a session of ``num_frames``; a tail shorter
    than half a block joins the block before it."""
    if block_frames < 1:
        raise ValueError(f"The 'block_frames' parameter must be at least 1. Got {block_frames} instead.")
    starts = np.arange(0, num_frames, block_frames)
    if len(starts) > 1 and num_frames - starts[-1] < block_frames / 2:
        starts = starts[:-1]
    return starts


def block_unit_ids(frame_session: np.ndarray, frame_index: np.ndarray, block_frames: int) -> np.ndarray:
    """A unit id per frame: ``(session, block)`` numbered consecutively, blocks as in :func:`block_starts`.

    Args:
        frame_session: integer session code of each frame.
        frame_index: the frame's index within its session (0, 1, ...).
        block_frames: frames per block.
    """
    frame_session = np.asarray(frame_session)
    frame_index = np.asarray(frame_index, dtype=np.int64)
    units = np.empty(len(frame_index), dtype=np.int64)
    offset = 0
    for code in np.unique(frame_session):
        mask = frame_session == code
        starts = block_starts(int(frame_index[mask].max()) + 1, block_frames)
        units[mask] = offset + np.searchsorted(starts, frame_index[mask], side="right") - 1
        offset += len(starts)
    return units


def group_units(stats: SufficientStats, num_sessions: int, chunks_per_session: int,
                chunks_per_unit: int) -> SufficientStats:
    """Sum consecutive chunks of each session into units of ``chunks_per_unit`` (a tail of fewer than half
    a unit's chunks joins the unit before it); fields ``(S * C, ...)`` in session-major order."""
    starts = block_starts(chunks_per_session, chunks_per_unit)
    index = (np.arange(num_sessions)[:, None] * chunks_per_session + starts[None, :]).ravel()
    return SufficientStats(*(np.add.reduceat(np.asarray(f, dtype=np.float64), index, axis=0)
                             for f in stats.as_tuple()))
