"""Paired session randomisation test and Wilcoxon test, against independent references."""

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchbox.metrics import SufficientStats
from benchbox.stats import (
    hodges_lehmann_interval,
    paired_randomisation_test,
    session_sufficient_stats,
    smallest_attainable_p,
    wilcoxon_session_test,
)


def _independent_ccc(x, y):
    cov = np.cov(x, y, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (np.mean(x) - np.mean(y)) ** 2)


def _independent_rmse(x, y):
    return np.sqrt(np.mean((np.asarray(x) - np.asarray(y)) ** 2))


def _toy(num_sessions, frames=40, seed=0, skill_b=0.5):
    """Frame-level traces of sessions with per-session offsets (lists of arrays) and their stats."""
    rng = np.random.default_rng(seed)
    gold, pred_a, pred_b = [], [], []
    for _ in range(num_sessions):
        g = np.cumsum(rng.normal(size=frames)) * 0.1 + rng.normal() * 0.3
        gold.append(g)
        pred_a.append(0.8 * g + rng.normal(scale=0.2, size=frames) + rng.normal() * 0.1)
        pred_b.append(skill_b * g + rng.normal(scale=0.3, size=frames) + rng.normal() * 0.2)
    sessions = np.repeat(np.arange(num_sessions), frames)
    _, stats_a = session_sufficient_stats(np.concatenate(gold), np.concatenate(pred_a), sessions)
    _, stats_b = session_sufficient_stats(np.concatenate(gold), np.concatenate(pred_b), sessions)
    return gold, pred_a, pred_b, stats_a, stats_b


@pytest.mark.parametrize(("metric", "reference"), [("ccc", _independent_ccc), ("rmse", _independent_rmse)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_permutation_test_with_sessions_as_pairs(metric, reference, seed):
    num_sessions = 7
    gold, pred_a, pred_b, stats_a, stats_b = _toy(num_sessions, seed=seed, skill_b=0.6)
    # scipy swaps the two labels within each pair; a pair is one session, coded by an index into the pool
    # of (system, session) traces, and the statistic is computed from frames, independently of our sums.
    pool = pred_a + pred_b
    gold_all = np.concatenate(gold)

    def statistic(x, y):
        a = np.concatenate([pool[int(k)] for k in x])
        b = np.concatenate([pool[int(k)] for k in y])
        return reference(gold_all, a) - reference(gold_all, b)

    expected = scipy_stats.permutation_test(
        (np.arange(num_sessions), np.arange(num_sessions) + num_sessions),
        statistic,
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=np.inf,
    )
    result = paired_randomisation_test(stats_a, stats_b, metric=metric)
    assert result.exact and result.num_permutations == 2**num_sessions
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-10)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-12)


@pytest.mark.parametrize("num_sessions", [3, 5, 9])
def test_dominating_system_reaches_the_smallest_exact_p(num_sessions):
    rng = np.random.default_rng(num_sessions)
    sessions = np.repeat(np.arange(num_sessions), 100)
    gold = rng.normal(size=sessions.size)
    _, good = session_sufficient_stats(gold, gold + rng.normal(scale=0.05, size=gold.size), sessions)
    _, bad = session_sufficient_stats(gold, rng.normal(size=gold.size), sessions)
    result = paired_randomisation_test(good, bad)
    assert result.p_value == 2 / 2**num_sessions == result.p_min == smallest_attainable_p(num_sessions)
    assert result.statistic > 0.9
    reverse = paired_randomisation_test(bad, good)
    assert reverse.p_value == result.p_value and reverse.statistic == pytest.approx(-result.statistic)


def test_identical_systems_give_p_one():
    *_, stats_a, _ = _toy(6)
    result = paired_randomisation_test(stats_a, stats_a)
    assert result.statistic == 0.0 and result.p_value == 1.0


def test_batched_input_equals_one_test_per_column():
    pairs = [_toy(8, seed=s) for s in range(4)]

    def column_stack(items):
        return SufficientStats(
            *(np.stack(f, axis=-1) for f in zip(*(i.as_tuple() for i in items), strict=True))
        )

    batch = paired_randomisation_test(
        column_stack([p[3] for p in pairs]), column_stack([p[4] for p in pairs])
    )
    for k, pair in enumerate(pairs):
        single = paired_randomisation_test(pair[3], pair[4])
        assert batch.statistic[k] == pytest.approx(single.statistic, abs=1e-12)
        assert batch.p_value[k] == single.p_value


