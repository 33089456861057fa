"""Fault injection: plugins that misbehave (write into labels, look for the scored labels, exit, hang, eat
memory) fail alone, change nothing for the others, and see no scored labels. The plugins are installed as a
throwaway package, like a user's, so that each unit's own process loads them from the registry."""


from pathlib import Path

import numpy as np
import pytest
from plugin_packages import install_plugin_package

from benchbox.cli import main
from benchbox.record import RunFolder

FAULTS_SOURCE = '''
import gc
import os
import time

import numpy as np


class _Base:
    modalities = frozenset()

    def fit(self, train, select, ctx):
        self.mean_ = np.concatenate([s.labels for s in train]).mean(axis=0)

    def predict(self, sessions, ctx):
        return {s.id: np.tile(self.mean_, (s.num_frames, 1)) for s in sessions}


class WritesLabels(_Base):
    """Writes into the labels it is given (must fail alone and change nothing for the models after it)."""

    name = "fault-writes-labels"

    def fit(self, train, select, ctx):
        for session in (*train, *select):
            session.labels[:] = 9.0
        super().fit(train, select, ctx)


class LooksForLabels(_Base):
    """Looks for the scored sessions' labels (through the garbage collector, the call stack and the run
    folder) and predicts them exactly if it finds any."""

    name = "fault-looks-for-labels"

    def predict(self, sessions, ctx):
        wanted = {s.id for s in sessions}
        found = {}
        for obj in gc.get_objects():
            try:
                labels, sid = getattr(obj, "labels", None), getattr(obj, "id", None)
            except Exception:  # some foreign objects raise on attribute access
                continue
            if isinstance(sid, str) and sid in wanted and isinstance(labels, np.ndarray) and labels.size:
                found[sid] = np.array(labels)
        run_dir = ctx.scratch_dir
        while run_dir != run_dir.parent and not (run_dir / "run.json").exists():
            run_dir = run_dir.parent
        self.gold_file_seen_ = (run_dir / "gold.parquet").exists()
        if self.gold_file_seen_:
            import pandas as pd

            gold = pd.read_parquet(run_dir / "gold.parquet")
            for sid, part in gold.groupby("session"):
                found.setdefault(sid, part[list(ctx.targets)].to_numpy())
        out = super().predict(sessions, ctx)
        return {sid: found.get(sid, value) for sid, value in out.items()}


class Exits(_Base):
    """Ends its process without a word while fitting."""

    name = "fault-exits"

    def fit(self, train, select, ctx):
        os._exit(3)


class Hangs(_Base):
    """Never finishes fitting."""

    name = "fault-hangs"

    def fit(self, train, select, ctx):
        time.sleep(3600)


class EatsMemory(_Base):
    """Asks for 50 GB."""

    name = "fault-eats-memory"

    def fit(self, train, select, ctx):
        self.block_ = np.ones(50 * 1024**3 // 8)
'''

ENTRY_POINTS = {
    'fault-writes-labels': 'throwaway_faults:WritesLabels',
    'fault-looks-for-labels': 'throwaway_faults:LooksForLabels',
    'fault-exits': 'throwaway_faults:Exits',
    'fault-hangs': 'throwaway_faults:Hangs',
    'fault-eats-memory': 'throwaway_faults:EatsMemory',
}


@pytest.fixture(scope="module")
def faults_site(tmp_path_factory) -> Path:
    return install_plugin_package(tmp_path_factory, package="throwaway-faults", module="throwaway_faults",
                                  source=FAULTS_SOURCE, entry_points=ENTRY_POINTS)


@pytest.fixture
def with_faults(faults_site, monkeypatch):
    monkeypatch.syspath_prepend(str(faults_site))
    return faults_site


def _run(corpus, out, models, *extra):
    return main(["run", "--data-root", str(corpus), "--out", str(out), "--no-progress", "--models", models, *extra])


def _global_scores(out, model):
    scores = RunFolder(out).scores(partition="test", scope="global")
    return scores[scores["model"] == model].sort_values(["target", "metric"])["value"].tolist()


def test_a_plugin_cannot_change_the_labels_others_learn_from(with_faults, foreign_corpus, tmp_path):
    assert _run(foreign_corpus, tmp_path / "clean", "mean") == 0
    assert _run(foreign_corpus, tmp_path / "mixed", "fault-writes-labels,mean") == 1
    status = RunFolder(tmp_path / "mixed").unit_status("fault-writes-labels", 0)
    assert status.status == "failed" and "ValueError during fit" in status.error and "read-only" in status.error
    np.testing.assert_array_equal(_global_scores(tmp_path / "mixed", "mean"),
                                  _global_scores(tmp_path / "clean", "mean"))


