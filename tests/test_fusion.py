"""Late fusion: on the select partition it is never below its best input (CCC), and it uses the weights
fitted there on other sessions."""

from __future__ import annotations

import logging

import numpy as np

from baselines.fusion import late_fusion_plugin
from benchbox.cache import Cache
from benchbox.corpus.session import LabelledSession
from benchbox.metrics import ccc_score
from benchbox.plugin import ModelContext


def _sessions(ids, labels):
    return [LabelledSession(id=sid, split="train", audio_path=None, video_path=None, num_frames=len(y),
                            labels=y[:, None], targets=("arousal",)) for sid, y in zip(ids, labels, strict=True)]


def test_fusion_is_at_least_as_good_as_its_best_input_on_select(tmp_path):
    rng = np.random.default_rng(0)
    ids = ["s1", "s2", "s3"]
    labels = [0.3 * np.sin(np.linspace(0, 6 + k, 500)) + 0.1 * k for k in range(3)]
    # a noisy but informative input (least squares would shrink it and lose CCC) and an uninformative one
    gold = np.concatenate(labels)
    raw = gold + rng.normal(0, 0.3, gold.size)
    matched = gold.mean() + (raw - raw.mean()) * gold.std() / raw.std()  # right mean and SD: its CCC is its r
    noisy = {sid: part[:, None] for sid, part in zip(ids, np.split(matched, 3), strict=True)}
    useless = {sid: rng.normal(0, 0.2, (y.size, 1)) for sid, y in zip(ids, labels, strict=True)}
    fusion = late_fusion_plugin("fusion-under-test", ["noisy", "useless"])()
    ctx = ModelContext(targets=("arousal",), seed=0, device="cpu", cache=Cache(tmp_path / "cache"),
                       scratch_dir=tmp_path, logger=logging.getLogger("test"),
                       upstream={"noisy": noisy, "useless": useless})
    select = _sessions(ids, labels)
    fusion.fit([], select, ctx)
    fused = fusion.predict(select, ctx)
    best_input = max(ccc_score(gold, np.concatenate([p[s][:, 0] for s in ids])) for p in (noisy, useless))
    fused_ccc = ccc_score(gold, np.concatenate([fused[s][:, 0] for s in ids]))
    assert fused_ccc >= best_input - 1e-12
    # plain least squares would have lost against its input here: the rescaling is what makes the difference
    x = np.column_stack([np.concatenate([noisy[s][:, 0] for s in ids]), np.ones(gold.size)])
    least_squares = x @ np.linalg.lstsq(x, gold, rcond=None)[0]
    assert ccc_score(gold, least_squares) < best_input < fused_ccc
    assert np.isclose(np.concatenate([fused[s][:, 0] for s in ids]).std(), gold.std())
