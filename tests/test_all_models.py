"""Every registered model (built-in or installed plugin) fits on a tiny synthetic corpus and predicts the
right shape with finite values: no model can be added untested."""

import pytest

from benchbox.registry import model_names
from benchbox.testing import check_model, tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("all-models") / "corpus", train=3, dev=2, seconds=6.0, seed=11)


@pytest.mark.parametrize("name", model_names())
def test_registered_model_fits_and_predicts(name, corpus, monkeypatch):
    from benchbox.registry import MODEL_GROUP, load_entry_point

    # The end-to-end models' default CPU presets train for a minute; their toy preset keeps this test fast
    # (the presets themselves are covered in tests/test_e2e_*.py).
    monkeypatch.setenv("BENCHBOX_E2E_PRESET", "smoke")
    factory = load_entry_point(MODEL_GROUP, name)
    result = check_model(factory, name=name, corpus_root=corpus)
    assert result.num_predicted_sessions == 2
    # check_model raises on NaN/inf, wrong dtype or wrong length; here the lengths are checked again
    assert result.frames_per_session == {"dev_1": 151, "dev_2": 151}
