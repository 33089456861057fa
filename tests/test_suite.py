import pytest

from benchbox.corpus.avec2016 import load_corpus
from benchbox.errors import SuiteError
from benchbox.suites import builtin_suite_names, load_suite


def test_avec2016_is_shipped_and_valid():
    assert "avec2016" in builtin_suite_names()
    suite = load_suite("avec2016")
    assert suite.targets == ("arousal", "valence")
    assert suite.headline == ("ccc", "global")
    from benchbox.stats.families import parse_families

    families = parse_families(suite.definition, suite.source)
    assert [f.name for f in families] == ["end-to-end vs best handcrafted", "learns something (vs chance)"]
    assert families[0].models == ("family:end-to-end",) and families[0].references == ("best:handcrafted",)
    assert families[1].alternative == "greater" and families[1].references == ("mean",)


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


def test_model_options_come_from_the_suite_file_and_change_its_hash(tmp_path):
    text = (__import__("importlib.resources").resources.files("benchbox.suites") / "avec2016.toml").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text + '\n[models.options."e2e-video"]\npreset = "paper"\nmax_epochs = 3\n')
    suite = load_suite(path)
    assert suite.options_for("e2e-video") == {"preset": "paper", "max_epochs": 3}
    assert suite.options_for("e2e-audio") == {}
    more = suite.with_model_options({"e2e-video": {"max_epochs": 5}, "e2e-av": {"compile": True}})
    assert more.options_for("e2e-video") == {"preset": "paper", "max_epochs": 5}  # per key, over the file's
    assert more.options_for("e2e-av") == {"compile": True}
    assert suite.options_for("e2e-video")["max_epochs"] == 3  # the original is untouched
    hashes = {load_suite("avec2016").definition_hash, suite.definition_hash, more.definition_hash}
    assert len(hashes) == 3  # options are part of the definition: another run folder


@pytest.mark.parametrize("addition, message", [
    ('[models]\noptions = 3', "must be a table of tables"),
    ('[models.options]\n"e2e-video" = 3', r"\[models.options.e2e-video\] must be a table of option = value"),
    ('[models.options."e2e-video"]\n"max-epochs" = 3', "option names must be Python identifiers"),
    ('[models.options."e2e-video"]\nstart = 2026-11-29', r"start must be a string, number, boolean, array or "
                                                          r"table. Got date"),
])
def test_malformed_model_options_are_named(tmp_path, addition, message):
    text = (__import__("importlib.resources").resources.files("benchbox.suites") / "avec2016.toml").read_text()
    if addition.startswith("[models]\n"):  # a key of the existing [models] table
        text = text.replace("[models]\n", addition + "\n", 1)
    else:
        text += "\n" + addition + "\n"
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_the_content_of_a_file_named_by_an_option_is_part_of_the_run_identity(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"aaaa")
    suite = load_suite("avec2016").with_model_options({"e2e-video": {"visual_pretrained_weights": str(weights)}})
    first = suite.fingerprint("corpus")
    assert suite.option_files() == {str(weights): __import__("hashlib").sha256(b"aaaa").hexdigest()}
    weights.write_bytes(b"bbbb")  # same path, same size, other content
    assert suite.fingerprint("corpus") != first
    assert load_suite("avec2016").option_files() == {}
