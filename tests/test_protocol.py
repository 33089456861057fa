import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from benchbox.metrics import ccc_score
from benchbox.protocol import choose_delay, fit_postprocessing, shift_labels, shift_predictions
from benchbox.record import RunFolder
from benchbox.runner import RunConfig, run_suite
from benchbox.suites import load_suite


def _smooth(n, seed, sigma=30.0):
    rng = np.random.default_rng(seed)
    trace = gaussian_filter1d(rng.normal(size=n), sigma)
    return trace / trace.std() * 0.3


def test_shifts_are_inverse_away_from_the_edges():
    x = np.arange(20.0)[:, None]
    assert shift_labels(x, 3)[:, 0].tolist()[:5] == [3, 4, 5, 6, 7]
    assert shift_labels(x, 3)[-3:, 0].tolist() == [19, 19, 19]
    assert shift_predictions(shift_labels(x, 3), 3)[3:].tolist() == x[3:].tolist()
    with pytest.raises(ValueError, match="'delay_frames' parameter must be >= 0. Got -1"):
        shift_labels(x, -1)


def test_choose_delay_recovers_the_annotation_lag():
    # Media show x(t); raters lag 50 frames, so gold(t) = x(t - 50). A model fitted with delay d
    # predicts x(t), shifted forward by d before scoring: best when d equals the lag.
    sessions = [_smooth(1500, seed) for seed in range(3)]
    gold = [shift_predictions(x, 50) for x in sessions]
    candidates = {d: [shift_predictions(x, d) for x in sessions] for d in (0, 25, 50, 75, 100)}
    best, scores = choose_delay(gold, candidates)
    assert best == 50 and scores[50] == pytest.approx(1.0)
    assert scores[0] < scores[25] < scores[50] > scores[75] > scores[100]


def test_postprocessing_filters_scales_and_centres_when_it_helps():
    rng = np.random.default_rng(0)
    gold = [_smooth(2000, seed) + 0.2 for seed in range(3)]
    predictions = [0.3 * g - 0.4 + rng.normal(scale=0.05, size=g.size) for g in gold]
    train_mean, train_std = 0.2, float(np.concatenate(gold).std())
    chain, history = fit_postprocessing(gold, predictions, train_mean=train_mean, train_std=train_std,
                                        median_windows_frames=(5, 11, 25))
    assert chain.median_window_frames > 1 and chain.scaled and chain.centre
    before = ccc_score(np.concatenate(gold), np.concatenate(predictions))
    after = ccc_score(np.concatenate(gold), np.concatenate([chain.apply(p) for p in predictions]))
    assert after > before + 0.3 and after == pytest.approx(list(history.values())[-1])


def test_postprocessing_keeps_nothing_that_does_not_help():
    gold = [_smooth(1000, 1)]
    chain, history = fit_postprocessing(gold, [gold[0].copy()], train_mean=float(gold[0].mean()),
                                        train_std=float(gold[0].std()), median_windows_frames=(5, 11))
    assert (chain.median_window_frames, chain.scaled, chain.centre) == (0, False, False)
    assert list(history) == ["none"]


def test_runner_records_the_protocol_of_every_unit(foreign_corpus, tmp_path):
    from benchbox.corpus.avec2016 import load_corpus

    suite = load_suite("avec2016")
    settings = suite.protocol("mean")
    assert settings.delays_frames == (0, 20, 40, 60, 80, 100) and settings.postprocessing
    summary = run_suite(RunConfig.create(suite, load_corpus(foreign_corpus), models=["mean"], seeds=[0],
                                  out_dir=tmp_path / "run", progress=False))
    status = RunFolder(summary.run_dir).unit_status("mean", 0)
    assert status.fits == 6
    arousal = status.protocol.targets["arousal"]
    assert arousal.annotation_delay_s in {0.0, 0.8, 1.6, 2.4, 3.2, 4.0}
    assert set(arousal.select_ccc_by_delay_s) == {"0", "0.8", "1.6", "2.4", "3.2", "4"}


def test_per_model_override(tmp_path):
    text = (__import__("importlib.resources").resources.files("benchbox.suites") / "avec2016.toml").read_text()
    text = text.replace('[protocol.per_model."e2e-audio"]\nannotation_delay_s = [2.4]',
                        '[protocol.per_model.slow]\nannotation_delay_s = [2.4]\npostprocessing = false')
    path = tmp_path / "suite.toml"
    path.write_text(text)
    suite = load_suite(path)
    assert suite.protocol("slow").delays_frames == (60,) and not suite.protocol("slow").postprocessing
    assert suite.protocol("mean").delays_frames == (0, 20, 40, 60, 80, 100)
