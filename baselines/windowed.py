"""The shared shape of the handcrafted baselines: window features + one regressor per target.

Per target, the feature window length and the regressor's hyper-parameters are chosen together on the
select partition by global CCC; the regressor is fitted on the train partition only
(:func:`baselines.regressors.grid_search_on_select`). Annotation delay and post-processing are not the
model's business: the harness fits a fresh model per delay candidate and fits post-processing afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchbox.corpus.session import LabelledSession, Session
from benchbox.plugin import ModelContext

__all__ = ["WindowedRegressorModel", "standardise_session"]


class WindowedRegressorModel:
    """Window features + one regressor per target; window and hyper-parameters chosen on select.

    Subclasses provide ``_session_features(session, window_s, ctx)`` (one row per label frame) and
    ``num_features``.

    Args:
        windows_s: candidate window lengths in seconds.
        grid: regressor grid (dict of lists or list of dicts); ``None`` for the kind's default grid.
        frame_subsample: fit on every n-th training frame (consecutive frames are nearly identical).
        n_jobs: threads of the regressor where it has any (xgboost).
        clip_sd: clip standardised features to this many training SDs (``None``: off); see
            :func:`baselines.regressors.make_regressor`.
        session_normalisation: standardise each session's features with its own mean and SD (no labels
            involved), removing speaker- and face-specific offsets.
    """

    name = "windowed-regressor"
    modalities: frozenset[str] = frozenset()
    family = "handcrafted"
    description = "Window features + a frame-level regressor chosen on select."
    num_features = 0
    #: Subclasses set ``name``, ``description`` and this (one of ``baselines.regressors.REGRESSOR_KINDS``).
    regressor_kind = "ridge"

    def __init__(
        self,
        *,
        windows_s: Sequence[float] = (2.0, 4.0, 6.0),
        grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]] | None = None,
        frame_subsample: int = 5,
        n_jobs: int = 1,
        clip_sd: float | None = 5.0,
        session_normalisation: bool = False,
    ) -> None:
        self.windows_s = windows_s
        self.grid = grid
        self.frame_subsample = frame_subsample
        self.n_jobs = n_jobs
        self.clip_sd = clip_sd
        self.session_normalisation = session_normalisation

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
            features = {w: self._normalised_features(session, w, ctx) for w in {w for w, _ in self.selected_}}
            columns = [search.estimator.predict(features[w]) for w, search in self.selected_]
            out[session.id] = np.stack(columns, axis=1).astype(np.float64)
        return out

    def profile_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"regressor": self.regressor_kind, "num_features": self.num_features,
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
        raise NotImplementedError(f"{type(self).__name__} must implement _session_features")

    def _normalised_features(self, session: Session, window_s: float, ctx: ModelContext) -> np.ndarray:
        """Features of one session, standardised with that session's own statistics if enabled.

        Per-session standardisation removes what is constant within a recording (a speaker's pitch
        range, a face's shape and lighting) and uses no labels, so it is applied to test sessions too.
        """
        features = np.asarray(self._session_features(session, window_s, ctx), dtype=np.float64)
        return standardise_session(features) if self.session_normalisation else features

    def _features(self, sessions: Sequence[Session], window_s: float, ctx: ModelContext) -> np.ndarray:
        return np.concatenate([self._normalised_features(s, window_s, ctx) for s in sessions])


def standardise_session(features: np.ndarray) -> np.ndarray:
    """One session's features ``(frames, features)`` standardised with that session's own mean and SD.

    Example:
        >>> standardise_session(np.array([[1.0, 5.0], [3.0, 5.0]])).round(6).tolist()
        [[-1.0, 0.0], [1.0, 0.0]]
    """
    return (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-8)


def _plain(value: Any) -> Any:
    """JSON-friendly scalar: NumPy scalars become Python ones, NaN becomes None."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and np.isnan(value) else value
