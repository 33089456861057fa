"""Leaderboards across runs: comparable results in tables, ranked by paired tests, beside published results.

``benchbox leaderboard RUN_DIR_OR_FOLDER... --out SITE`` builds a static site (:func:`write_leaderboard`);
``benchbox run`` refreshes ``benchbox-runs/index.html`` after every run.
"""

from benchbox.leaderboard.board import (
    RANK_METHOD,
    Board,
    BoardRow,
    BoardTable,
    TableKey,
    build_board,
    find_run_folders,
    relative_link,
)
from benchbox.leaderboard.published import PublishedRow, PublishedSet, builtin_published, load_published
from benchbox.leaderboard.site import LEADERBOARD_WRITER_GROUP, board_records, write_leaderboard

__all__ = ["RANK_METHOD", "Board", "BoardRow", "BoardTable", "TableKey", "build_board", "find_run_folders",
           "relative_link", "PublishedRow", "PublishedSet", "builtin_published", "load_published",
           "LEADERBOARD_WRITER_GROUP", "board_records", "write_leaderboard"]