def test_random_swaps_beyond_the_exact_limit():
    *_, stats_a, stats_b = _toy(12, seed=3, skill_b=0.75)
    exact = paired_randomisation_test(stats_a, stats_b)
    sampled = paired_randomisation_test(stats_a, stats_b, max_exact_sessions=10, resamples=9_999, rng=1)
    assert not sampled.exact and sampled.num_permutations == 9_999
    assert sampled.p_min == 1 / 10_000
    # (1 + b) / (1 + R) with b ~ Binomial(R, p_exact)
    assert sampled.p_value == pytest.approx(exact.p_value, abs=4 * np.sqrt(exact.p_value / 9_999) + 1e-4)
    assert (sampled.p_value * 10_000) == pytest.approx(round(sampled.p_value * 10_000))
    again = paired_randomisation_test(stats_a, stats_b, max_exact_sessions=10, resamples=9_999, rng=1)
    assert again.p_value == sampled.p_value


def test_rejects_stats_from_different_gold_standards():
    *_, stats_a, _ = _toy(5, seed=0)
    *_, other, _ = _toy(5, seed=1)
    with pytest.raises(ValueError, match="same gold standard"):
        paired_randomisation_test(stats_a, other)
    with pytest.raises(ValueError, match="'metric' parameter must be one of .* Got 'mae'"):
        paired_randomisation_test(stats_a, stats_a, metric="mae")


def test_smallest_attainable_p():
    assert smallest_attainable_p(9) == pytest.approx(0.0039, abs=1e-4)
    assert smallest_attainable_p(25) == 1 / 10_000
    with pytest.raises(ValueError, match="Got 0"):
        smallest_attainable_p(0)


@pytest.mark.parametrize("seed", range(4))
def test_wilcoxon_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 0.8, size=9)
    b = a - rng.normal(0.05, 0.1, size=9)
    result = wilcoxon_session_test(a, b)
    expected = scipy_stats.wilcoxon(a, b)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.num_sessions == 9


def test_wilcoxon_exact_p_equals_a_sign_flip_test_on_signed_ranks():
    """Independent check: the exact signed-rank p-value by enumerating all 2^n sign patterns."""
    d = np.array([0.12, -0.03, 0.08, 0.2, 0.05, -0.07, 0.15, 0.11, 0.01])
    ranks = scipy_stats.rankdata(np.abs(d))
    observed = np.sum(ranks * np.sign(d))
    flips = np.array(list(itertools.product([-1, 1], repeat=d.size)))
    null = flips @ ranks
    expected = np.mean(np.abs(null) >= abs(observed) - 1e-9)
    assert wilcoxon_session_test(d, np.zeros_like(d)).p_value == pytest.approx(expected)


def test_wilcoxon_drops_undefined_sessions_and_handles_all_zero_differences():
    result = wilcoxon_session_test([0.5, np.nan, 0.7, 0.6, 0.9, 0.8], [0.1, 0.2, 0.3, 0.2, 0.5, 0.4])
    assert result.num_sessions == 5 and result.p_value == pytest.approx(0.0625)
    same = wilcoxon_session_test([0.5, 0.6], [0.5, 0.6])
    assert same.p_value == 1.0 and same.estimate == 0.0


def test_hodges_lehmann_interval_inverts_the_exact_wilcoxon_test():
    """The interval is the set of shifts that the exact two-sided signed-rank test does not reject."""
    rng = np.random.default_rng(7)
    d = rng.normal(0.1, 0.1, size=10)
    estimate, low, high, level = hodges_lehmann_interval(d)
    alpha = 1 - level
    inside = lambda shift: scipy_stats.wilcoxon(d - shift, method="exact").pvalue > alpha + 1e-12  # noqa: E731
    assert inside(estimate)
    assert inside(low + 1e-9) and inside(high - 1e-9)
    assert not inside(low - 1e-6) and not inside(high + 1e-6)
    assert 0.95 <= level < 0.97
    assert np.isnan(hodges_lehmann_interval([0.1, 0.2, 0.3, 0.4, 0.5])[1])  # 5 values: no 95% interval


def test_several_targets_share_the_swaps_and_average_the_differences():
    from benchbox.stats import session_sufficient_stats

    rng = np.random.default_rng(5)
    sessions = np.repeat(np.arange(8), 40)
    pairs = []
    for _ in range(2):
        gold = rng.normal(size=320)
        _, a = session_sufficient_stats(gold, gold + rng.normal(scale=0.5, size=320), sessions)
        _, b = session_sufficient_stats(gold, gold + rng.normal(scale=0.9, size=320), sessions)
        pairs.append((a, b))
    single = [paired_randomisation_test(a, b) for a, b in pairs]
    joint = paired_randomisation_test([a for a, _ in pairs], [b for _, b in pairs])
    assert joint.statistic == pytest.approx(np.mean([r.statistic for r in single]))
    assert joint.num_permutations == 256 and joint.exact
    alone = paired_randomisation_test([pairs[0][0]], [pairs[0][1]])
    assert alone.p_value == single[0].p_value and alone.statistic == single[0].statistic
