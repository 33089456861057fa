import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from foreign_corpus import write_foreign_corpus  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own BENCHBOX_HOME unless it sets one; no test touches ~/.cache."""
    if "BENCHBOX_HOME_SHARED" in os.environ:
        monkeypatch.setenv("BENCHBOX_HOME", os.environ["BENCHBOX_HOME_SHARED"])
    else:
        monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path_factory.getbasetemp() / "benchbox-home"))
    monkeypatch.delenv("BENCHBOX_RECOLA", raising=False)


@pytest.fixture(scope="session")
def foreign_corpus(tmp_path_factory) -> Path:
    """A small AVEC 2016-layout corpus written like another tool would (read-only: copy to modify)."""
    return write_foreign_corpus(tmp_path_factory.mktemp("foreign") / "corpus")
