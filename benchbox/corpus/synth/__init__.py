"""Deterministic synthetic corpus with RECOLA's shape (AVEC 2016 package layout, rates and formats).

Emotion traces are smooth random processes rated by six simulated annotators with individual lags,
biases and noise; the gold standard follows AVEC 2016. The audio is speech-like source-filter synthesis
whose prosody follows the expressed arousal (and weakly valence); the video is a rendered face whose
expression and head motion follow valence and arousal. See DESIGN.md, "Synthetic RECOLA-shaped corpus".

Example:
    >>> import tempfile
    >>> from benchbox.corpus.synth import synthesize
    >>> root = synthesize(tempfile.mkdtemp(), train=1, dev=0, test=0, seconds=0.4, workers=1)
    >>> sorted(p.name for p in (root / "recordings_audio").iterdir())
    ['train_1.wav']
"""

from benchbox.corpus.synth.generate import FRAME_SIZE, GENERATOR_NAME, GENERATOR_VERSION, synthesize
from benchbox.corpus.synth.raters import RATER_NAMES, avec2016_gold_standard

__all__ = [
    "synthesize",
    "avec2016_gold_standard",
    "GENERATOR_NAME",
    "GENERATOR_VERSION",
    "FRAME_SIZE",
    "RATER_NAMES",
]
