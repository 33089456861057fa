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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchbox.corpus.session import LabelledSession, Session
from benchbox.plugin import ModelContext

__all__ = ["EgemapsRegressorModel", "EgemapsSVR", "EgemapsXGB", "EgemapsRidge", "DEFAULT_WINDOWS_S"]

#: Candidate eGeMAPS window lengths (seconds, centred on the label frame), chosen on select per target.
DEFAULT_WINDOWS_S = (2.0, 4.0, 6.0)


class EgemapsRegressorModel:
    """eGeMAPS window functionals + one regressor per target; window and hyper-parameters chosen on select.

    Args:
        windows_s: candidate window lengths in seconds (multiples of 10 ms).
        grid: regressor grid (dict of lists or list of dicts); ``None`` for the kind's default grid.
        frame_subsample: fit on every n-th training frame (consecutive frames are nearly identical).
        n_jobs: threads of the regressor where it has any (xgboost).
        clip_sd: clip standardised features to this many training SDs (``None``: off); see
            :func:`baselines.regressors.make_regressor`.
    """

    name = "egemaps-regressor"
    modalities = frozenset({"audio"})
    family = "handcrafted"
    description = "eGeMAPS window functionals + a frame-level regressor chosen on select."
    #: Subclasses set ``name``, ``description`` and this (one of ``baselines.regressors.REGRESSOR_KINDS``).
    regressor_kind = "ridge"

    def __init__(
        self,
        *,
        windows_s: Sequence[float] = DEFAULT_WINDOWS_S,
        grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]] | None = None,
        frame_subsample: int = 5,
        n_jobs: int = 1,
        clip_sd: float | None = 5.0,
    ) -> None:
        self.windows_s = windows_s
        self.grid = grid
        self.frame_subsample = frame_subsample
        self.n_jobs = n_jobs
        self.clip_sd = clip_sd

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession],
            ctx: ModelContext) -> None:
        from baselines.regressors import grid_search_on_select

        windows_s = self._windows()
        if not train or not select:
            raise ValueError(
                f"Model {self.name!r} needs train and select sessions (selection of the window and "
                f"hyper-parameters). Got {len(train)} train and {len(select)} select sessions."
            )
        fixed: dict[str, Any] = {"clip_sd": self.clip_sd}
        if self.regressor_kind == "xgb":
            fixed["n_jobs"] = self.n_jobs
        train_y = np.concatenate([s.labels for s in train])
        select_y = np.concatenate([s.labels for s in select])
        best: list[tuple[float, Any] | None] = [None] * len(ctx.targets)
        fit_frames = 0
        for window_s in windows_s:
            result = grid_search_on_select(
                self._features(train, window_s, ctx), train_y,
                self._features(select, window_s, ctx), select_y,
                self.regressor_kind, self.grid, frame_subsample=self.frame_subsample, random_state=ctx.seed,
                fixed_params=fixed,
            )
            fit_frames = result.fit_frames
            for k, search in enumerate(result.targets):
                key = -np.inf if np.isnan(search.select_ccc) else search.select_ccc
                if best[k] is None or key > best[k][0]:
                    best[k] = (key, (window_s, search))
            ctx.logger.debug("%s: window %.2f s, select CCC %s", self.name, window_s,
                             [round(t.select_ccc, 4) for t in result.targets])
        self.selected_ = [entry[1] for entry in best]
        self.fit_frames_ = fit_frames
        self.targets_ = tuple(ctx.targets)

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        if not hasattr(self, "selected_"):
            raise RuntimeError(f"{type(self).__name__}.predict called before fit.")
        out = {}
        for session in sessions:
            features = {w: self._session_features(session, w, ctx) for w in {w for w, _ in self.selected_}}
            columns = [search.estimator.predict(features[w]) for w, search in self.selected_]
            out[session.id] = np.stack(columns, axis=1).astype(np.float64)
        return out

    def profile_info(self) -> dict[str, Any]:
        from baselines.features.egemaps import NUM_EGEMAPS_FEATURES

        info: dict[str, Any] = {"regressor": self.regressor_kind, "num_features": NUM_EGEMAPS_FEATURES,
                                "frame_subsample": int(self.frame_subsample), "clip_sd": self.clip_sd,
                                "windows_s_searched": [float(w) for w in self._windows()]}
        if hasattr(self, "selected_"):
            info["fit_frames"] = int(self.fit_frames_)
            info["targets"] = {
                target: {"window_s": float(window_s),
                         "params": {k: _plain(v) for k, v in search.params.items()},
                         "select_ccc": _plain(search.select_ccc)}
                for target, (window_s, search) in zip(self.targets_, self.selected_, strict=True)
            }
        return info

    # -- features ------------------------------------------------------------------------------
    def _windows(self) -> tuple[float, ...]:
        windows = tuple(float(w) for w in self.windows_s)
        if not windows:
            raise ValueError(f"The 'windows_s' parameter of {type(self).__name__} must hold at least one "
                             f"window length. Got {self.windows_s!r} instead.")
        return windows

    def _session_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        from baselines.features.egemaps import cached_egemaps_window_features

        if session.audio_path is None:
            from benchbox.errors import MediaError

            raise MediaError(f"Model {self.name!r}: session {session.id!r} has no audio file.")
        return cached_egemaps_window_features(ctx.cache, session.audio_path, num_frames=session.num_frames,
                                              window_s=window_s, frame_step_s=session.frame_step_s)

    def _features(self, sessions: Sequence[Session], window_s: float, ctx: ModelContext) -> np.ndarray:
        return np.concatenate([self._session_features(s, window_s, ctx) for s in sessions])


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


def _plain(value: Any) -> Any:
    """JSON-friendly scalar: NumPy scalars become Python ones, NaN becomes None."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and np.isnan(value) else value
