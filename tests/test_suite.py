import pytest

from benchbox.corpus.avec2016 import load_corpus
from benchbox.errors import SuiteError
from benchbox.suites import builtin_suite_names, load_suite


def test_avec2016_is_shipped_and_valid():
    assert "avec2016" in builtin_suite_names()
    suite = load_suite("avec2016")
    assert suite.targets == ("arousal", "valence")
    assert suite.headline == ("ccc", "global")
    assert suite.references == ["mean", "best:handcrafted"]


def test_unknown_suite_suggests(tmp_path):
    with pytest.raises(SuiteError, match=r"Unknown suite 'avec2061'. Did you mean 'avec2016'"):
        load_suite("avec2061")


def test_unknown_key_in_suite_file_is_named(tmp_path):
    text = (load_suite("avec2016").source and
            (__import__("importlib.resources").resources.files("benchbox.suites") / "avec2016.toml").read_text())
    path = tmp_path / "mine.toml"
    path.write_text(text.replace("headline_metric", "headline_metrc"))
    with pytest.raises(SuiteError, match=r"mine.toml: unknown key 'headline_metrc' at \[scoring\]. Did you mean"):
        load_suite(path)


def test_select_is_the_last_third_of_train(foreign_corpus):
    partitions = load_suite("avec2016").partitions(load_corpus(foreign_corpus))
    assert [s.id for s in partitions.fit] == ["train_1", "train_2"]
    assert [s.id for s in partitions.select] == ["train_3"]
    assert [s.id for s in partitions.test] == ["dev_1", "dev_2"]
