"""Holm and Benjamini-Hochberg against hand-computed examples."""

import numpy as np
import pytest

from benchbox.stats import benjamini_hochberg_adjust, holm_adjust, holm_rejection_possible


def test_holm_hand_computed():
    # sorted: 0.001 (x5), 0.008 (x4), 0.039 (x3), 0.041 (x2), 0.27 (x1)
    # -> 0.005, 0.032, 0.117, max(0.117, 0.082) = 0.117, max(0.117, 0.27) = 0.27
    p = [0.041, 0.001, 0.27, 0.039, 0.008]
    assert holm_adjust(p) == pytest.approx([0.117, 0.005, 0.27, 0.117, 0.032])


def test_benjamini_hochberg_hand_computed():
    # sorted: 0.001, 0.008, 0.039, 0.041, 0.27; m p / rank = 0.005, 0.02, 0.065, 0.05125, 0.27
    # step-up (running minimum from the top): 0.005, 0.02, 0.05125, 0.05125, 0.27
    p = [0.041, 0.001, 0.27, 0.039, 0.008]
    assert benjamini_hochberg_adjust(p) == pytest.approx([0.05125, 0.005, 0.27, 0.05125, 0.02])


def test_adjusted_values_are_capped_at_one_and_ties_are_kept():
    assert holm_adjust([0.6, 0.6, 0.6]).tolist() == [1.0, 1.0, 1.0]
    assert benjamini_hochberg_adjust([0.02, 0.02]).tolist() == [0.02, 0.02]


def test_nan_p_values_are_left_out_of_the_family():
    out = holm_adjust([0.01, np.nan, 0.04])
    assert np.isnan(out[1])
    assert out[[0, 2]] == pytest.approx([0.02, 0.04])
    assert np.isnan(benjamini_hochberg_adjust([np.nan])).all()
    assert holm_adjust([]).size == 0


def test_bad_p_values_are_rejected():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]. Got \[1.5\]"):
        holm_adjust([1.5])
    with pytest.raises(ValueError, match="must be 1-D"):
        benjamini_hochberg_adjust([[0.1]])


def test_holm_rejection_possible_with_nine_sessions():
    p_min = 2 / 2**9
    assert holm_rejection_possible(p_min, 1)
    assert holm_rejection_possible(p_min, 12)
    assert not holm_rejection_possible(p_min, 13)
    assert not holm_rejection_possible(p_min, 0)
    # consistent with the adjustment itself
    assert holm_adjust(np.full(13, p_min)).min() > 0.05 >= holm_adjust(np.full(12, p_min)).min()
