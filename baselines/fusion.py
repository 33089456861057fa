"""Late fusion: a linear regression, per target, on other models' predictions for the select partition.

As in the AVEC baselines, the unimodal systems' (delay-compensated, post-processed) predictions on the
selection partition are the features of a linear regression onto the selection labels; the fitted
weights then combine their test predictions. Least squares shrinks its output towards the mean (its SD
is ``r`` times the labels'), which costs CCC; the fused signal is therefore stretched about its mean to
the selection labels' SD. For a linear map that is the CCC-optimal scale (CCC = Pearson ``r`` then),
so on the selection partition the fusion is never below its best input:
``CCC(fusion) = r(fusion) >= r(best input) >= CCC(best input)``. The combined models are declared in
``requires``, so the harness runs them first and hands their predictions over in ``ctx.upstream``. Any plugin can be
combined, a user's included: make a fusion of your own with :func:`late_fusion_plugin` and register it
as an entry point.

Example (a user's ``my_package/fusion.py``, entry point ``my-fusion = "my_package.fusion:MyFusion"``)::

    from baselines.fusion import late_fusion_plugin
    MyFusion = late_fusion_plugin("my-fusion", ["my-audio-model", "appearance-svr"])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchbox.corpus.session import LabelledSession, Session
from benchbox.errors import BenchboxError
from benchbox.plugin import ModelContext

__all__ = ["LateFusion", "late_fusion_plugin", "AvecLateFusion", "fusion_coefficients"]


def fusion_coefficients(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Late-fusion weights of the prediction columns ``(frames, models)`` for ``labels`` ``(frames,)``, with the
    intercept last: least squares, then the fused signal stretched about its mean to the labels' SD (the
    CCC-optimal scale of a linear map; see the module docstring).

    Example:
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
        >>> np.round(fusion_coefficients(x, 2 * x[:, 0] + 1), 6) + 0.0
        array([2., 0., 1.])
    """
    x = np.column_stack([predictions, np.ones(len(predictions))])
    coefficients, *_ = np.linalg.lstsq(x, labels, rcond=None)
    fused = x @ coefficients
    if fused.std() > 0:  # stretch to the labels' SD about the (shared) mean: CCC-optimal scale
        scale = labels.std() / fused.std()
        coefficients = np.append(scale * coefficients[:-1], labels.mean() - scale * (fused.mean() - coefficients[-1]))
    return coefficients


class LateFusion:
    """Linear late fusion of other models' predictions, fitted on the select partition."""

    name = "late-fusion"
    modalities = frozenset()
    family = "fusion"
    requires: tuple[str, ...] = ()
    combines_predictions = True

    def __init__(self) -> None:
        self.weights_: np.ndarray | None = None  # (targets, len(requires) + 1), intercept last

    def _design(self, ctx: ModelContext, session_id: str, target: int) -> np.ndarray:
        columns = []
        for model in self.requires:
            predictions = ctx.upstream.get(model, {})
            if session_id not in predictions:
                raise BenchboxError(f"{self.name}: no prediction of {model!r} for session {session_id}.")
            columns.append(predictions[session_id][:, target])
        return np.column_stack([*columns, np.ones_like(columns[0])])

    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        if not self.requires:
            raise BenchboxError(f"{self.name}: 'requires' names no model to combine.")
        weights = []
        for target in range(len(ctx.targets)):
            x = np.concatenate([self._design(ctx, s.id, target) for s in select])
            y = np.concatenate([s.labels[:, target] for s in select])
            weights.append(fusion_coefficients(x[:, :-1], y))
        self.weights_ = np.asarray(weights)

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        if self.weights_ is None:
            raise RuntimeError(f"{self.name}: predict called before fit.")
        return {
            s.id: np.column_stack([self._design(ctx, s.id, k) @ self.weights_[k] for k in range(len(ctx.targets))])
            for s in sessions
        }

    def profile_info(self) -> dict:
        weights = {} if self.weights_ is None else {
            f"target_{k}": dict(zip([*self.requires, "intercept"], map(float, row), strict=True))
            for k, row in enumerate(self.weights_)
        }
        return {"combines": list(self.requires), "weights": weights}


def late_fusion_plugin(name: str, combines: Sequence[str], description: str | None = None) -> type[LateFusion]:
    """A :class:`LateFusion` subclass named ``name`` that combines the models in ``combines``."""
    if len(combines) < 1:
        raise BenchboxError(f"The 'combines' parameter of late_fusion_plugin must name models. Got {combines!r}.")
    text = description or f"Linear late fusion of {', '.join(combines)}, fitted on the select partition."
    return type(f"LateFusion_{name.replace('-', '_')}", (LateFusion,),
                {"name": name, "requires": tuple(combines), "description": text, "__doc__": text})


#: The built-in fusion of the AVEC-style audio and video baselines.
AvecLateFusion = late_fusion_plugin(
    "late-fusion", ["egemaps-svr", "appearance-svr"],
    "AVEC-style late fusion: linear regression on egemaps-svr and appearance-svr predictions (fitted on select).",
)
