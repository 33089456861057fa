"""Configurations (presets) of the end-to-end model: architecture, training and inference in one record.

``paper`` is the paper's set-up; ``cpu`` (the audio model), ``cpu-video`` (the video model) and ``cpu-48px``
(the audiovisual model) keep the loss, optimiser and LSTM but cut the cost so that the three e2e models
train on the embedded corpus within the default run's budget on two CPU cores, and give the visual branch,
which starts from random weights there, a trunk and input that generalise across subjects (every
deviation is listed at the preset);
``smoke`` is a toy for conformance tests only (it is not a model of anything). Every run records the
preset name, so a CPU-preset score is never mistaken for the paper's model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from benchbox.errors import BenchboxError
from benchbox.registry import did_you_mean

__all__ = ["AUDIO_VARIANTS", "CROP_COLOURS", "PRECISIONS", "E2EConfig", "PRESETS", "RuntimeSettings",
           "check_config_fields", "check_preset", "cpu_has_native_bf16", "default_preset", "resolve_config",
           "runtime_settings"]

#: Kernel sizes (first, second convolution) of the audio CNN. ``paper``: the figure of Tzirakis et al.
#: 2017 (80 samples = 5 ms at 16 kHz, then 4,000 samples = 500 ms at 8 kHz); ``released``: the authors'
#: released TensorFlow code (20, then 40).
AUDIO_VARIANTS: dict[str, tuple[int, int]] = {"paper": (80, 4_000), "released": (20, 40)}
#: Choices of :attr:`E2EConfig.crop_colour` (see :class:`e2e.model.VisualBranch`).
CROP_COLOURS = ("rgb", "grey")
#: Choices of :attr:`E2EConfig.precision`.
PRECISIONS = ("auto", "bf16-native", "fp32", "bf16")


@dataclasses.dataclass(frozen=True)
class E2EConfig:
    """Everything that defines one end-to-end model and its training.

    Attributes:
        audio_variant: ``"paper"`` (kernels 80 / 4,000) or ``"released"`` (20 / 40).
        input_dropout: Dropout probability on the raw audio (released code: TF-slim default 0.5).
        lstm_hidden: LSTM units per layer (paper: 256).
        lstm_layers: LSTM layers (paper: 2).
        visual_pretrained_weights: Where the visual branch's ResNet-50 starts (:mod:`e2e.weights`):
            ``"imagenet"`` (torchvision's ``ResNet50_Weights.IMAGENET1K_V1``, the paper's start),
            a local torchvision ``resnet50`` state dict, or ``None`` / ``"none"`` (random).
        visual_network: Trunk of the visual branch: ``"resnet50"`` (paper) or ``"compact"`` (a small residual
            network, :func:`e2e.model.compact_resnet`; random start only).
        crop_normalisation: ``"none"`` (the crops as tracked; the paper) or ``"session"``: each crop minus its
            session's mean crop, divided by the session's pixel SD (see :func:`e2e.data.session_normalised`),
            which takes out who the person is and leaves how the face moves.
        crop_colour: ``"rgb"`` (the paper) or ``"grey"`` (luma on all three channels; see
            :class:`e2e.model.VisualBranch`).
        crop_standardise: Standardise each crop with its own mean and SD inside the network instead of the
            ImageNet normalisation (paper: ``False``).
        crop_size: Face crop side in pixels (paper: 96); other sizes are resized from the 96 px crops.
        visual_stride: The ResNet encodes every ``visual_stride``-th frame and holds its features for the
            frames in between (paper: 1, every frame; 10 = 2.5 visual frames per second).
        video_augment: Training augmentation of face crops (paper: resize 110, random 96 crop, colour
            distortion; see :func:`e2e.model.augment_crops`).
        video_colour_augment: With ``video_augment``, also the colour distortion (random brightness and
            contrast per crop); ``False`` keeps only the geometric part (resize, random crop). On
            session-normalised crops a contrast factor scales the expression deviations themselves.
        video_flip: Training augmentation: mirror each face crop left to right with probability 0.5
            (:func:`e2e.model.flip_crops`), after ``video_augment`` if that is on too (paper: no flips).
        mixup_alpha: Training augmentation: mixup between the sequences of a batch (Zhang et al. 2018,
            :func:`e2e.model.mix_sequences`): each sequence is blended with another of the batch, inputs and
            labels with the same weight drawn from Beta(alpha, alpha) (folded to at least 0.5 on the
            sequence's own); ``0`` is off (paper: off).
        learning_rate: Adam learning rate (paper: 1e-4).
        batch_size: Sequences per step (paper: 2).
        sequence_frames: Frames per training sequence (paper: 150 = 6 s); also the inference window.
        loss_pool: ``"batch"`` (CCC over all frames of the batch, as the paper), ``"sequence"`` (per
            sequence, then the mean) or ``"session"``: CCC of the within-session deviations (each batch holds
            ``batch_sessions`` sessions; predictions and labels are centred on each session's mean within
            the batch, :func:`e2e.loss.ccc_per_target`). That loss teaches how a target moves within a person
            and nothing about each training person's level, so the network's output is then centred: its
            predictions are shifted so that their mean over the training sessions is the training labels'
            mean, select is scored after that shift, and the best epoch's shift is added to the head's bias
            (:func:`e2e.trainer.level_shift`).
        batch_sessions: ``0``: a batch's windows come from any sessions at random (the paper); ``k >= 1``:
            each batch holds ``batch_size / k`` windows of each of ``k`` sessions
            (:func:`e2e.data.epoch_windows`); ``loss_pool = "session"`` needs it.
        max_epochs: Upper bound on epochs (an epoch tiles every training session once). Not in the paper.
        max_epochs_initialised: Upper bound on epochs when the network starts from unimodal weights
            (``e2e-av`` fine-tuning); ``None``: ``max_epochs``.
        learning_rate_initialised: Adam learning rate when the network starts from unimodal weights
            (``e2e-av`` fine-tuning); ``None``: ``learning_rate``.
        fusion_init: How ``e2e-av`` starts from the two unimodal networks. ``"better"``: a fusion LSTM of
            ``lstm_hidden`` units that is the LSTM and head of the unimodal model with the better select CCC,
            zero weights on the other modality's features (it starts as that model). ``"both"``: a fusion
            LSTM of twice the units holding both unimodal LSTMs side by side (block-diagonal: each half reads
            only its modality's features and its own state) and a head that is, per target, the head of the
            unimodal network with the better select CCC on that target; it starts as the audio network on
            one target and the video network on the other where select ranks them so, and fine-tuning learns
            the cross-modal weights, which start at zero (see :func:`e2e.model.side_by_side_fusion` and
            :func:`e2e.plugins.better_branch_weights`).
        max_steps: Optional upper bound on optimiser steps.
        eval_every_epochs: Evaluate global CCC on the select partition every this many epochs.
        patience_evals: Stop after this many evaluations without improvement (the best state is kept).
        inference_context: ``"overlap"`` (half-overlapping windows from a zero state, as in training) or
            ``"carry"`` (one LSTM pass over the whole session); see :func:`e2e.model.predict_frames`.
        encode_batch_frames: Frames per CNN forward pass at inference (memory bound only).
        precision: ``"auto"`` (bf16 autocast on CUDA, float32 on the CPU), ``"bf16-native"`` (bf16 autocast
            on CUDA and on CPUs with native bfloat16 matrix instructions -- AVX512-BF16 or AMX --, float32 on
            other CPUs), ``"fp32"`` or ``"bf16"``. Autocast runs convolutions, matrix products and the LSTM
            in bfloat16; the loss is computed in float32.
        compile: Wrap the network in ``torch.compile`` (CUDA only; ignored on the CPU).
        resident_data: On CUDA, copy the training set to device memory once (batches are then cut on
            the device, no host-to-device copy per step); ignored on the CPU.
    """

    audio_variant: str = "paper"
    input_dropout: float = 0.5
    lstm_hidden: int = 256
    lstm_layers: int = 2
    visual_pretrained_weights: str | None = None
    visual_network: str = "resnet50"
    crop_normalisation: str = "none"
    crop_colour: str = "rgb"
    crop_standardise: bool = False
    crop_size: int = 96
    visual_stride: int = 1
    video_augment: bool = True
    video_colour_augment: bool = True
    video_flip: bool = False
    mixup_alpha: float = 0.0
    learning_rate: float = 1e-4
    batch_size: int = 2
    sequence_frames: int = 150
    loss_pool: str = "batch"
    batch_sessions: int = 0
    max_epochs: int = 50
    max_epochs_initialised: int | None = None
    learning_rate_initialised: float | None = None
    fusion_init: str = "better"
    max_steps: int | None = None
    eval_every_epochs: int = 1
    patience_evals: int = 5
    inference_context: str = "overlap"
    encode_batch_frames: int = 256
    precision: str = "auto"
    compile: bool = False
    resident_data: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def augments_video(self) -> bool:
        """Whether training crops are augmented at all (``video_augment`` or ``video_flip``)."""
        return self.video_augment or self.video_flip

    def for_fine_tuning(self) -> E2EConfig:
        """The configuration that trains a network started from unimodal weights: the ``*_initialised``
        epoch budget and learning rate where set.

        Example:
            >>> E2EConfig(learning_rate_initialised=1e-5).for_fine_tuning().learning_rate
            1e-05
        """
        changes: dict[str, Any] = {}
        if self.max_epochs_initialised is not None:
            changes["max_epochs"] = self.max_epochs_initialised
        if self.learning_rate_initialised is not None:
            changes["learning_rate"] = self.learning_rate_initialised
        return dataclasses.replace(self, **changes)

    def fusion_hidden(self, modalities: Iterable[str]) -> int:
        """LSTM units of the network for ``modalities``: twice ``lstm_hidden`` for an audiovisual network
        that holds both unimodal LSTMs side by side (``fusion_init = "both"``).

        Example:
            >>> E2EConfig(fusion_init="both").fusion_hidden(["audio", "video"])
            512
        """
        both = {"audio", "video"} <= set(modalities)
        return self.lstm_hidden * (2 if both and self.fusion_init == "both" else 1)

    def model_kwargs(self, modalities: Iterable[str] = ("audio",)) -> dict[str, Any]:
        """Keyword arguments of :class:`e2e.model.EmotionModel` for a network of ``modalities``."""
        return {"audio_variant": self.audio_variant, "input_dropout": self.input_dropout,
                "lstm_hidden": self.fusion_hidden(modalities), "lstm_layers": self.lstm_layers,
                "visual_pretrained_weights": self.visual_pretrained_weights, "visual_stride": self.visual_stride,
                "visual_network": self.visual_network, "crop_colour": self.crop_colour,
                "crop_standardise": self.crop_standardise}


#: What ``cpu-video`` (e2e-video) and ``cpu-48px`` (e2e-av) share: the visual trunk, its input and training
#: augmentation (e2e-av reads e2e-video's stored branch), the audio branch of ``cpu``; see the presets below.
_CPU_VISUAL = E2EConfig(audio_variant="released", input_dropout=0.0, visual_network="compact", crop_colour="grey",
                        crop_standardise=True, crop_size=48, visual_stride=5, video_augment=False, video_flip=True,
                        learning_rate=1e-3, precision="bf16-native", fusion_init="both")

PRESETS: dict[str, E2EConfig] = {
    # As published: figure kernels, ResNet-50 started from ImageNet weights (torchvision's IMAGENET1K_V1,
    # fetched through its weights API into torch's cache), 96 px crops on every frame, 2 x 256 LSTM, Adam
    # 1e-4, batch 2, 150-frame sequences, bf16 autocast on CUDA. The epoch budget and early-stopping
    # patience are benchbox's (the paper does not give them).
    "paper": E2EConfig(visual_pretrained_weights="imagenet"),
    # CPU-sized audio model (e2e-audio on the CPU). Same architecture, loss and optimiser. Deviations from
    # the paper, each needed to learn within about two minutes on two cores: the released code's kernels
    # (20 / 40: 14x fewer FLOPs than the figure's 80 / 4,000); no dropout on the raw input (dropout on raw
    # samples adds power that is absent at inference, so loudness-like features differ between training and
    # prediction; with 180 steps it also slowed learning: on the embedded corpus the best select arousal CCC
    # in 12 epochs was 0.19 with 0.5, 0.47 after 10 epochs without); learning rate 2e-4 (select arousal CCC:
    # 1e-4 0.47 after 10 epochs, 2e-4 0.68 after 11, 3e-4 0.68 after 10; 1e-3 collapsed to a constant output
    # and 5e-4 stayed near 0 for 7 epochs, both with dropout 0.5); 8 sequences of 75 frames (3 s) per step
    # instead of 2 of 150 (the same frames per epoch; the loss pools the batch, and a CCC over eight windows
    # from different sessions estimates the global CCC the benchmark scores far better than one over two,
    # which left training on a plateau for 10+ epochs; the released code trained on short sequences too); 3 s
    # inference windows (the training length); at most 12 epochs; bf16 autocast where the CPU has native
    # bfloat16 instructions (1.4-2x faster; float32 elsewhere).
    "cpu": E2EConfig(audio_variant="released", input_dropout=0.0, learning_rate=2e-4, batch_size=8,
                     sequence_frames=75, max_epochs=12, patience_evals=5, precision="bf16-native"),
    # CPU-sized visual trunk (_CPU_VISUAL), shared by e2e-video (``cpu-video``) and e2e-av (``cpu-48px``). Deviations
    # from the paper, needed for a network trained from random weights on six training subjects on two CPU
    # cores to learn expressions rather than faces: a compact residual trunk (4 BasicBlocks, 1.2 M parameters,
    # e2e.model.compact_resnet) instead of ResNet-50 (a random ResNet-50 memorised the six training faces:
    # dev valence CCC -0.08); 48 x 48 crops (downscaled from 96; 96 px at 2.5 frames/s: dev 0.09 at twice
    # the cost); grey crops, each standardised with its own mean and SD instead of ImageNet's statistics
    # (skin, hair and background colours and exposure tell the training subjects apart; a per-frame probe of
    # the compact trunk on the embedded corpus reached dev valence CCC 0.35 with both, 0.28-0.36 with
    # standardisation only, -0.03 on raw colour crops); left-right flips instead of the paper's augmentation
    # (its random 110 -> 96 px crop shifts the mouth by more than a smile moves it: select CCC 0.09, dev -0.09
    # with it; a mirrored face is another face with the same expression: dev valence CCC before
    # post-processing, seeds 0 / 1 / 2, 0.21 / 0.32 / 0.24 with flips, 0.21 / 0.17 / 0.24 without, and
    # within-session correlation 0.44 against 0.37); every 5th frame encoded (5 per second), its features
    # held for the next four; learning rate 1e-3; the audio branch as ``cpu`` (released kernels, no input
    # dropout); bf16 autocast as ``cpu``.
    # e2e-video: 32 sequences of 25 frames (1 s) per step and up to 20 epochs (8 x 75 frames per step hold
    # 8 label values: after 300 steps dev valence CCC -0.04 with the paper's augmentation, 0.13 without; 32 x
    # 25 frames: 0.21, select 0.50 against 0.46); the CCC of within-session deviations (loss_pool "session",
    # 4 sessions x 8 windows per batch) instead of the batch's CCC. With the batch's CCC the network learnt each
    # of the six training faces' valence level from who it was (dev: session means correlated 0.09 with the
    # labels' although within sessions it followed valence better than appearance-svr); taught only how valence
    # moves within a face, it places the dev sessions' levels from their expressions (seeds 0-4, scores before
    # post-processing: dev valence CCC 0.74 / 0.38 / 0.63 / 0.59 / 0.62 against 0.24 / 0.22 / 0.14 / 0.19 /
    # 0.16, session-mean correlation 0.37-0.84; select 0.49 / 0.66 / 0.60 / 0.60 / 0.61 against 0.48 / 0.43 /
    # 0.46 / 0.68 / 0.43). The output is centred: its mean over the training sessions is the training labels'
    # mean (loss_pool).
    # e2e-av keeps 8 x 75 frames (the audio half of its LSTM was trained on 3 s windows), holds the two
    # unimodal networks side by side (``fusion_init = "both"``: their LSTMs, 2 x 256 units) and starts each
    # target as the network with the better select CCC on it (started from the better one alone for both
    # targets, early stopping often kept that start and e2e-av gave e2e-audio's numbers exactly; heads added
    # with least-squares weights fitted on the 3 select sessions, seeds 0-4: dev arousal 0.24 and valence
    # 0.22 against e2e-audio's 0.42 and e2e-video's 0.23; per target: 0.42 and 0.22) and fine-tunes for at
    # most 2 epochs at a hundredth of the learning rate (the cross-modal weights start at zero; at a large
    # rate Adam moves thousands of them at once and the first epoch wiped out what the unimodal models had
    # learnt).
    "cpu-video": dataclasses.replace(_CPU_VISUAL, batch_size=32, sequence_frames=25, max_epochs=20,
                                     patience_evals=20, loss_pool="session", batch_sessions=4),
    "cpu-48px": dataclasses.replace(_CPU_VISUAL, batch_size=8, sequence_frames=75, max_epochs=4,
                                    max_epochs_initialised=2, learning_rate_initialised=1e-5, patience_evals=3),
    # Conformance tests only: tiny LSTM, 16 px crops on 2.5 frames/s, two short epochs. Not a model of anything.
    "smoke": E2EConfig(audio_variant="released", lstm_hidden=8, lstm_layers=1, batch_size=2, crop_size=16,
                       visual_stride=10, sequence_frames=50, max_epochs=2, learning_rate=1e-3,
                       encode_batch_frames=128, fusion_init="both"),
}


@dataclasses.dataclass(frozen=True)
class RuntimeSettings:
    """How a configuration runs on one device (derived, never stored in a preset).

    Attributes:
        device_type: ``"cpu"`` or ``"cuda"``.
        autocast_bf16: Run forward passes under ``torch.autocast(device_type, torch.bfloat16)``.
        channels_last: Keep the visual branch and its input crops in channels-last memory format.
        cudnn_benchmark: Set ``torch.backends.cudnn.benchmark`` (autotuned convolutions; shapes are fixed).
        compile: Wrap the network in ``torch.compile``.
        resident_data: Keep the training arrays in device memory.
    """

    device_type: str
    autocast_bf16: bool
    channels_last: bool
    cudnn_benchmark: bool
    compile: bool
    resident_data: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX tiles), as torch sees it."""
    import torch

    cpu = torch.cpu
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def runtime_settings(config: E2EConfig, device: str, *, native_bf16: bool | None = None) -> RuntimeSettings:
    """What ``config`` turns on for ``device``: the CUDA path (bf16 autocast, channels-last visual branch,
    cuDNN autotuning, optional ``torch.compile``, training set in device memory) or the plain CPU path.

    ``native_bf16`` says whether the CPU has native bfloat16 instructions (``None``: ask torch); it only
    matters for ``precision="bf16-native"`` on the CPU.

    Example:
        >>> runtime_settings(PRESETS["paper"], "cuda:0").autocast_bf16
        True
        >>> runtime_settings(PRESETS["paper"], "cpu").autocast_bf16
        False
    """
    device_type = str(device).split(":")[0]
    if device_type not in ("cpu", "cuda"):
        raise BenchboxError(f"The e2e models run on 'cpu' or 'cuda' devices. Got {device!r} instead.")
    cuda = device_type == "cuda"
    if config.precision == "bf16-native" and not cuda:
        bf16 = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    else:
        bf16 = config.precision == "bf16" or (config.precision in ("auto", "bf16-native") and cuda)
    return RuntimeSettings(device_type=device_type, autocast_bf16=bf16, channels_last=cuda, cudnn_benchmark=cuda,
                           compile=cuda and config.compile, resident_data=cuda and config.resident_data)


def default_preset(device: str, modalities: Iterable[str] = ("audio",)) -> str:
    """``paper`` on a GPU; on the CPU ``cpu`` for the audio model, ``cpu-video`` for the video model and
    ``cpu-48px`` for the audiovisual one (the last two share the visual trunk).

    Example:
        >>> [default_preset("cpu", m) for m in ({"audio"}, {"video"}, {"audio", "video"})]
        ['cpu', 'cpu-video', 'cpu-48px']
        >>> default_preset("cuda:0", {"video"})
        'paper'
    """
    if not str(device).startswith("cpu"):
        return "paper"
    modalities = set(modalities)
    if "video" not in modalities:
        return "cpu"
    return "cpu-48px" if "audio" in modalities else "cpu-video"


def check_preset(preset: str, owner: str | None = None) -> None:
    """Raise BenchboxError (naming ``owner`` if given) unless ``preset`` is a name in :data:`PRESETS`.

    Example:
        >>> check_preset("cpu-48px")
    """
    if preset not in PRESETS:
        what = f"{owner}: unknown e2e preset" if owner else "Unknown e2e preset"
        raise BenchboxError(f"{what} {preset!r}.{did_you_mean(preset, list(PRESETS))}")


def check_config_fields(fields: Iterable[str], owner: str) -> None:
    """Raise BenchboxError naming ``owner`` if a name in ``fields`` is not an :class:`E2EConfig` field.

    Example:
        >>> check_config_fields(["max_epochs", "learning_rate"], "Model 'e2e-audio'")
    """
    known = sorted(f.name for f in dataclasses.fields(E2EConfig))
    for key in fields:
        if key not in known:
            raise BenchboxError(f"{owner}: unknown option {key!r}; an e2e model takes 'preset' and the fields of "
                                f"e2e.config.E2EConfig.{did_you_mean(key, known)}")


def resolve_config(preset: str, overrides: Mapping[str, Any] | None = None) -> E2EConfig:
    """The preset's configuration with ``overrides`` applied; clear errors for unknown names.

    Example:
        >>> resolve_config("cpu", {"max_epochs": 1}).max_epochs
        1
    """
    check_preset(preset)
    overrides = dict(overrides or {})
    check_config_fields(overrides, "e2e configuration")
    config = dataclasses.replace(PRESETS[preset], **overrides)
    _validate(config)
    return config


def _validate(config: E2EConfig) -> None:
    choices = {"audio_variant": sorted(AUDIO_VARIANTS), "loss_pool": ["batch", "sequence", "session"],
               "visual_network": ["resnet50", "compact"], "crop_normalisation": ["none", "session"],
               "crop_colour": list(CROP_COLOURS),
               "fusion_init": ["better", "both"],
               "inference_context": ["overlap", "carry"], "precision": list(PRECISIONS)}
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise BenchboxError(f"The {name!r} parameter of the e2e configuration must be one of {allowed}. "
                                f"Got {value!r} instead.")
    for name in ("lstm_hidden", "lstm_layers", "batch_size", "sequence_frames", "max_epochs",
                 "eval_every_epochs", "patience_evals", "encode_batch_frames", "crop_size", "visual_stride"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise BenchboxError(f"The {name!r} parameter of the e2e configuration must be a positive integer. "
                                f"Got {value!r} instead.")
    for name in ("crop_standardise", "video_augment", "video_colour_augment", "video_flip", "compile", "resident_data"):
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise BenchboxError(f"The {name!r} parameter of the e2e configuration must be true or false. "
                                f"Got {value!r} instead.")
    alpha = config.mixup_alpha
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha < 0:
        raise BenchboxError(f"The 'mixup_alpha' parameter of the e2e configuration must be a number >= 0 (0: no "
                            f"mixup). Got {alpha!r} instead.")
    sessions = config.batch_sessions
    if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 0 or (
            sessions and config.batch_size % sessions):
        raise BenchboxError(f"The 'batch_sessions' parameter of the e2e configuration must be 0 (windows from any "
                            f"sessions) or an integer that divides batch_size ({config.batch_size}). "
                            f"Got {sessions!r} instead.")
    if config.loss_pool == "session" and (not sessions or config.mixup_alpha):
        raise BenchboxError(f"loss_pool = 'session' in the e2e configuration needs batch_sessions >= 1 (got "
                            f"{sessions!r}) and no mixup (mixup_alpha = 0, got {config.mixup_alpha!r}): the loss "
                            f"centres each session's windows of a batch, and mixup blends sessions. For mixup, set "
                            f"loss_pool = 'batch'.")
    if config.max_epochs_initialised is not None and (
            not isinstance(config.max_epochs_initialised, int) or config.max_epochs_initialised < 1):
        raise BenchboxError(f"The 'max_epochs_initialised' parameter of the e2e configuration must be a positive "
                            f"integer or None. Got {config.max_epochs_initialised!r} instead.")
    weights = config.visual_pretrained_weights
    if weights is not None and not (isinstance(weights, str) and weights.strip()):
        raise BenchboxError(f"The 'visual_pretrained_weights' parameter of the e2e configuration must be 'imagenet', "
                            f"'none' or the path of a local resnet50 state dict. Got {weights!r} instead.")
    if not 0.0 <= config.input_dropout < 1.0:
        raise BenchboxError(f"The 'input_dropout' parameter of the e2e configuration must be in [0, 1). "
                            f"Got {config.input_dropout!r} instead.")
    if not config.learning_rate > 0:
        raise BenchboxError(f"The 'learning_rate' parameter of the e2e configuration must be > 0. "
                            f"Got {config.learning_rate!r} instead.")
    if config.learning_rate_initialised is not None and not config.learning_rate_initialised > 0:
        raise BenchboxError(f"The 'learning_rate_initialised' parameter of the e2e configuration must be > 0 or "
                            f"None. Got {config.learning_rate_initialised!r} instead.")

