"""The embedded default corpus: a synthetic RECOLA-shaped corpus generated on first use.

It lives in ``$BENCHBOX_HOME/corpora/`` (default ``~/.cache/benchbox``) and is reused afterwards. Its
size is a compromise between a meaningful benchmark and a default run that fits in minutes on a laptop:
9 train, 9 dev and 9 test sessions of 60 s each (RECOLA: 27 sessions of 300 s). A suite may ask for
another size (``[corpus] embedded = {train = 6, dev = 3, test = 0, seconds = 30}``, e.g. the CI suite).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from benchbox.cache import benchbox_home

__all__ = ["EMBEDDED_CORPUS", "EMBEDDED_KEYS", "embedded_corpus_root", "ensure_embedded_corpus",
           "resolve_data_root"]

#: Parameters of the embedded corpus (passed to :func:`benchbox.corpus.synth.synthesize`).
EMBEDDED_CORPUS = {"train": 9, "dev": 9, "test": 9, "seconds": 60.0, "seed": 0}
#: The keys a suite's ``[corpus] embedded`` table may set (the rest come from :data:`EMBEDDED_CORPUS`).
EMBEDDED_KEYS = frozenset(EMBEDDED_CORPUS)


def _parameters(embedded: dict | None) -> dict:
    return {**EMBEDDED_CORPUS, **(embedded or {})}


def embedded_corpus_root(embedded: dict | None = None) -> Path:
    """Where the embedded corpus (of a suite's ``embedded`` size, else the default) lives; the name carries
    the generator version and the size, so a newer benchbox never reuses a corpus written by an older
    generator, and two sizes never share a folder."""
    from benchbox.corpus.synth.generate import GENERATOR_VERSION

    p = _parameters(embedded)
    name = (f"synthetic-recola-v{GENERATOR_VERSION}-{p['train']}-{p['dev']}-{p['test']}x{int(p['seconds'])}s"
            f"-seed{p['seed']}")
    return benchbox_home() / "corpora" / name


def ensure_embedded_corpus(progress: bool = True, embedded: dict | None = None) -> Path:
    """Generate the embedded corpus unless a complete one exists; safe against concurrent callers."""
    from benchbox.corpus.avec2016 import SYNTHETIC_MARKER

    parameters = _parameters(embedded)
    root = embedded_corpus_root(embedded)
    if (root / SYNTHETIC_MARKER).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / SYNTHETIC_MARKER).exists():
            from tqdm.auto import tqdm

            from benchbox.corpus.synth import synthesize

            total = parameters["train"] + parameters["dev"] + parameters["test"]
            with tqdm(total=total, desc="generating embedded corpus", unit="session", disable=not progress) as bar:
                synthesize(root, **parameters, progress=lambda _sid: bar.update(1))
    return root


def resolve_data_root(data_root: str | os.PathLike | None, embedded: dict | None = None) -> tuple[Path, str]:
    """Data root from ``--data-root``, else ``$BENCHBOX_RECOLA``, else the embedded corpus (of the size
    ``embedded``, a suite's ``[corpus] embedded``, where given).

    Returns the root and a sentence saying where it came from (printed as a notice).
    """
    if data_root:
        return Path(data_root).expanduser(), f"Data: {data_root} (--data-root)."
    env = os.environ.get("BENCHBOX_RECOLA")
    if env:
        return Path(env).expanduser(), f"Data: {env} ($BENCHBOX_RECOLA)."
    root = embedded_corpus_root(embedded)
    return root, (
        f"Data: no --data-root and no $BENCHBOX_RECOLA, so benchbox uses its embedded SYNTHETIC "
        f"RECOLA-shaped corpus at {root}. Scores on it are not RECOLA results."
    )
