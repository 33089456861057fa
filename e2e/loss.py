"""The training objective of Tzirakis et al. (2017): mean over targets of 1 - CCC.

CCC is Lin's concordance correlation coefficient with **population** (1/N) moments everywhere, the
same definition as :func:`benchbox.metrics.ccc_score` (end2you mixed an unbiased variance with a
population covariance; that is not repeated here).
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["ccc_loss", "ccc_per_target"]

#: Added to the CCC denominator so that the loss and its gradient stay finite when prediction and target
#: are the same constant (denominator 0). Negligible otherwise (labels have variances of ~1e-2).
EPSILON = 1e-8
#: How :func:`ccc_per_target` pools frames.
Pool = Literal["batch", "sequence", "session"]


def ccc_per_target(pred: torch.Tensor, target: torch.Tensor, *, pool: Pool = "batch", groups: int = 1,
                   epsilon: float = EPSILON) -> torch.Tensor:
    """CCC of each target, ``(num_targets,)``.

    Args:
        pred, target: ``(..., time, num_targets)``, e.g. ``(batch, time, targets)``.
        pool: ``"batch"`` (default, as the paper): moments over all frames of the batch pooled
            (batch x time) per target; ``"sequence"``: CCC per sequence (over time), then the mean over
            sequences; ``"session"``: the batch's sequences form ``groups`` consecutive groups of equal size
            (windows of one session each, :func:`e2e.data.epoch_windows`), prediction and target are centred
            on their mean within each group, and the CCC is taken over all centred frames: it scores how the
            prediction follows the target *within* each session and is blind to each session's level.
        groups: Number of groups for ``pool="session"`` (must divide the batch).
        epsilon: Added to the denominator.

    Example:
        >>> y = torch.tensor([[[0.0], [1.0]], [[5.0], [6.0]]])  # two sessions at different levels
        >>> round(float(ccc_per_target(y - y.mean(), y, pool="session", groups=2)[0]), 6)
        1.0
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape. Got {tuple(pred.shape)} and {tuple(target.shape)}."
        )
    if pool == "batch":
        pred, target = pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1])
        return _ccc(pred, target, dim=0, epsilon=epsilon)
    if pool == "sequence":
        if pred.dim() < 2:
            raise ValueError("pool='sequence' needs inputs of shape (..., time, num_targets).")
        per_sequence = _ccc(pred, target, dim=-2, epsilon=epsilon)
        return per_sequence.reshape(-1, per_sequence.shape[-1]).mean(dim=0)
    if pool == "session":
        if pred.dim() < 3 or groups < 1 or pred.shape[0] % groups:
            raise ValueError(f"pool='session' needs (batch, time, num_targets) inputs whose batch divides into "
                             f"{groups} groups. Got shape {tuple(pred.shape)}.")
        pred, target = (x.reshape(groups, -1, x.shape[-1]) for x in (pred, target))
        pred, target = pred - pred.mean(dim=1, keepdim=True), target - target.mean(dim=1, keepdim=True)
        return _ccc(pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1]), dim=0, epsilon=epsilon)
    raise ValueError(f"The 'pool' parameter of ccc_loss must be 'batch', 'sequence' or 'session'. "
                     f"Got {pool!r} instead.")


def _ccc(pred: torch.Tensor, target: torch.Tensor, *, dim: int, epsilon: float) -> torch.Tensor:
    mean_p, mean_t = pred.mean(dim=dim), target.mean(dim=dim)
    dev_p, dev_t = pred - mean_p.unsqueeze(dim), target - mean_t.unsqueeze(dim)
    var_p, var_t = (dev_p**2).mean(dim=dim), (dev_t**2).mean(dim=dim)  # population (1/N)
    cov = (dev_p * dev_t).mean(dim=dim)
    return 2.0 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + epsilon)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, *, pool: Pool = "batch", groups: int = 1,
             epsilon: float = EPSILON) -> torch.Tensor:
    """Mean over targets of ``1 - CCC`` (scalar); see :func:`ccc_per_target` for ``pool`` and ``groups``.

    Example:
        >>> x = torch.tensor([[1.0], [2.0], [3.0]])
        >>> round(float(ccc_loss(x, x)), 6)
        0.0
    """
    return (1.0 - ccc_per_target(pred, target, pool=pool, groups=groups, epsilon=epsilon)).mean()
