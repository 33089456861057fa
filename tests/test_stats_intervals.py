"""Jackknife-t and BCa intervals against a direct computation, and the block units."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchbox.metrics import ccc_score
from benchbox.stats import session_sufficient_stats
from benchbox.stats.blocks import block_starts, block_unit_ids
from benchbox.stats.intervals import (
    bca_interval,
    jackknife_t_difference_interval,
    jackknife_t_interval,
    leave_one_out,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    sessions = np.repeat(np.arange(7), 60)
    gold = rng.normal(size=420) + np.repeat(rng.normal(size=7), 60) * 0.5
    a = 0.8 * gold + rng.normal(scale=0.6, size=420)
    b = 0.5 * gold + rng.normal(scale=0.9, size=420)
    return sessions, gold, a, b


def test_jackknife_t_matches_a_direct_leave_one_session_out(data):
    sessions, gold, a, _ = data
    _, stats = session_sufficient_stats(gold, a[:, None], sessions)
    direct = np.array([ccc_score(gold[sessions != s], a[sessions != s]) for s in range(7)])
    np.testing.assert_allclose(leave_one_out(stats, "ccc")[:, 0], direct, rtol=1e-10)
    z = np.arctanh(direct)
    se = math.sqrt(6 / 7 * np.sum((z - z.mean()) ** 2))
    half = scipy_stats.t.ppf(0.975, 6) * se
    estimate, low, high = jackknife_t_interval(stats, metric="ccc")
    full = ccc_score(gold, a)
    assert estimate[0] == pytest.approx(full)
    assert low[0] == pytest.approx(math.tanh(math.atanh(full) - half))
    assert high[0] == pytest.approx(math.tanh(math.atanh(full) + half))


def test_jackknife_t_of_a_difference_is_on_the_raw_scale(data):
    sessions, gold, a, b = data
    _, sa = session_sufficient_stats(gold, a[:, None], sessions)
    _, sb = session_sufficient_stats(gold, b[:, None], sessions)
    d = np.array([ccc_score(gold[sessions != s], a[sessions != s]) - ccc_score(gold[sessions != s], b[sessions != s])
                  for s in range(7)])
    se = math.sqrt(6 / 7 * np.sum((d - d.mean()) ** 2))
    estimate, low, high = jackknife_t_difference_interval(sa, sb)
    assert estimate[0] == pytest.approx(ccc_score(gold, a) - ccc_score(gold, b))
    assert high[0] - low[0] == pytest.approx(2 * scipy_stats.t.ppf(0.975, 6) * se)


def test_bca_brackets_the_estimate(data):
    sessions, gold, a, _ = data
    _, stats = session_sufficient_stats(gold, a[:, None], sessions)
    weights = np.random.default_rng(0).multinomial(7, np.full(7, 1 / 7), size=2000).astype(float)
    estimate, low, high = bca_interval(stats, weights)
    assert low[0] < estimate[0] < high[0]


def test_block_units_cut_each_session_and_keep_short_tails_together():
    assert block_starts(7_501, 750).tolist() == list(range(0, 7_500, 750))
    assert block_starts(1_200, 750).tolist() == [0, 750]  # a 450-frame tail is long enough for its own block
    assert block_starts(1_000, 750).tolist() == [0]  # a 250-frame tail joins the block before it
    sessions = np.array([0] * 5 + [1] * 4)
    frames = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3])
    assert block_unit_ids(sessions, frames, 2).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4]
    assert block_unit_ids(sessions, frames, 3).tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
