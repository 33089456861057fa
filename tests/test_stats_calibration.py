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


def test_jackknife_t_keeps_its_coverage_where_the_percentile_bootstrap_does_not(study):
    """The reported interval (session jackknife-t) against the percentile session bootstrap, 9 sessions."""
    from benchbox.stats.intervals import REPORTED_INTERVAL

    assert REPORTED_INTERVAL == "jackknife_t"
    for kind in ("global_ccc", "ccc_difference"):
        methods = study["intervals"][kind]
        assert methods["jackknife_t"]["coverage"] >= 0.92
        assert methods["jackknife_t"]["coverage"] > methods["percentile"]["coverage"]
        assert methods["jackknife_t"]["mean_width"] < 2 * methods["percentile"]["mean_width"]


@pytest.fixture(scope="module")
def block_studies():
    from benchbox.stats.simulation import CONTROL_DESIGNS, DESIGNS, block_test_study

    return {name: block_test_study(design, block_s=(30.0,), num_datasets=200, rng=7)
            for name, design in (("recola", DESIGNS["recola"]),
                                 ("without offsets", CONTROL_DESIGNS["recola-without-offsets"]))}


def test_block_test_holds_its_size_only_where_blocks_are_exchangeable(block_studies, record_property):
    record_property("block_studies", json.dumps(block_studies))
    without, recola = block_studies["without offsets"], block_studies["recola"]
    # errors without a per-session component: 90 exchangeable blocks, size kept, more power than 9 sessions
    assert 0.02 <= without["block_s"]["30"]["null_rejection_rate"] <= 0.08
    assert without["block_s"]["30"]["units"] == 90
    # RECOLA-like errors with per-session offsets: blocks of a session share them, the test over-rejects
    assert recola["block_s"]["30"]["null_rejection_rate"] > 0.15
    assert 0.02 <= recola["session"]["null_rejection_rate"] <= 0.08


def test_the_shipped_calibration_comes_from_this_study():
    import dataclasses

    from benchbox.stats.calibration import adopted_block_s, calibration
    from benchbox.stats.simulation import CONTROL_DESIGNS, DESIGNS

    shipped = calibration()
    assert shipped["designs"] == {k: dataclasses.asdict(v) for k, v in {**DESIGNS, **CONTROL_DESIGNS}.items()}
    assert adopted_block_s() == []  # no block length keeps its size on RECOLA-like data: sessions stay the units
    nine = shipped["results"]["recola"]["9"]["intervals"]
    assert nine["global_ccc"]["jackknife_t"]["coverage"] >= 0.93
