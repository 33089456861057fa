"""Calibration of the session-level methods on simulated RECOLA-shaped data (9 sessions x 7,501 frames).

400 null datasets (two equally good systems with per-session offsets on AR(1) traces) and, on the same
gold standard, a worse system with a known population CCC difference. Run with ``-s`` to see the figures;
they are also attached to the test report with ``record_property``.
"""

import json

import pytest

from benchbox.stats.simulation import SimulationDesign, calibration_study


@pytest.fixture(scope="module")
def study():
    return calibration_study(SimulationDesign(), num_datasets=400, resamples=2_000, rng=20240501)


def test_randomisation_test_holds_its_size(study, record_property):
    print("\n" + json.dumps(study, indent=1))
    for key in ("null", "alternative", "coverage", "lin_independent_frames"):
        record_property(key, json.dumps(study[key]))
    assert 0.02 <= study["null"]["randomisation_ccc_rejection_rate"] <= 0.08
    assert 0.02 <= study["null"]["randomisation_rmse_rejection_rate"] <= 0.08


def test_randomisation_test_has_power_against_a_known_difference(study):
    alternative = study["alternative"]
    assert alternative["true_ccc_difference"] == pytest.approx(0.136, abs=0.001)
    assert alternative["randomisation_ccc_power"] >= 0.3


def test_interval_coverage_is_reported_and_sane(study):
    # Percentile cluster bootstrap with 9 sessions: approximate, below nominal, but not absurd.
    assert 0.75 <= study["coverage"]["global_ccc_interval_coverage"] <= 0.99
    assert 0.75 <= study["alternative"]["difference_interval_coverage"] <= 0.99


def test_frame_level_shortcuts_are_miscalibrated(study):
    """Why the session is the unit: treating frames as independent rejects a true null almost always."""
    assert study["null"]["lin_independent_frames_rejection_rate"] > 0.5
    assert study["lin_independent_frames"]["too_small_by_factor"] > 10
    # and a bootstrap "interval excludes zero" rule is anti-conservative with 9 sessions
    assert (
        study["null"]["bootstrap_interval_excludes_zero_rate"]
        > study["null"]["randomisation_ccc_rejection_rate"]
    )
