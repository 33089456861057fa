"""Configurations (presets) of the end-to-end model: architecture, training and inference in one record.

``paper`` is the paper's set-up; ``cpu`` keeps the architecture and optimiser but uses the released
code's kernels and four epochs so that ``e2e-audio`` trains on the embedded corpus in about a minute on two
CPU cores; ``smoke`` is a toy for conformance tests only (it is not a model of anything). Every run
records the preset name, so a ``cpu`` score is never mistaken for the paper's model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from benchbox.errors import BenchboxError
from benchbox.registry import did_you_mean

__all__ = ["AUDIO_VARIANTS", "E2EConfig", "PRESETS", "resolve_config", "default_preset"]

#: Kernel sizes (first, second convolution) of the audio CNN. ``paper``: the figure of Tzirakis et al.
#: 2017 (80 samples = 5 ms at 16 kHz, then 4,000 samples = 500 ms at 8 kHz); ``released``: the authors'
#: released TensorFlow code (20, then 40).
AUDIO_VARIANTS: dict[str, tuple[int, int]] = {"paper": (80, 4_000), "released": (20, 40)}


@dataclasses.dataclass(frozen=True)
class E2EConfig:
    """Everything that defines one end-to-end model and its training.

    Attributes:
        audio_variant: ``"paper"`` (kernels 80 / 4,000) or ``"released"`` (20 / 40).
        input_dropout: Dropout probability on the raw audio (released code: TF-slim default 0.5).
        lstm_hidden: LSTM units per layer (paper: 256).
        lstm_layers: LSTM layers (paper: 2).
        visual_pretrained_weights: Local ResNet-50 state dict for the visual branch, or ``None``.
        crop_size: Face crop side in pixels (paper: 96), used for FLOP counting.
        video_augment: Training augmentation of face crops (paper: resize 110, random 96 crop, colour
            distortion; see :func:`e2e.model.augment_crops`).
        learning_rate: Adam learning rate (paper: 1e-4).
        batch_size: Sequences per step (paper: 2).
        sequence_frames: Frames per training sequence (paper: 150 = 6 s); also the inference window.
        loss_pool: ``"batch"`` (CCC over all frames of the batch, as the paper) or ``"sequence"``.
        max_epochs: Upper bound on epochs (an epoch tiles every training session once). Not in the paper.
        max_steps: Optional upper bound on optimiser steps.
        eval_every_epochs: Evaluate global CCC on the select partition every this many epochs.
        patience_evals: Stop after this many evaluations without improvement (the best state is kept).
        inference_context: ``"overlap"`` (half-overlapping windows from a zero state, as in training) or
            ``"carry"`` (one LSTM pass over the whole session); see :func:`e2e.model.predict_frames`.
        encode_batch_frames: Frames per CNN forward pass at inference (memory bound only).
    """

    audio_variant: str = "paper"
    input_dropout: float = 0.5
    lstm_hidden: int = 256
    lstm_layers: int = 2
    visual_pretrained_weights: str | None = None
    crop_size: int = 96
    video_augment: bool = True
    learning_rate: float = 1e-4
    batch_size: int = 2
    sequence_frames: int = 150
    loss_pool: str = "batch"
    max_epochs: int = 50
    max_steps: int | None = None
    eval_every_epochs: int = 1
    patience_evals: int = 5
    inference_context: str = "overlap"
    encode_batch_frames: int = 256

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`e2e.model.EmotionModel`."""
        return {"audio_variant": self.audio_variant, "input_dropout": self.input_dropout,
                "lstm_hidden": self.lstm_hidden, "lstm_layers": self.lstm_layers,
                "visual_pretrained_weights": self.visual_pretrained_weights}


PRESETS: dict[str, E2EConfig] = {
    # As published: figure kernels, 2 x 256 LSTM, Adam 1e-4, batch 2, 150-frame sequences. The epoch
    # budget and early-stopping patience are benchbox's (the paper does not give them).
    "paper": E2EConfig(),
    # CPU-sized: the released code's kernels (20 / 40: 14x fewer FLOPs than the figure's) and four epochs,
    # about a minute on the embedded corpus with two CPU cores; otherwise as the paper (Adam 1e-4, batch 2,
    # 150-frame sequences). Larger learning rates (3e-4, 1e-3) learnt less on the synthetic corpus.
    "cpu": E2EConfig(audio_variant="released", max_epochs=4, patience_evals=2),
    # Conformance tests only: tiny LSTM, two short epochs.
    "smoke": E2EConfig(audio_variant="released", lstm_hidden=8, lstm_layers=1, batch_size=2,
                       sequence_frames=50, max_epochs=2, learning_rate=1e-3, encode_batch_frames=128),
}


def default_preset(device: str) -> str:
    """``paper`` on a GPU, ``cpu`` on the CPU."""
    return "cpu" if str(device).startswith("cpu") else "paper"


def resolve_config(preset: str, overrides: Mapping[str, Any] | None = None) -> E2EConfig:
    """The preset's configuration with ``overrides`` applied; clear errors for unknown names.

    Example:
        >>> resolve_config("cpu", {"max_epochs": 1}).max_epochs
        1
    """
    if preset not in PRESETS:
        raise BenchboxError(f"Unknown e2e preset {preset!r}.{did_you_mean(preset, list(PRESETS))}")
    fields = {f.name for f in dataclasses.fields(E2EConfig)}
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in fields:
            raise BenchboxError(f"Unknown e2e configuration field {key!r}.{did_you_mean(key, sorted(fields))}")
    config = dataclasses.replace(PRESETS[preset], **overrides)
    _validate(config)
    return config


def _validate(config: E2EConfig) -> None:
    choices = {"audio_variant": sorted(AUDIO_VARIANTS), "loss_pool": ["batch", "sequence"],
               "inference_context": ["overlap", "carry"]}
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise BenchboxError(f"The {name!r} parameter of the e2e configuration must be one of {allowed}. "
                                f"Got {value!r} instead.")
    for name in ("lstm_hidden", "lstm_layers", "batch_size", "sequence_frames", "max_epochs",
                 "eval_every_epochs", "patience_evals", "encode_batch_frames", "crop_size"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise BenchboxError(f"The {name!r} parameter of the e2e configuration must be a positive integer. "
                                f"Got {value!r} instead.")
    if not 0.0 <= config.input_dropout < 1.0:
        raise BenchboxError(f"The 'input_dropout' parameter of the e2e configuration must be in [0, 1). "
                            f"Got {config.input_dropout!r} instead.")
    if not config.learning_rate > 0:
        raise BenchboxError(f"The 'learning_rate' parameter of the e2e configuration must be > 0. "
                            f"Got {config.learning_rate!r} instead.")

