import numpy as np
import pytest
from scipy import stats

from benchbox.metrics import SufficientStats, UndefinedMetricWarning, ccc_score, pearson_score, rmse_error

# Hand-checked vectors from shared/PAPER.md (population moments).
VECTORS = [
    ([1, 2, 3, 4, 5], [1.1, 1.9, 3.2, 3.8, 5.3], 2060 / 2079),
    ([0, 0, 0, 1], [0, 1, 0, 1], 0.5),
    ([0, 1, 2], [0, 1, 1], 2 / 3),
    ([1, 2, 3], [3, 2, 1], -1.0),
]


@pytest.mark.parametrize(("y_true", "y_pred", "expected"), VECTORS)
def test_ccc_matches_hand_checked_vectors(y_true, y_pred, expected):
    assert ccc_score(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


def test_rmse_matches_hand_checked_vector():
    assert rmse_error([1, 2, 3, 4, 5], [1.1, 1.9, 3.2, 3.8, 5.3]) == pytest.approx(0.1949358869, abs=1e-10)


def _reference_ccc(x, y):
    """Independent implementation: numpy's biased covariance matrix."""
    cov = np.cov(x, y, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (np.mean(x) - np.mean(y)) ** 2)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_agree_with_independent_implementations(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=500)
    y = 0.6 * x + rng.normal(scale=0.5, size=500) + 0.3
    assert ccc_score(x, y) == pytest.approx(_reference_ccc(x, y), rel=1e-10)
    assert pearson_score(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-10)
    assert rmse_error(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), rel=1e-12)


def test_global_ccc_from_per_session_sums_equals_concatenation():
    rng = np.random.default_rng(1)
    sessions = [(rng.normal(size=n), rng.normal(size=n)) for n in (50, 120, 75)]
    pooled = SufficientStats.total(SufficientStats.from_arrays(t, p) for t, p in sessions)
    all_t = np.concatenate([t for t, _ in sessions])
    all_p = np.concatenate([p for _, p in sessions])
    assert pooled.ccc() == pytest.approx(ccc_score(all_t, all_p), rel=1e-10)
    assert pooled.rmse() == pytest.approx(rmse_error(all_t, all_p), rel=1e-10)


def test_undefined_metrics_return_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="CCC is undefined"):
        assert np.isnan(ccc_score([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]))
    with pytest.warns(UndefinedMetricWarning, match="Pearson r is undefined"):
        assert np.isnan(pearson_score([1, 2, 3], [0, 0, 0]))


def test_constant_prediction_has_zero_ccc_not_nan():
    assert ccc_score([1, 2, 3], [2, 2, 2]) == pytest.approx(0.0, abs=1e-12)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same length. Got 3 and 2"):
        ccc_score([1, 2, 3], [1, 2])


def test_constant_non_round_prediction_is_exactly_zero_ccc_and_undefined_pearson():
    truth = np.random.default_rng(3).normal(size=1000)
    constant = np.full(1000, 0.1234567891)  # E[x^2] - E[x]^2 would leave rounding noise
    assert ccc_score(truth, constant) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(pearson_score(truth, constant))