def test_the_scored_labels_are_out_of_reach_of_predict(with_faults, foreign_corpus, tmp_path):
    assert _run(foreign_corpus, tmp_path / "run", "fault-looks-for-labels,mean") == 0
    # nothing found (no labels of the scored sessions in its process, no gold.parquet yet): it predicts the
    # training mean, exactly as mean does
    np.testing.assert_array_equal(_global_scores(tmp_path / "run", "fault-looks-for-labels"),
                                  _global_scores(tmp_path / "run", "mean"))


def test_a_unit_that_exits_hangs_or_eats_memory_fails_alone(with_faults, foreign_corpus, tmp_path):
    out = tmp_path / "run"
    code = _run(foreign_corpus, out, "fault-exits,fault-hangs,fault-eats-memory,mean", "--unit-timeout", "20",
                "--unit-memory-gb", "4", "--jobs", "2")
    assert code == 1
    folder = RunFolder(out)
    exits = folder.unit_status("fault-exits", 0)
    assert exits.error == "The unit's process exited with code 3 during fit (annotation delay 0 s)."
    assert exits.process == {"exit_code": 3, "attempts": 1}
    hangs = folder.unit_status("fault-hangs", 0)
    assert hangs.error.startswith("The unit's process timed out after 20 s (--unit-timeout) during fit")
    memory = folder.unit_status("fault-eats-memory", 0)
    assert memory.status == "failed" and "MemoryError" in memory.error
    assert folder.is_done("mean", 0) and folder.unit_status("mean", 0).process["peak_rss_mb"] > 0
    # rerunning the same command retries the failed units (and only those)
    assert _run(foreign_corpus, out, "fault-exits,mean", "--jobs", "1") == 1
    assert folder.unit_status("mean", 0).done


def test_corrupt_artefacts_are_set_aside_and_recomputed(foreign_corpus, tmp_path, caplog):
    out = tmp_path / "run"
    assert _run(foreign_corpus, out, "mean") == 0
    folder = RunFolder(out)
    clean = _global_scores(out, "mean")
    predictions, status = folder.predictions_path("mean", 0), folder.status_path("mean", 0)
    predictions.write_bytes(predictions.read_bytes()[:100])  # truncated
    assert not folder.is_done("mean", 0) and predictions.with_name("seed-0.parquet.corrupt").exists()
    assert "does not read back" in caplog.text
    assert _run(foreign_corpus, out, "mean") == 0  # recomputed, from the stored delay candidates
    np.testing.assert_array_equal(_global_scores(out, "mean"), clean)
    status.write_text(status.read_text()[:40])  # a half-written status
    candidate = folder.unit_dir("mean", 0) / "delay-0.npz"
    candidate.write_bytes(candidate.read_bytes()[:50])  # and a damaged delay candidate
    assert _run(foreign_corpus, out, "mean") == 0
    assert folder.unit_status("mean", 0).done and (folder.unit_dir("mean", 0) / "status.json.corrupt").exists()
    assert (folder.unit_dir("mean", 0) / "delay-0.npz.corrupt").exists()
    np.testing.assert_array_equal(_global_scores(out, "mean"), clean)


