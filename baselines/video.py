"""Video baselines: LBP-TOP appearance features of the face crops + a frame regressor.

``appearance-svr`` (linear SVR, as AVEC's video baseline) and ``appearance-xgb``. Face crops come from
:func:`benchbox.faces.cached_face_crops` (the same crops the end-to-end model reads); LBP histograms on
the three orthogonal planes are pooled over a temporal window centred on each label frame
(:func:`baselines.features.appearance_window_features`), reduced with a PCA fitted on the train
partition, and regressed per target. The temporal window and the regressor's hyper-parameters are
chosen on the select partition. Heavy imports happen inside the methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from baselines.windowed import WindowedRegressorModel
from benchbox.corpus.session import LabelledSession, Session
from benchbox.plugin import ModelContext

__all__ = ["AppearanceRegressorModel", "AppearanceSVR", "AppearanceXGB", "DEFAULT_VIDEO_WINDOWS_S"]

#: Candidate temporal windows (seconds, centred on the label frame), chosen on select per target.
DEFAULT_VIDEO_WINDOWS_S = (1.0, 2.0)
_VIDEO_FPS = 25.0


class AppearanceRegressorModel(WindowedRegressorModel):
    """LBP-TOP appearance features of face crops, PCA fitted on train, one regressor per target.

    Args:
        windows_s: candidate temporal windows in seconds.
        n_components: PCA components kept (fitted on the train partition's frames).
        grid, frame_subsample, n_jobs, clip_sd: as :class:`baselines.windowed.WindowedRegressorModel`.
    """

    modalities = frozenset({"video"})

    def __init__(
        self,
        *,
        windows_s: Sequence[float] = DEFAULT_VIDEO_WINDOWS_S,
        n_components: int = 100,
        grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]] | None = None,
        frame_subsample: int = 5,
        n_jobs: int = 1,
        clip_sd: float | None = 5.0,
        session_normalisation: bool = False,
    ) -> None:
        super().__init__(windows_s=windows_s, grid=grid, frame_subsample=frame_subsample, n_jobs=n_jobs,
                         clip_sd=clip_sd, session_normalisation=session_normalisation)
        self.n_components = n_components

    @property
    def num_features(self) -> int:  # type: ignore[override]
        return int(next(iter(self.pca_.values())).n_components_) if getattr(self, "pca_", None) else 0

    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        from baselines.features.appearance import AppearancePCA

        self.pca_ = {}
        for window_s in self._windows():
            rows = np.concatenate([self._raw_features(s, window_s, ctx)[:: self.frame_subsample] for s in train])
            self.pca_[window_s] = AppearancePCA(n_components=self.n_components, random_state=ctx.seed).fit(rows)
        super().fit(train, select, ctx)

    def profile_info(self) -> dict[str, Any]:
        info = super().profile_info()
        info["features"] = "LBP-TOP (59 uniform bins x 3 planes x 4x4 blocks) of 96x96 face crops, PCA on train"
        return info

    def _raw_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        from baselines.features.appearance import (
            APPEARANCE_EXTRACTOR,
            APPEARANCE_EXTRACTOR_VERSION,
            appearance_window_features,
        )
        from benchbox.corpus.media import video_info
        from benchbox.errors import MediaError
        from benchbox.faces import FACE_TRACK_VERSION, cached_face_crops, crops_for_label_frames

        if session.video_path is None:
            raise MediaError(f"Model {self.name!r}: session {session.id!r} has no video file.")
        window_frames = max(1, int(round(window_s * _VIDEO_FPS)))
        params = {"window_frames": window_frames, "grid": [4, 4], "gabor": False, "num_frames": session.num_frames,
                  "crops": {"size": 96, "version": FACE_TRACK_VERSION}}

        def compute() -> np.ndarray:
            crops, _ = cached_face_crops(ctx.cache, session.video_path)
            fps = video_info(session.video_path).fps
            if abs(fps - _VIDEO_FPS) > 0.01:  # put one crop on each 40 ms label frame first
                crops = crops[crops_for_label_frames(crops, session.num_frames, fps=fps)]
            return appearance_window_features(crops, num_frames=session.num_frames, window_frames=window_frames)

        return ctx.cache.array(APPEARANCE_EXTRACTOR, APPEARANCE_EXTRACTOR_VERSION, params, [session.video_path],
                               compute)

    def _session_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        return self.pca_[window_s].transform(np.asarray(self._raw_features(session, window_s, ctx)))


class AppearanceSVR(AppearanceRegressorModel):
    """LBP-TOP appearance features + linear SVR per target (the AVEC video baseline)."""

    name = "appearance-svr"
    description = "AVEC video baseline: LBP-TOP of face crops, PCA, linear SVR; window and C chosen on select."
    regressor_kind = "svr"


class AppearanceXGB(AppearanceRegressorModel):
    """LBP-TOP appearance features + gradient-boosted trees (xgboost) per target."""

    name = "appearance-xgb"
    description = "LBP-TOP of face crops, PCA, XGBoost trees; window, depth, learning rate chosen on select."
    regressor_kind = "xgb"
