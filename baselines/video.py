"""Video baselines: appearance features of the face crops + a frame regressor.

``appearance-svr`` (linear SVR, as AVEC's video baseline) and ``appearance-xgb``. Face crops come from
:func:`benchbox.faces.cached_face_crops` (the same crops the end-to-end model reads). Two appearance
descriptors are pooled over a temporal window centred on each label frame: LBP histograms on the three
orthogonal planes (:func:`baselines.features.appearance_window_features`, AVEC's LBP-TOP family: texture
and its motion) and histograms of oriented gradients (:func:`baselines.features.hog_window_features`:
where the edges of mouth, brows and eyelids run). They are concatenated, reduced with a PCA fitted on
the train partition, and regressed per target. The temporal window and the regressor's hyper-parameters are
chosen on the select partition. Heavy imports happen inside the methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from baselines.windowed import WindowedRegressorModel, standardise_session
from benchbox.corpus.session import LabelledSession, Session
from benchbox.plugin import ModelContext

__all__ = ["AppearanceRegressorModel", "AppearanceSVR", "AppearanceXGB", "DEFAULT_VIDEO_WINDOWS_S", "VIDEO_DESCRIPTORS",
           "appearance_descriptors", "fill_appearance_cache"]

#: Candidate temporal windows (seconds, centred on the label frame), chosen on select per target.
DEFAULT_VIDEO_WINDOWS_S = (1.0, 2.0)
#: Appearance descriptors, concatenated in this order.
VIDEO_DESCRIPTORS = ("lbp-top", "hog")
_VIDEO_FPS = 25.0


class AppearanceRegressorModel(WindowedRegressorModel):
    """Appearance features (LBP-TOP + HOG) of face crops, PCA fitted on train, one regressor per target.

    Args:
        windows_s: candidate temporal windows in seconds.
        descriptors: which of :data:`VIDEO_DESCRIPTORS` to concatenate (default both).
        n_components: PCA components kept (fitted on the train partition's frames).
        grid, frame_subsample, n_jobs, clip_sd: as :class:`baselines.windowed.WindowedRegressorModel`.
    """

    modalities = frozenset({"video"})

    def __init__(
        self,
        *,
        windows_s: Sequence[float] = DEFAULT_VIDEO_WINDOWS_S,
        descriptors: Sequence[str] = VIDEO_DESCRIPTORS,
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
        self.descriptors = tuple(descriptors)

    def validate_options(self) -> None:
        """Check the options (the harness calls this when it creates the model, before a run starts)."""
        unknown = [d for d in self.descriptors if d not in VIDEO_DESCRIPTORS]
        if unknown or not self.descriptors:
            raise ValueError(f"The 'descriptors' parameter of {type(self).__name__} must be a non-empty subset of "
                             f"{list(VIDEO_DESCRIPTORS)}. Got {list(self.descriptors)!r} instead.")

    @property
    def num_features(self) -> int:  # type: ignore[override]
        return int(next(iter(self.pca_.values())).n_components_) if getattr(self, "pca_", None) else 0

    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        from baselines.features.appearance import AppearancePCA

        self.pca_ = {}
        for window_s in self._windows():
            rows = np.concatenate([self._descriptors(s, window_s, ctx)[:: self.frame_subsample] for s in train])
            self.pca_[window_s] = AppearancePCA(n_components=self.n_components, random_state=ctx.seed).fit(rows)
        super().fit(train, select, ctx)

    def profile_info(self) -> dict[str, Any]:
        info = super().profile_info()
        described = {"lbp-top": "LBP-TOP (59 uniform bins x 3 planes x 4x4 blocks)",
                     "hog": "HOG (9 bins, 16 px cells, 2x2-cell blocks)"}
        info["features"] = (" + ".join(described[d] for d in self.descriptors)
                            + " of 96x96 face crops, window-averaged, PCA on train")
        return info

    def _raw_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        """The descriptors of one session, concatenated; each is cached by content on its own."""
        from benchbox.errors import MediaError

        if session.video_path is None:
            raise MediaError(f"Model {self.name!r}: session {session.id!r} has no video file.")
        return appearance_descriptors(session, ctx.cache, window_s=window_s, descriptors=self.descriptors)

    def feature_requests(self, device: str):
        """Every candidate window's descriptors of each session (face tracking and crops first), extracted by
        the harness per session before the unit starts (:mod:`benchbox.features`)."""
        from benchbox.features import FeatureRequest

        return [FeatureRequest("baselines.video:fill_appearance_cache", "video",
                               {"windows_s": list(self._windows()), "descriptors": list(self.descriptors)},
                               label="appearance")]

    def _descriptors(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        """The PCA's input: the raw descriptors, standardised with the session's own statistics when
        ``session_normalisation`` is on. Standardising before the PCA (not only after it) matters: a PCA of
        raw descriptors spends its leading components on what tells the training faces apart, and once each
        session is standardised those components carry little more than amplified noise."""
        raw = np.asarray(self._raw_features(session, window_s, ctx), dtype=np.float64)
        return standardise_session(raw) if self.session_normalisation else raw

    def _session_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        return self.pca_[window_s].transform(self._descriptors(session, window_s, ctx))


class AppearanceSVR(AppearanceRegressorModel):
    """Appearance features (LBP-TOP + HOG) + linear SVR per target (the AVEC video baseline's regressor)."""

    name = "appearance-svr"
    description = ("AVEC-style video baseline: LBP-TOP + HOG of face crops, PCA, linear SVR; window and C chosen "
                   "on select.")
    regressor_kind = "svr"


class AppearanceXGB(AppearanceRegressorModel):
    """Appearance features (LBP-TOP + HOG) + gradient-boosted trees (xgboost) per target."""

    name = "appearance-xgb"
    description = ("LBP-TOP + HOG of face crops, per-session standardised, PCA, XGBoost trees; window, depth, "
                   "learning rate chosen on select.")
    regressor_kind = "xgb"

    def __init__(self, *, n_components: int = 20, session_normalisation: bool = True, **kwargs: Any) -> None:
        """Defaults differ from the linear SVR's on purpose: trees split on whatever separates the few
        training subjects (face shape, skin, lighting) and do not carry over to new faces. Standardising
        each session's descriptors before the PCA (the person-specific normalisation of OpenFace's
        action-unit models) and keeping 20 components leaves them the within-subject changes of
        expression. On the embedded corpus: dev valence CCC -0.23 without it, 0.11 with the standardisation
        after the PCA only, 0.22 with it before the PCA (select 0.39); 20 components had the best select
        CCC of 20 / 40 / 60."""
        super().__init__(n_components=n_components, session_normalisation=session_normalisation, **kwargs)


def appearance_descriptors(session: Session, cache, *, window_s: float, descriptors: Sequence[str]) -> np.ndarray:
    """The appearance ``descriptors`` of one session pooled over ``window_s``, concatenated in order (each
    cached by content on its own; the face crops come from :func:`benchbox.faces.cached_face_crops`)."""
    from baselines.features import appearance
    from benchbox.corpus.media import video_info
    from benchbox.faces import FACE_TRACK_VERSION, cached_face_crops, crops_for_label_frames

    window_frames = max(1, int(round(window_s * _VIDEO_FPS)))
    common = {"window_frames": window_frames, "num_frames": session.num_frames,
              "crops": {"size": 96, "version": FACE_TRACK_VERSION}}
    extractors = {
        "lbp-top": (appearance.APPEARANCE_EXTRACTOR, appearance.APPEARANCE_EXTRACTOR_VERSION,
                    {"grid": [4, 4], "gabor": False}, appearance.appearance_window_features),
        "hog": (appearance.HOG_EXTRACTOR, appearance.HOG_EXTRACTOR_VERSION, {"cell_px": 16},
                appearance.hog_window_features),
    }

    def label_frame_crops() -> np.ndarray:
        crops, _ = cached_face_crops(cache, session.video_path)
        fps = video_info(session.video_path).fps
        if abs(fps - _VIDEO_FPS) > 0.01:  # put one crop on each 40 ms label frame first
            crops = crops[crops_for_label_frames(crops, session.num_frames, fps=fps)]
        return crops

    parts = []
    for descriptor in descriptors:
        extractor, version, params, function = extractors[descriptor]
        kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in params.items()}
        parts.append(np.asarray(cache.array(
            extractor, version, common | params, [session.video_path],
            lambda function=function, kwargs=kwargs: function(
                label_frame_crops(), num_frames=session.num_frames, window_frames=window_frames, **kwargs))))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def fill_appearance_cache(session: Session, cache, *, windows_s: Sequence[float], descriptors: Sequence[str]) -> None:
    """The appearance descriptors of ``session`` for each of ``windows_s`` into ``cache`` (the feature job of
    the appearance models)."""
    for window_s in windows_s:
        appearance_descriptors(session, cache, window_s=float(window_s), descriptors=descriptors)
