"""Audio baselines of the AVEC recipe: eGeMAPS functionals over sliding windows + a frame regressor.

``egemaps-svr`` (linear SVR, as AVEC), ``egemaps-xgb`` (gradient-boosted trees) and ``egemaps-ridge``.
Per target, the eGeMAPS window length (centred on each 40 ms label frame) and the regressor's
hyper-parameters are chosen together on the select partition by global CCC; the regressor is fitted on
the train partition only (:func:`baselines.regressors.grid_search_on_select`). Annotation delay and
post-processing are not the model's business: the harness fits a fresh model per delay candidate and
fits the post-processing afterwards.

Features go through ``ctx.cache`` (content-addressed), so the six fits of a unit -- one per delay
candidate -- and later runs extract each (file, window) once. Importing this module is cheap:
openSMILE, scikit-learn and xgboost are imported when a model is fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from baselines.windowed import WindowedRegressorModel
from benchbox.corpus.session import Session
from benchbox.plugin import ModelContext

__all__ = ["EgemapsRegressorModel", "EgemapsSVR", "EgemapsXGB", "EgemapsRidge", "DEFAULT_WINDOWS_S",
           "fill_egemaps_cache"]

#: Candidate eGeMAPS window lengths (seconds, centred on the label frame), chosen on select per target.
DEFAULT_WINDOWS_S = (2.0, 4.0, 6.0)


class EgemapsRegressorModel(WindowedRegressorModel):
    """eGeMAPS window functionals + one regressor per target; window and hyper-parameters chosen on select."""

    modalities = frozenset({"audio"})
    num_features = 88

    def __init__(self, *, windows_s: Sequence[float] = DEFAULT_WINDOWS_S, **kwargs: Any) -> None:
        super().__init__(windows_s=windows_s, **kwargs)

    def _session_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        from baselines.features.egemaps import cached_egemaps_window_features
        from benchbox.corpus.media import warn_if_silent

        if session.audio_path is None:
            from benchbox.errors import MediaError

            raise MediaError(f"Model {self.name!r}: session {session.id!r} has no audio file.")
        warn_if_silent(session.audio_path)  # the features may come from the cache: check the file itself
        return cached_egemaps_window_features(ctx.cache, session.audio_path, num_frames=session.num_frames,
                                              window_s=window_s, frame_step_s=session.frame_step_s)


    def feature_requests(self, device: str):
        """Every candidate window's features of each session, extracted by the harness per session before
        the unit starts (:mod:`benchbox.features`)."""
        from benchbox.features import FeatureRequest

        return [FeatureRequest("baselines.audio:fill_egemaps_cache", "audio", {"windows_s": list(self._windows())},
                               label="eGeMAPS")]


def fill_egemaps_cache(session: Session, cache, *, windows_s: Sequence[float]) -> None:
    """The eGeMAPS window features of ``session`` for each of ``windows_s`` into ``cache`` (the feature job
    of the eGeMAPS models)."""
    from baselines.features.egemaps import cached_egemaps_window_features

    for window_s in windows_s:
        cached_egemaps_window_features(cache, session.audio_path, num_frames=session.num_frames,
                                       window_s=float(window_s), frame_step_s=session.frame_step_s)


class EgemapsSVR(EgemapsRegressorModel):
    """eGeMAPS window functionals + linear SVR per target (the AVEC audio baseline)."""

    name = "egemaps-svr"
    description = "AVEC audio baseline: eGeMAPS window functionals + linear SVR; window, C chosen on select."
    regressor_kind = "svr"


class EgemapsXGB(EgemapsRegressorModel):
    """eGeMAPS window functionals + gradient-boosted trees (xgboost) per target."""

    name = "egemaps-xgb"
    description = "eGeMAPS window functionals + XGBoost trees; window, depth, learning rate chosen on select."
    regressor_kind = "xgb"


class EgemapsRidge(EgemapsRegressorModel):
    """eGeMAPS window functionals + ridge regression per target."""

    name = "egemaps-ridge"
    description = "eGeMAPS window functionals + ridge regression; window and alpha chosen on select."
    regressor_kind = "ridge"
