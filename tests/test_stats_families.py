"""Families of comparisons declared in a suite file: validation, resolution, and a user's own family in a run."""

import json
from importlib import resources

import pytest

from benchbox.cli import main
from benchbox.errors import SuiteError
from benchbox.record import RunFolder
from benchbox.stats.families import FamilySpec, parse_families, resolve_family
from benchbox.suites import load_suite


def _suite_text() -> str:
    return (resources.files("benchbox.suites") / "avec2016.toml").read_text()


def _with_families(tmp_path, families: str, name="mine.toml"):
    text = _suite_text()
    text = text[: text.index("[[statistics.families]]")] + families
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_model_in_a_family_is_named_with_a_suggestion(tmp_path):
    path = _with_families(tmp_path, '[[statistics.families]]\nname = "x"\nmodels = ["egemaps-svm"]\n'
                                    'references = ["mean"]\n')
    with pytest.raises(SuiteError, match=r"mine.toml: family 'x' models: unknown model 'egemaps-svm'. Did you mean "
                                         r"'egemaps-svr'"):
        load_suite(path)


@pytest.mark.parametrize(("body", "message"), [
    ('name = "x"\nmodels = []\nreferences = ["mean"]\n', r"family 'x': 'models' must be a non-empty list"),
    ('name = "x"\nmodels = ["all"]\n', r"family 'x': 'references' must be a non-empty list .* compares nothing"),
    ('models = ["all"]\nreferences = ["mean"]\n', r"#1 needs a 'name'"),
    ('name = "x"\nmodels = ["all"]\nreferences = ["mean"]\nalternative = "less"\n',
     r"'alternative' must be one of \['two-sided', 'greater'\]. Got 'less'"),
    ('name = "x"\nmodels = ["best:"]\nreferences = ["mean"]\n', r"the selector 'best:' names no family"),
    ('name = "x"\nmodel = ["all"]\nreferences = ["mean"]\n', r"unknown key 'model'. Did you mean 'models'"),
])
def test_bad_family_declarations_are_refused(tmp_path, body, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(_with_families(tmp_path, "[[statistics.families]]\n" + body))


def test_an_empty_families_array_and_duplicate_names_are_refused(tmp_path):
    with pytest.raises(SuiteError, match=r"\[\[statistics.families\]\] must be a non-empty array"):
        load_suite(_with_families(tmp_path, "[statistics]\nfamilies = []\n"))
    twice = '[[statistics.families]]\nname = "x"\nmodels = ["all"]\nreferences = ["mean"]\n'
    with pytest.raises(SuiteError, match=r"family 'x' is declared twice"):
        load_suite(_with_families(tmp_path, twice + twice))


def test_an_uncalibrated_block_length_is_refused_with_the_measured_size(tmp_path):
    path = _with_families(tmp_path, "[statistics]\nblock_s = 30\n" + _suite_text()[
        _suite_text().index("[[statistics.families]]"):])
    with pytest.raises(SuiteError, match=r"block_s = 30 is not a calibrated block length: .* measured at 30 s: "
                                         r"recola \(9 sessions\): 0\.\d+"):
        load_suite(path)


def test_selectors_resolve_on_the_run():
    families = {"mean": "reference", "svr": "handcrafted", "xgb": "handcrafted", "e2e-a": "end-to-end",
                "e2e-v": "end-to-end"}
    select = {"svr": 0.3, "xgb": 0.5, "e2e-a": 0.9}
    primary = resolve_family(FamilySpec("p", ("family:end-to-end",), ("best:handcrafted",)), model_families=families,
                             select_ccc=select)
    assert primary.pairs == [("e2e-a", "xgb"), ("e2e-v", "xgb")] and not primary.notes
    sanity = resolve_family(FamilySpec("s", ("all",), ("mean",), "greater"), model_families=families,
                            select_ccc=select)
    assert sanity.pairs == [(m, "mean") for m in ("svr", "xgb", "e2e-a", "e2e-v")]
    nothing = resolve_family(FamilySpec("n", ("family:fusion",), ("mean",)), model_families=families,
                             select_ccc=select)
    assert nothing.pairs == [] and "model 'family:fusion' names no model" in nothing.notes[0]


def test_legacy_references_make_one_family():
    families = parse_families({"models": {"references": ["mean", "best:handcrafted"]}}, "old.toml")
    assert families == [FamilySpec("every model against the references", ("all",), ("mean", "best:handcrafted"),
                                   description="Declared by [models] references.")]


def test_a_user_suite_with_its_own_family_runs(foreign_corpus, tmp_path):
    path = _with_families(tmp_path, '[[statistics.families]]\nname = "ridge beats chance"\n'
                                    'models = ["egemaps-ridge"]\nreferences = ["mean"]\nalternative = "greater"\n')
    out = tmp_path / "run"
    assert main(["run", "--suite", str(path), "--data-root", str(foreign_corpus), "--models", "mean,egemaps-ridge",
                 "--out", str(out), "--no-progress"]) == 0
    stats = RunFolder(out).read_stats()
    assert [f.name for f in stats.families] == ["ridge beats chance"]
    family = stats.families[0]
    assert family.alternative == "greater" and family.size == 2
    assert {(c.model, c.reference) for c in family.comparisons} == {("egemaps-ridge", "mean")}
    assert json.loads((out / "stats.json").read_text())["families"][0]["test"] == "paired session randomisation test"
    report = (out / "report.html").read_text()
    assert 'id="family-1"' in report and "ridge beats chance" in report
