"""Frame-level regressors of the AVEC baseline recipe and their grid search on the select partition.

One regressor per target: features standardised with the training statistics
(:class:`~sklearn.preprocessing.StandardScaler`) and clipped to +-5 training SDs (see
:func:`make_regressor`; without the clip a single eGeMAPS ``*_stddevNorm`` outlier took the linear
models' dev CCC from 0.95 to 0.0 on a synthetic corpus), then

- ``"svr"``: linear SVR (:class:`sklearn.svm.LinearSVR`, liblinear), as the AVEC baselines;
- ``"xgb"``: gradient-boosted trees (:class:`xgboost.XGBRegressor`, ``hist``, deterministic);
- ``"ridge"``: ridge regression (:class:`sklearn.linear_model.Ridge`).

Selection protocol (:func:`grid_search_on_select`)
    Every grid point is fitted on the *train* frames only; per target, the point with the best global
    CCC (the select sessions concatenated, AVEC 2016 style) on the *select* frames wins, ties and NaN
    going to the earlier grid point. The winner is the estimator already fitted on train during the
    search -- refitting on train with the same parameters would give the same model -- so the select
    partition is used for selection only, never for fitting (as AVEC did for its dev evaluation).
    Fitting uses every ``frame_subsample``-th training frame: consecutive 40 ms frames of windowed
    functionals overlap almost entirely (a 4 s window shares 99 % of its audio with the next frame).
    Because liblinear's ``C`` weighs the *sum* of the losses, the chosen ``C`` belongs to that frame
    count; the model is therefore kept, not refitted on all frames. Measured on 60 s synthetic
    sessions (6 fit, 3 select, 9 dev; 3 windows x the default grid, one delay): every 5th frame cut the
    SVR search from 5.6 s to 0.8 s (ridge 2.7 s to 1.1 s) with dev CCC within 0.001 on arousal and
    0.02 on valence; every 10th frame started to cost SVR valence (-0.05).

Heavy packages (scikit-learn, xgboost) are imported inside the functions.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((400, 3)); y = x @ [1.0, -0.5, 0.0] + 0.1 * rng.standard_normal(400)
    >>> result = grid_search_on_select(x[:300], y[:300], x[300:], y[300:], "ridge",
    ...                                {"alpha": [0.1, 1e5]}, frame_subsample=1)
    >>> result.targets[0].params
    {'alpha': 0.1}
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchbox.metrics import UndefinedMetricWarning, ccc_score

__all__ = [
    "REGRESSOR_KINDS",
    "DEFAULT_CLIP_SD",
    "DEFAULT_GRIDS",
    "default_params",
    "make_regressor",
    "parameter_grid",
    "TargetSearch",
    "GridSearchResult",
    "grid_search_on_select",
]

REGRESSOR_KINDS = ("svr", "xgb", "ridge")
#: Standardised features are clipped to +- this many training SDs (see :func:`make_regressor`).
DEFAULT_CLIP_SD = 5.0

#: Search grids per kind (scikit-learn ``param_grid`` form: a dict of lists, or a list of such dicts).
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "svr": {"C": [1e-4, 1e-3, 1e-2, 1e-1]},
    "xgb": {"max_depth": [3, 6], "learning_rate": [0.05, 0.1]},
    "ridge": {"alpha": [1.0, 10.0, 100.0, 1_000.0, 10_000.0]},
}


def default_params(kind: str) -> dict[str, Any]:
    """Fixed parameters of a kind, before the grid point and the caller's overrides are applied.

    ``svr``: epsilon 0 (labels in [-1, 1]; AVEC tuned only C), squared epsilon-insensitive loss so
    that ``dual="auto"`` may use liblinear's primal solver when frames outnumber features (3-4x
    faster than the dual solver of ``loss="epsilon_insensitive"``, dev CCC within 0.02 in our
    measurement; pass ``loss=...`` to change it); ``xgb``: 100 trees of the ``hist`` method with 64
    bins (3x faster than 200 trees x 256 bins at depth 6, same dev CCC), one thread (benchmarks run
    models side by side), row and column subsampling off so that a fit is deterministic.
    """
    _check_kind(kind, "default_params")
    if kind == "svr":
        return {"C": 1e-3, "epsilon": 0.0, "loss": "squared_epsilon_insensitive", "dual": "auto",
                "max_iter": 20_000, "tol": 1e-4}
    if kind == "xgb":
        return {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "tree_method": "hist",
                "max_bin": 64, "n_jobs": 1, "subsample": 1.0, "colsample_bytree": 1.0, "verbosity": 0}
    return {"alpha": 1.0}


def make_regressor(kind: str, *, random_state: int | None = 0, clip_sd: float | None = DEFAULT_CLIP_SD,
                   **params: Any):
    """An unfitted ``Pipeline(StandardScaler, clip to +-clip_sd, regressor)`` for one target.

    Args:
        kind: one of :data:`REGRESSOR_KINDS`.
        random_state: seed of the solver (liblinear's coordinate order, xgboost); ignored by ridge.
        clip_sd: clip the standardised features to ``[-clip_sd, clip_sd]`` (``None``: no clipping,
            the plain AVEC recipe). eGeMAPS' ``*_stddevNorm`` functionals divide by a window mean that
            can be near 0 and reach thousands of training SDs on unseen audio; a linear model
            extrapolates such a value into a prediction far outside the label range.
        **params: parameters of the regressor (not prefixed), over :func:`default_params`.

    Raises:
        ValueError: unknown kind or a parameter the regressor does not have.

    Example:
        >>> make_regressor("svr", C=0.01).named_steps["regressor"].C
        0.01
    """
    _check_kind(kind, "make_regressor")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if kind == "svr":
        from sklearn.svm import LinearSVR as Estimator
    elif kind == "xgb":
        from xgboost import XGBRegressor as Estimator
    else:
        from sklearn.linear_model import Ridge as Estimator
    settings = default_params(kind) | dict(params)
    if kind != "ridge":
        settings["random_state"] = random_state
    valid = Estimator().get_params()
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ValueError(
            f"The {unknown[0]!r} parameter of make_regressor is not a parameter of {Estimator.__name__} "
            f"(kind {kind!r}). Valid parameters: {', '.join(sorted(valid))}."
        )
    if clip_sd is not None and not (isinstance(clip_sd, int | float) and clip_sd > 0):
        raise ValueError(f"The 'clip_sd' parameter of make_regressor must be a positive number or None. "
                         f"Got {clip_sd!r} instead.")
    clip = FunctionTransformer(_clip, kw_args={"bound": float(clip_sd)}) if clip_sd else "passthrough"
    return Pipeline([("scale", StandardScaler()), ("clip", clip), ("regressor", Estimator(**settings))])


def _clip(features: np.ndarray, bound: float) -> np.ndarray:
    return np.clip(features, -bound, bound)


def parameter_grid(kind: str, grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]] | None = None
                   ) -> list[dict[str, Any]]:
    """The grid points, in search order (``grid`` or the kind's :data:`DEFAULT_GRIDS` entry).

    Example:
        >>> parameter_grid("xgb")[0]
        {'learning_rate': 0.05, 'max_depth': 3}
    """
    _check_kind(kind, "parameter_grid")
    from sklearn.model_selection import ParameterGrid

    points = [dict(point) for point in ParameterGrid(DEFAULT_GRIDS[kind] if grid is None else grid)]
    if not points:
        raise ValueError(
            f"The 'grid' parameter of parameter_grid must hold at least one point. Got {grid!r} instead."
        )
    return points


@dataclasses.dataclass(frozen=True)
class TargetSearch:
    """Outcome of the search for one target.

    Attributes:
        params: the chosen grid point.
        select_ccc: its global CCC on the select frames (NaN if every point gave a constant trace).
        candidates: every grid point with its select CCC, in search order.
        estimator: the pipeline with ``params``, fitted on the train frames.
    """

    params: dict[str, Any]
    select_ccc: float
    candidates: tuple[tuple[dict[str, Any], float], ...]
    estimator: Any


@dataclasses.dataclass(frozen=True)
class GridSearchResult:
    """Per-target searches of :func:`grid_search_on_select`; :meth:`predict` stacks their outputs."""

    kind: str
    targets: tuple[TargetSearch, ...]
    fit_frames: int
    frame_subsample: int

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float64 array ``(len(features), len(targets))``."""
        return np.stack([t.estimator.predict(features) for t in self.targets], axis=1).astype(np.float64)


def grid_search_on_select(
    train_X: np.ndarray,
    train_y: np.ndarray,
    select_X: np.ndarray,
    select_y: np.ndarray,
    kind: str,
    grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]] | None = None,
    *,
    frame_subsample: int = 5,
    random_state: int | None = 0,
    fixed_params: Mapping[str, Any] | None = None,
) -> GridSearchResult:
    """Per target, the grid point with the best global CCC on the select frames (see module docstring).

    Args:
        train_X, train_y: training frames ``(n, features)`` and labels ``(n,)`` or ``(n, targets)``.
        select_X, select_y: selection frames and labels (all of them are scored; none is fitted on).
        kind: one of :data:`REGRESSOR_KINDS`.
        grid: parameter grid (dict of lists or list of dicts); ``None`` for :data:`DEFAULT_GRIDS`.
        frame_subsample: fit on every ``frame_subsample``-th training frame (1 = all).
        random_state: passed to :func:`make_regressor`.
        fixed_params: parameters applied at every grid point (e.g. ``{"n_jobs": 2}``).

    Returns:
        :class:`GridSearchResult` with one :class:`TargetSearch` per label column.
    """
    points = parameter_grid(kind, grid)
    integer = isinstance(frame_subsample, int | np.integer) and not isinstance(frame_subsample, bool)
    if not integer or frame_subsample < 1:
        raise ValueError(
            f"The 'frame_subsample' parameter of grid_search_on_select must be a positive int. "
            f"Got {frame_subsample!r} instead."
        )
    train_X, train_y = _check_xy(train_X, train_y, "train")
    select_X, select_y = _check_xy(select_X, select_y, "select")
    if train_y.shape[1] != select_y.shape[1] or train_X.shape[1] != select_X.shape[1]:
        raise ValueError(
            f"train and select must have the same numbers of features and targets. Got train "
            f"{train_X.shape[1]} x {train_y.shape[1]}, select {select_X.shape[1]} x {select_y.shape[1]}."
        )
    fit_X, fit_y = train_X[::frame_subsample], train_y[::frame_subsample]
    searches = []
    for k in range(train_y.shape[1]):
        best, best_key, candidates = None, -math.inf, []
        for point in points:
            estimator = make_regressor(kind, random_state=random_state, **(dict(fixed_params or {}) | point))
            estimator.fit(fit_X, fit_y[:, k])
            score = _quiet_ccc(select_y[:, k], estimator.predict(select_X))
            candidates.append((point, score))
            key = -math.inf if math.isnan(score) else score
            if best is None or key > best_key:
                best, best_key = (point, score, estimator), key
        searches.append(TargetSearch(params=best[0], select_ccc=best[1], candidates=tuple(candidates),
                                     estimator=best[2]))
    return GridSearchResult(kind=kind, targets=tuple(searches), fit_frames=len(fit_X),
                            frame_subsample=int(frame_subsample))


def _quiet_ccc(gold: np.ndarray, predicted: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(ccc_score(gold, predicted))


def _check_xy(features, labels, role: str) -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(features), np.asarray(labels, dtype=np.float64)
    if labels.ndim == 1:
        labels = labels[:, None]
    if features.ndim != 2 or labels.ndim != 2 or len(features) != len(labels) or len(features) == 0:
        raise ValueError(
            f"The {role} features must be (frames, features) and the labels (frames,) or (frames, targets) "
            f"with the same non-zero number of frames. Got {features.shape} and {labels.shape} instead."
        )
    if not (np.isfinite(features).all() and np.isfinite(labels).all()):
        raise ValueError(f"The {role} features or labels contain NaN or inf.")
    return features, labels


def _check_kind(kind: str, function: str) -> None:
    if kind not in REGRESSOR_KINDS:
        raise ValueError(
            f"The 'kind' parameter of {function} must be one of {', '.join(map(repr, REGRESSOR_KINDS))}. "
            f"Got {kind!r} instead."
        )
