"""Leaderboards across runs: comparable tables, superseded rows, ranks, published rows, and the site in Chromium."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import render_in_browser
from record_helpers import write_scored_run

from benchbox.cli import main
from benchbox.leaderboard import build_board, builtin_published, load_published, write_leaderboard
from benchbox.leaderboard.published import PublishedRowsError

FORMAT_1 = Path(__file__).parent / "data" / "run-format-1"


def _data(num_sessions=10, frames=80, seed=0):
    rng = np.random.default_rng(seed)
    gold = {f"dev_{k + 1}": np.cumsum(rng.normal(size=(frames, 2)), axis=0) * 0.05 + rng.normal(size=2) * 0.2
            for k in range(num_sessions)}

    def system(noise, gain=0.9):
        return {s: gain * g + rng.normal(scale=noise, size=g.shape) for s, g in gold.items()}

    return gold, system


@pytest.fixture
def board_runs(tmp_path):
    gold, system = _data()
    root = tmp_path / "runs"
    write_scored_run(root / "old", gold=gold, predictions={"good": {0: system(0.05)}, "mean": {0: system(9, 0)}},
                     families={"good": "handcrafted", "mean": "reference"}, updated_at="2026-01-01T00:00:00+00:00")
    write_scored_run(root / "new", gold=gold, predictions={"mean": {s: {k: np.zeros_like(v) for k, v in gold.items()}
                                                                     for s in (0, 1, 2)},
                                                            "near": {0: system(0.05)}, "meh": {0: system(0.6, 0.5)}},
                     families={"mean": "reference", "near": "end-to-end", "meh": "end-to-end"},
                     updated_at="2026-02-01T00:00:00+00:00")
    other_gold, other_system = _data(seed=3)
    write_scored_run(root / "elsewhere", gold=other_gold, predictions={"good": {0: other_system(0.1)}},
                     corpus_fingerprint="e" * 64, synthetic=False, families={"good": "handcrafted"})
    broken = root / "broken"
    broken.mkdir()
    (broken / "run.json").write_text('{"benchbox_run_format": 2, "suite": ')
    return root


def test_comparable_runs_share_a_table_and_the_newest_row_supersedes(board_runs):
    board = build_board([board_runs], published=builtin_published())
    assert len(board.tables) == 2
    synthetic = next(t for t in board.tables if t.synthetic)
    rows = {r.model: r for r in synthetic.rows}
    assert set(rows) == {"good", "mean", "near", "meh"}
    assert rows["mean"].run_dir.name == "new" and rows["mean"].seeds == 3  # newest run; three seeds
    assert [p.name for p, _ in rows["mean"].superseded] == ["old"]
    assert not rows["good"].superseded and rows["good"].run_dir.name == "old"
    assert {r.model for r in synthetic.rows[:2]} == {"good", "near"}  # by mean global CCC
    # ranks: good and near are indistinguishable, meh and mean clearly worse (10 sessions, one-sided, Holm)
    assert rows["good"].rank == rows["near"].rank == "1="
    assert rows["meh"].rank == "3" and rows["mean"].rank == "4"
    second = rows["near"] if synthetic.rows[0].model == "good" else rows["good"]
    assert second.p_adjusted > 0.05 and rows["meh"].p_adjusted <= 0.05
    assert [path.name for path, _ in board.not_loaded] == ["broken"]
    assert "not valid JSON" in board.not_loaded[0][1]
    # published rows: not in a synthetic table, but listed apart; a real-corpus table of the dev partition
    # gets the published dev rows
    assert not synthetic.published and board.published_elsewhere
    real = next(t for t in board.tables if not t.synthetic)
    assert {p.partition for p in real.published} == {"dev"} and real.published


def test_an_older_run_folder_appears_on_the_board(tmp_path):
    shutil.copytree(FORMAT_1, tmp_path / "runs" / "old-format")
    board = build_board([tmp_path / "runs"])
    assert [r.model for r in board.tables[0].rows] == ["mean", "egemaps-ridge"]
    assert board.tables[0].key.suite_major == "1" and not board.not_loaded


def test_the_site_sorts_filters_links_and_lists_unreadable_runs(board_runs, tmp_path):
    site = board_runs  # the runs root, as benchbox run writes it
    assert main(["leaderboard", str(board_runs), "--out", str(site)]) == 0
    records = json.loads((site / "leaderboard.json").read_text())["rows"]
    assert {r["model"] for r in records if r["kind"] == "run"} == {"good", "mean", "near", "meh"}
    assert (site / "leaderboard.csv").read_text().startswith("table,suite,")
    page = site / "index.html"
    synthetic = next(t for t in build_board([board_runs]).tables if t.synthetic)
    table = f"board-{synthetic.key.slug}"
    dom = render_in_browser(page, tmp_path)
    assert 'id="not-loaded-list"' in dom and "broken" in dom
    assert 'id="published-elsewhere"' in dom and "reported, not re-run" in dom
    for href in [part.split('"')[0] for part in dom.split('class="report" href="')[1:]]:
        assert (site / href).resolve().is_file(), href
    # clicking the header of the first target's RMSE (column 7) sorts the rows, lowest first
    default = _models_in_order(dom, table)
    by_rmse = _models_in_order(render_in_browser(page, tmp_path, f"sort={table}:7:asc"), table)
    assert set(default[:2]) == {"good", "near"} and by_rmse != default
    rmse = {r["model"]: r["arousal/rmse/global"] for r in records
            if r["kind"] == "run" and r["table"] == synthetic.key.slug}
    assert by_rmse == sorted(rmse, key=rmse.get)
    by_rmse_desc = _models_in_order(render_in_browser(page, tmp_path, f"sort={table}:7:desc"), table)
    assert by_rmse_desc == list(reversed(by_rmse))
    # a filter hides the rows it should
    filtered = render_in_browser(page, tmp_path, "family=end-to-end")
    visible = [m for m, hidden in _rows(filtered, table) if not hidden]
    assert visible == ["near", "meh"]


def _rows(dom: str, table_id: str) -> list[tuple[str, bool]]:
    body = dom[dom.index(f'id="{table_id}"'):]
    body = body[body.index("<tbody>"): body.index("</tbody>")]
    rows = []
    for chunk in body.split("<tr")[1:]:
        hidden = 'class="run hidden"' in chunk.split(">")[0] or "hidden" in chunk.split(">")[0]
        name = chunk.split('class="name" data-sort="')[1].split('"')[0]
        rows.append((name, hidden))
    return rows


def _models_in_order(dom: str, table_id: str) -> list[str]:
    return [name for name, _ in _rows(dom, table_id)]


def test_text_from_plugins_is_shown_as_text(tmp_path):
    gold, system = _data(num_sessions=3)
    evil = '"><img src=x onerror="document.title=1">'
    write_scored_run(tmp_path / "runs" / "r", gold=gold,
                     predictions={evil: {0: system(0.1)}, "mean": {0: system(9, 0)}},
                     descriptions={evil: "<script>document.title='pwned'</script>"},
                     options={evil: {"note": "<script>document.title='pwned'</script>"}})
    page = write_leaderboard([tmp_path / "runs"], tmp_path / "site")
    dom = render_in_browser(page, tmp_path)
    assert "<title>benchbox leaderboard</title>" in dom
    assert '<img src="x"' not in dom and "<img src=x" not in dom
    assert "&lt;img src=x" in dom or "&quot;&gt;&lt;img" in dom


def test_every_published_entry_has_its_fields(tmp_path):
    (sets,) = builtin_published()
    assert sets.suite == "avec2016" and len(sets.rows) == 8
    for row in sets.rows:
        assert row.title and row.authors and row.year >= 2016 and row.venue and row.where
        assert row.partition in ("dev", "test", "unknown") and set(row.values) == {"arousal", "valence"}
        assert row.link.startswith("https://") or not row.verified or "Povolný" in row.system
    tzirakis = next(r for r in sets.rows if r.system.startswith("Tzirakis"))
    assert not tzirakis.verified and tzirakis.values == {"arousal": 0.714, "valence": 0.612}
    brady = next(r for r in sets.rows if r.system.startswith("Brady"))
    assert brady.link == "https://doi.org/10.1145/2988257.2988264" and brady.verified
    mine = tmp_path / "extra.toml"
    mine.write_text('suite = "avec2016"\n[[rows]]\nsystem = "My lab 2026"\ntitle = "t"\nauthors = "Me"\nyear = 2026\n'
                    'venue = "v"\nurl = "https://example.org/paper"\nwhere = "Table 2"\npartition = "dev"\n'
                    'values = { arousal = 0.5, valence = 0.4 }\nccc_form = "global"\nmodalities = ["audio"]\n'
                    'protocol_match = true\nverified = true\n')
    gold, system = _data(num_sessions=3)
    write_scored_run(tmp_path / "runs" / "r", gold=gold, predictions={"mean": {0: system(9, 0)}})
    assert main(["leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "site"), "--references",
                 str(mine)]) == 0
    records = json.loads((tmp_path / "site" / "leaderboard.json").read_text())["rows"]
    assert any(r["kind"] == "published" and r["model"] == "My lab 2026" for r in records)
    bad = tmp_path / "mine.toml"
    bad.write_text('suite = "avec2016"\n[[rows]]\nsystem = "x"\n')
    with pytest.raises(PublishedRowsError, match=r"mine.toml \[\[rows\]\] #1 \(x\): field 'title' must be"):
        load_published(bad)


def test_benchbox_run_refreshes_the_board_of_its_runs_root(foreign_corpus, tmp_path):
    runs = tmp_path / "runs"
    assert main(["run", "--data-root", str(foreign_corpus), "--models", "mean", "--out", str(runs / "a"),
                 "--no-progress"]) == 0
    assert (runs / "index.html").is_file() and "mean" in (runs / "index.html").read_text()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "index.html").write_text("<html>my own page</html>")
    assert main(["run", "--data-root", str(foreign_corpus), "--models", "mean", "--out", str(other / "a"),
                 "--no-progress"]) == 0
    assert (other / "index.html").read_text() == "<html>my own page</html>"  # not a board: left alone