def test_stats_and_report_derive_the_scores_from_the_predictions(foreign_corpus, tmp_path):
    out = tmp_path / "run"
    assert _run(foreign_corpus, out, "mean,egemaps-ridge") == 0
    folder = RunFolder(out)
    clean = folder.scores_path.read_bytes()
    folder.scores_path.write_bytes(clean[: len(clean) // 3])  # truncated: a model's rows are missing
    assert main(["report", str(out)]) == 0
    assert folder.scores_path.read_bytes() == clean
    folder.predictions_path("egemaps-ridge", 0).unlink()  # a model whose predictions are gone
    assert main(["stats", str(out), "--resamples", "99"]) == 0
    assert set(folder.scores()["model"]) == {"mean"}
    assert "egemaps-ridge" not in folder.leaderboard()["model"].tolist()


def test_a_second_run_on_a_folder_in_use_refuses_and_out_on_a_file_is_an_error(foreign_corpus, tmp_path, capsys):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "a+") as held:  # another run holds the folder
        held.write("pid 1 on elsewhere")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _run(foreign_corpus, out, "mean") == 2
        assert "is in use by another benchbox run (pid 1 on elsewhere)" in capsys.readouterr().err
    assert _run(foreign_corpus, out, "mean") == 0  # released: the run goes ahead
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert _run(foreign_corpus, a_file, "mean") == 2
    assert "is a file; give a folder for the run" in capsys.readouterr().err


def test_a_damaged_cache_entry_is_set_aside_and_computed_again(tmp_path, caplog):
    from benchbox.cache import Cache

    cache = Cache(tmp_path / "cache")
    first = cache.array("demo", "1", {"k": 1}, [], lambda: np.arange(1000.0))
    path = cache.entry_path("demo", cache.key("demo", "1", {"k": 1}, []), ".npy")
    del first
    path.write_bytes(path.read_bytes()[:300])  # truncated by a crash or a full disk
    again = cache.array("demo", "1", {"k": 1}, [], lambda: np.arange(1000.0))
    np.testing.assert_array_equal(again, np.arange(1000.0))
    assert f"cache entry {path} does not read back" in caplog.text
    assert path.with_name(path.name + ".corrupt").exists()


def test_report_and_stats_on_a_file_are_clear_errors(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for command in (["report", str(a_file)], ["stats", str(a_file)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{a_file} is not a folder; give a benchbox run folder." in err and "Traceback" not in err


def test_odd_corpus_entries_are_named_not_tracebacks(foreign_corpus, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(foreign_corpus, corpus)
    audio = corpus / "recordings_audio"
    (audio / "dev_2.wav").unlink()
    (audio / "dev_2.wav").symlink_to(audio / "missing.wav")  # a link to nothing
    (audio / "dev_3.wav").symlink_to(audio / "dev_3.wav")  # a link to itself
    (audio / "train_9.wav").mkdir()  # a folder
    shutil.copy(audio / "dev_1.wav", audio / "Train_7.WAV")  # split not lower case
    assert main(["data", "check", str(corpus)]) == 1
    out = capsys.readouterr().out
    for name in ("dev_2.wav", "dev_3.wav", "train_9.wav"):
        assert f"{audio / name}: not a readable file" in out
    assert f"{audio / 'Train_7.WAV'}: the split of session 'Train_7' is not lower case" in out
    assert main(["run", "--data-root", str(corpus), "--models", "mean", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not a readable file" in err and "Traceback" not in err


def test_synth_into_a_larger_earlier_synth_leaves_no_stale_sessions(tmp_path):
    from benchbox.corpus.avec2016 import scan_corpus
    from benchbox.corpus.synth import synthesize
    from benchbox.errors import CorpusError

    root = tmp_path / "corpus"
    synthesize(root, train=3, dev=2, test=0, seconds=2.0, workers=1)
    synthesize(root, train=2, dev=2, test=0, seconds=2.0, workers=1)
    assert sorted(s.id for s in scan_corpus(root).sessions) == ["dev_1", "dev_2", "train_1", "train_2"]
    foreign = tmp_path / "mine"
    (foreign / "recordings_audio").mkdir(parents=True)
    (foreign / "recordings_audio" / "train_1.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusError, match=r"holds session files that benchbox did not write"):
        synthesize(foreign, train=2, dev=2, test=0, seconds=2.0, workers=1)


def test_data_check_refuses_what_run_refuses(tmp_path, capsys):
    from benchbox.corpus.synth import synthesize

    root = tmp_path / "no-dev"
    synthesize(root, train=3, dev=0, test=1, seconds=2.0, workers=1)
    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM for `benchbox run --suite avec2016`: Suite 'avec2016': the 'test' partition is empty" in out
    assert main(["run", "--data-root", str(root), "--models", "mean", "--out", str(tmp_path / "r")]) == 2
    assert "the 'test' partition is empty" in capsys.readouterr().err


def test_a_full_disk_or_read_only_folder_is_a_message_and_nothing_is_lost(foreign_corpus, tmp_path, capsys,
                                                                         monkeypatch):
    """The file system refusing a write (no space, read-only, no permission) ends the run with one line that
    names the file and exit code 3; the units already written are kept and the rerun completes from them.
    (The tests run as root, where permissions do not refuse anything, so the refusal is injected where the
    driver writes; the units' own processes are not patched and write normally.)"""
    import errno

    from benchbox.record import RunFolder as Folder

    out = tmp_path / "run"

    def disk_full(self, frame):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.gold_path))

    monkeypatch.setattr(Folder, "write_gold", disk_full)
    assert _run(foreign_corpus, out, "mean,egemaps-ridge") == 3
    err = capsys.readouterr().err
    assert f"benchbox: error: {out / 'gold.parquet'}: No space left on device. What was written before is kept" in err
    assert "Traceback" not in err
    folder = RunFolder(out)
    assert folder.is_done("mean", 0) and folder.is_done("egemaps-ridge", 0)
    statuses = {p: p.stat().st_mtime_ns for p in (out / "units").rglob("status.json")}
    monkeypatch.undo()
    assert _run(foreign_corpus, out, "mean,egemaps-ridge") == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "units").rglob("status.json")} == statuses  # no unit redone
    assert set(folder.scores()["model"]) == {"mean", "egemaps-ridge"}

    read_only = tmp_path / "read-only"
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self == read_only / "run" or read_only in self.parents:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert _run(foreign_corpus, read_only / "run", "mean") == 3
    err = capsys.readouterr().err
    assert f"benchbox: error: {read_only / 'run'}: Read-only file system." in err and "Traceback" not in err
