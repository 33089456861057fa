"""The chance reference: predict the mean of the training labels for every frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchbox.corpus.session import LabelledSession, Session
from benchbox.plugin import ModelContext

__all__ = ["MeanModel"]


class MeanModel:
    """Predicts the training-set mean of each target (the chance reference)."""

    name = "mean"
    modalities = frozenset()
    family = "reference"
    description = "Predicts the training-set mean of each target for every frame (chance reference)."

    def __init__(self) -> None:
        self.means_: np.ndarray | None = None

    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        self.means_ = np.concatenate([s.labels for s in train], axis=0).mean(axis=0)

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        if self.means_ is None:
            raise RuntimeError("MeanModel.predict called before fit.")
        return {s.id: np.tile(self.means_, (s.num_frames, 1)) for s in sessions}
