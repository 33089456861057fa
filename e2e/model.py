"""The end-to-end network of Tzirakis et al. (2017): raw-audio CNN, ResNet-50 faces, 2-layer LSTM.

Shapes, per label frame (40 ms):

- audio: 640 raw samples at 16 kHz (the window ``(t - 40 ms, t]`` of the label at ``t``)
  -> :class:`AudioBranch` -> 1,280 features;
- video: one RGB face crop in [0, 1] -> :class:`VisualBranch` -> 2,048 features;
- concatenation -> 2-layer LSTM (256 units) -> linear layer -> one value per target.

The CNNs see one frame at a time (no context across frames); context comes from the LSTM only. That
makes :meth:`EmotionModel.encode` a per-frame function, so features of a whole session can be computed
in chunks and the LSTM run over them afterwards (:func:`predict_frames`).

What each source says, and which choice benchbox makes, is in ``../shared/PAPER.md`` (beside the
repository); the known defects of end2you's ``Emo16`` are avoided here: dropout is an ``nn.Dropout`` (off
in ``eval()``), the second pooling is across channels, and the CCC loss (:mod:`e2e.loss`) uses population
moments only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchbox.errors import BenchboxError
from e2e.config import AUDIO_VARIANTS, CROP_COLOURS

__all__ = [
    "side_by_side_fusion",
    "mix_sequences",
    "AUDIO_VARIANTS",
    "AUDIO_CHUNK_SAMPLES",
    "AUDIO_FEATURES",
    "VISUAL_FEATURES",
    "VISUAL_NETWORKS",
    "CROP_COLOURS",
    "AudioBranch",
    "VisualBranch",
    "EmotionModel",
    "same_conv1d",
    "channel_max_pool",
    "compact_resnet",
    "predict_frames",
    "frames_to_tensor",
    "host_tensor",
    "augment_crops",
    "flip_crops",
    "count_parameters",
    "parameter_count",
    "flops_per_media_second",
]

#: Raw samples per label frame: 40 ms at 16 kHz.
AUDIO_CHUNK_SAMPLES = 640
#: Audio features per frame: 320 time steps (after pooling to 8 kHz) x 40 channels / 10.
AUDIO_FEATURES = 1_280
#: Pooled ResNet-50 features per frame.
VISUAL_FEATURES = 2_048


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
#: ITU-R BT.601 luma weights of R, G, B (``colour="grey"`` in :class:`VisualBranch`).
_LUMA = (0.299, 0.587, 0.114)
#: Added to a crop's SD before dividing by it (a flat crop stays finite: it becomes zeros).
_STANDARDISE_EPS = 1e-3


def same_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """1-D convolution with TensorFlow/PyTorch "same" padding, skipping taps that only ever see padding.

    With "same" padding and a kernel longer than the input (the ``paper`` variant's 4,000 taps on a
    320-sample chunk) most taps multiply zeros for every output. They are cropped before convolving,
    which gives exactly the "same"-padded result (the padding is split as PyTorch and TensorFlow split it:
    ``(k - 1) // 2`` before, the rest after) at a fraction of the cost. Cropped taps get zero gradient,
    as they would in the uncropped convolution.
    """
    length, kernel = x.shape[-1], weight.shape[-1]
    left = (kernel - 1) // 2
    first = max(0, left - length + 1)
    last = min(kernel - 1, left + length - 1)
    pad_before = left - first
    pad_after = (last - first) - pad_before
    return F.conv1d(F.pad(x, (pad_before, pad_after)), weight[..., first : last + 1], bias)


def channel_max_pool(h: torch.Tensor, kernel: int) -> torch.Tensor:
    """Max over groups of ``kernel`` adjacent channels at every time step, flattened time-major.

    ``(N, C, L) -> (N, L * C // kernel)``; element ``[n, l * (C // kernel) + g]`` is the maximum of channels
    ``g * kernel .. (g + 1) * kernel - 1`` at time ``l``, as the released code's pooling over the channel
    axis of an NHWC tensor. (end2you pooled over time instead, which is a different model.)
    """
    n, channels, length = h.shape
    if channels % kernel:
        raise ValueError(f"The 'kernel' parameter of channel_max_pool must divide {channels}. Got {kernel} instead.")
    return h.view(n, channels // kernel, kernel, length).amax(dim=2).transpose(1, 2).reshape(n, -1)


class _SameConv1d(nn.Conv1d):
    """``nn.Conv1d`` (full kernel in the state dict) evaluated with :func:`same_conv1d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return same_conv1d(x, self.weight, self.bias)


class AudioBranch(nn.Module):
    """Raw-audio CNN: ``(batch, time, 640)`` chunks -> ``(batch, time, 1280)`` features.

    Dropout on the input -> Conv1d(1 -> 40, k1, same) + ReLU -> max-pool 2 over time (16 -> 8 kHz) ->
    Conv1d(40 -> 40, k2, same) + ReLU -> max-pool 10 across channels -> 320 x 4 = 1,280 features.
    The ReLUs are TF-slim's default activation in the released code. Dropout (default 0.5, TF-slim's
    default keep probability in the released code) is only active in ``train()`` mode.

    Args:
        variant: ``"paper"`` (kernels 80 and 4,000) or ``"released"`` (20 and 40); see
            :data:`AUDIO_VARIANTS`.
        input_dropout: Dropout probability on the raw samples.
        filters: Channels of both convolutions (40 in both sources).
        channel_pool: Width of the pooling across channels (10 in both sources).
    """

    def __init__(self, variant: Literal["paper", "released"] = "paper", *, input_dropout: float = 0.5,
                 filters: int = 40, channel_pool: int = 10) -> None:
        super().__init__()
        if variant not in AUDIO_VARIANTS:
            raise BenchboxError(
                f"The 'variant' parameter of AudioBranch must be one of {sorted(AUDIO_VARIANTS)}. "
                f"Got {variant!r} instead."
            )
        self.variant = variant
        kernel1, kernel2 = AUDIO_VARIANTS[variant]
        self.channel_pool = channel_pool
        self.dropout = nn.Dropout(input_dropout)
        self.conv1 = _SameConv1d(1, filters, kernel1)
        self.conv2 = _SameConv1d(filters, filters, kernel2)
        self.out_features = (AUDIO_CHUNK_SAMPLES // 2) * filters // channel_pool

    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        batch, time, samples = chunks.shape
        if samples != AUDIO_CHUNK_SAMPLES:
            raise ValueError(f"AudioBranch expects chunks of {AUDIO_CHUNK_SAMPLES} samples. Got {samples} instead.")
        h = self.dropout(chunks.reshape(batch * time, 1, samples))
        h = F.max_pool1d(F.relu(self.conv1(h)), 2)
        h = F.relu(self.conv2(h))
        return channel_max_pool(h, self.channel_pool).view(batch, time, -1)


#: Trunks of :class:`VisualBranch`: ``resnet50`` (the paper) and ``compact`` (see :func:`compact_resnet`).
VISUAL_NETWORKS = ("resnet50", "compact")
#: Channels of the four stages of the ``compact`` trunk (its output features: the last).
COMPACT_WIDTHS = (32, 64, 128, 256)


def compact_resnet(widths: tuple[int, ...] = COMPACT_WIDTHS) -> nn.Sequential:
    """A small residual network for face crops of 48 px: a 3x3 stride-2 stem, one torchvision
    ``BasicBlock`` per stage (stride 2 from the second stage on), global average pooling; ``widths[-1]``
    features. About 1.2 M parameters and 70 MFLOPs per 48 px crop (ResNet-50: 23.5 M and 0.4 GFLOPs)."""
    from torchvision.models.resnet import BasicBlock

    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    channels = widths[0]
    for index, width in enumerate(widths):
        stride = 1 if index == 0 else 2
        downsample = None
        if stride != 1 or channels != width:
            downsample = nn.Sequential(nn.Conv2d(channels, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width))
        layers.append(BasicBlock(channels, width, stride, downsample))
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class VisualBranch(nn.Module):
    """A residual CNN on face crops: ``(N, 3, H, W)`` in [0, 1] -> ``(N, out_features)`` pooled features.

    ImageNet normalisation happens inside, so callers hand over plain [0, 1] crops (96 x 96 in the paper).

    Args:
        pretrained_weights: Where a ``resnet50`` trunk starts (see :mod:`e2e.weights`): ``None`` or
            ``"none"``, random initialisation; ``"imagenet"``, torchvision's ``ResNet50_Weights.IMAGENET1K_V1``
            (read from torch's cache, downloaded there once through torchvision's weights API if absent);
            else a local torchvision ``resnet50`` state dict (``fc.*`` entries, if present, are ignored).
        network: ``"resnet50"`` (the paper: 2,048 features) or ``"compact"`` (:func:`compact_resnet`, 256
            features; random initialisation only).
        colour: ``"rgb"`` (the paper) or ``"grey"``: the crop's luma (BT.601) on all three channels, so that
            skin, hair and background colours -- which tell a handful of training subjects apart -- are not
            there to learn, and ImageNet weights still fit.
        standardise: Standardise each crop with its own mean and SD (over pixels and channels) instead of
            the ImageNet normalisation: takes out exposure, lighting and skin brightness, leaves the
            shapes of mouth, eyes and brows.

    Example:
        >>> branch = VisualBranch(network="compact", colour="grey", standardise=True)
        >>> crops = torch.rand(2, 3, 48, 48)
        >>> bool(torch.allclose(branch(crops), branch(crops * 0.5 + 0.2), atol=2e-3))  # exposure is gone
        True
    """

    def __init__(self, pretrained_weights: str | Path | None = None, network: str = "resnet50", *,
                 colour: str = "rgb", standardise: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet50

        from e2e.weights import is_random_init, visual_weights_file

        if network not in VISUAL_NETWORKS:
            raise BenchboxError(f"The 'network' parameter of VisualBranch must be one of {list(VISUAL_NETWORKS)}. "
                                f"Got {network!r} instead.")
        if network != "resnet50" and not is_random_init(pretrained_weights):
            raise BenchboxError(f"Pretrained weights ({pretrained_weights}) are ResNet-50 weights; the {network!r} "
                                f"visual network starts from random weights (visual_pretrained_weights = 'none').")
        if colour not in CROP_COLOURS:
            raise BenchboxError(f"The 'colour' parameter of VisualBranch must be one of {list(CROP_COLOURS)}. "
                                f"Got {colour!r} instead.")
        self.network, self.colour, self.standardise = network, colour, bool(standardise)
        if network == "resnet50":
            self.resnet = resnet50(weights=None)
            self.resnet.fc = nn.Identity()
            self.out_features = VISUAL_FEATURES
        else:
            self.resnet = compact_resnet()
            self.out_features = COMPACT_WIDTHS[-1]
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)
        #: Feed the trunk channels-last crops (set with the network in that format, on CUDA).
        self.channels_last = False
        path = visual_weights_file(pretrained_weights, "VisualBranch")
        if path is not None:
            self.load_resnet_weights(path)

    def load_resnet_weights(self, path: str | Path) -> None:
        """Load a local torchvision ResNet-50 state dict into the trunk (``fc.*`` ignored)."""
        path = Path(path)
        if not path.is_file():
            raise BenchboxError(
                f"ResNet-50 weights file {path} does not exist. Give a local torchvision resnet50 state dict."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = self.resnet.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise BenchboxError(
                f"{path} is not a torchvision resnet50 state dict: missing {_first(missing)}, "
                f"unexpected {_first(unexpected)}."
            )

    def normalise(self, crops: torch.Tensor) -> torch.Tensor:
        """What the trunk sees of ``(N, 3, H, W)`` crops in [0, 1]: grey or colour, standardised per crop or
        with ImageNet's statistics."""
        if self.colour == "grey":
            crops = (crops * self.luma).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        if self.standardise:
            mean = crops.mean(dim=(1, 2, 3), keepdim=True)
            sd = crops.std(dim=(1, 2, 3), keepdim=True)
            return (crops - mean) / (sd + _STANDARDISE_EPS)
        return (crops - self.mean) / self.std

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        crops = self.normalise(crops)
        if self.channels_last:
            crops = crops.contiguous(memory_format=torch.channels_last)
        return self.resnet(crops)


def _first(keys: Iterable[str], count: int = 3) -> str:
    keys = list(keys)
    if not keys:
        return "none"
    return ", ".join(keys[:count]) + (f" and {len(keys) - count} more" if len(keys) > count else "")


class EmotionModel(nn.Module):
    """Unimodal or audiovisual end-to-end model; one prediction per frame and target.

    Args:
        modalities: Subset of ``{"audio", "video"}``; features are concatenated audio first.
        num_targets: Outputs per frame (2: arousal, valence).
        audio_variant: ``"paper"`` or ``"released"`` kernels of :class:`AudioBranch`.
        input_dropout: Dropout on the raw audio.
        lstm_hidden: Units per LSTM layer (256).
        lstm_layers: LSTM layers (2).
        visual_pretrained_weights: Starting weights of :class:`VisualBranch` (see :mod:`e2e.weights`).
        visual_network: Trunk of :class:`VisualBranch`: ``"resnet50"`` (the paper) or ``"compact"``.
        crop_colour: ``"rgb"`` or ``"grey"`` crops in :class:`VisualBranch`.
        crop_standardise: Standardise each crop with its own statistics in :class:`VisualBranch`.
        visual_stride: The ResNet sees every ``visual_stride``-th frame of a sequence (its first frame,
            then every ``visual_stride`` frames) and each of those frames' features is held for the
            following ``visual_stride - 1`` frames; 1 (the paper) encodes every frame.

    Example:
        >>> model = EmotionModel(("audio",), 2, audio_variant="released", lstm_hidden=8).eval()
        >>> model(audio=torch.zeros(1, 3, 640))[0].shape
        torch.Size([1, 3, 2])
    """

    def __init__(self, modalities: Iterable[str] = ("audio",), num_targets: int = 2, *,
                 audio_variant: Literal["paper", "released"] = "paper", input_dropout: float = 0.5,
                 lstm_hidden: int = 256, lstm_layers: int = 2,
                 visual_pretrained_weights: str | Path | None = None, visual_stride: int = 1,
                 visual_network: str = "resnet50", crop_colour: str = "rgb", crop_standardise: bool = False) -> None:
        super().__init__()
        if not isinstance(visual_stride, int) or visual_stride < 1:
            raise BenchboxError(f"The 'visual_stride' parameter of EmotionModel must be a positive integer. "
                                f"Got {visual_stride!r} instead.")
        self.visual_stride = visual_stride
        self.modalities = tuple(m for m in ("audio", "video") if m in set(modalities))
        unknown = set(modalities) - {"audio", "video"}
        if unknown or not self.modalities:
            raise BenchboxError(
                f"The 'modalities' parameter of EmotionModel must be a non-empty subset of ['audio', 'video']. "
                f"Got {sorted(set(modalities))} instead."
            )
        self.audio = AudioBranch(audio_variant, input_dropout=input_dropout) if "audio" in self.modalities else None
        self.video = (VisualBranch(visual_pretrained_weights, visual_network, colour=crop_colour,
                                   standardise=crop_standardise) if "video" in self.modalities else None)
        features = sum(b.out_features for b in (self.audio, self.video) if b is not None)
        self.lstm = nn.LSTM(features, lstm_hidden, num_layers=lstm_layers, batch_first=True)
        self.head = nn.Linear(lstm_hidden, num_targets)

    def encode(self, audio: torch.Tensor | None = None, video: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame features ``(batch, time, F)`` from audio chunks ``(batch, time, 640)`` and/or
        crops ``(batch, time, 3, H, W)`` in [0, 1]."""
        parts = []
        if self.audio is not None:
            if audio is None:
                raise ValueError("This EmotionModel uses audio; pass audio=(batch, time, 640).")
            parts.append(self.audio(audio))
        if self.video is not None:
            if video is None:
                raise ValueError("This EmotionModel uses video; pass video=(batch, time, 3, H, W).")
            batch, time = video.shape[:2]
            stride = self.visual_stride
            sampled = video[:, ::stride] if stride > 1 else video
            features = self.video(sampled.flatten(0, 1)).view(batch, sampled.shape[1], -1)
            if stride > 1:  # hold each encoded frame's features until the next encoded frame
                features = features.repeat_interleave(stride, dim=1)[:, :time]
            parts.append(features)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def decode(self, features: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """LSTM + linear head over ``(batch, time, F)`` features; returns ``(predictions, state)``."""
        hidden, state = self.lstm(features, state)
        return self.head(hidden), state

    def forward(self, audio: torch.Tensor | None = None, video: torch.Tensor | None = None,
                state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """``(predictions (batch, time, num_targets), LSTM state)``; pass the state back to continue."""
        return self.decode(self.encode(audio, video), state)


def side_by_side_fusion(model: EmotionModel, unimodal: Mapping[str, Mapping[str, torch.Tensor]],
                        head_weights: np.ndarray) -> None:
    """Set the LSTM and head of the audiovisual ``model`` so that it computes a late fusion of two unimodal
    networks: its LSTM (twice their units) holds both of theirs side by side, block-diagonal (the first
    half reads only the audio features and its own state, the second only the video features and its
    own), and its head adds the two heads' outputs with ``head_weights`` (``(targets, 3)``: audio weight,
    video weight, intercept, as :func:`baselines.fusion.fusion_coefficients`). The cross-modal weights
    start at zero; fine-tuning end to end learns them. The branches are loaded separately.

    Args:
        model: An audiovisual network with ``lstm_hidden`` twice the unimodal networks'.
        unimodal: The state dicts of the unimodal audio and video networks, by modality.
        head_weights: Per target, the weights of the audio and video predictions and an intercept.
    """
    if model.modalities != ("audio", "video"):
        raise BenchboxError(f"side_by_side_fusion needs an audiovisual network; got modalities {model.modalities}.")
    hidden, layers = model.lstm.hidden_size, model.lstm.num_layers
    half = hidden // 2
    widths = {"audio": model.audio.out_features, "video": model.video.out_features}
    columns = {"audio": slice(0, widths["audio"]), "video": slice(widths["audio"], sum(widths.values()))}
    for modality, state in unimodal.items():
        expected = {f"weight_hh_l{k}": (4 * half, half) for k in range(layers)}
        expected |= {"weight_ih_l0": (4 * half, widths[modality]), "head.weight": (model.head.out_features, half)}
        for name, shape in expected.items():
            key = name if name.startswith("head.") else f"lstm.{name}"
            if key not in state or tuple(state[key].shape) != shape:
                raise BenchboxError(f"The stored e2e-{modality} network does not fit this audiovisual network "
                                    f"side by side ({key}: expected shape {shape}); use the same preset.")
    weights = torch.as_tensor(np.asarray(head_weights), dtype=torch.float32)
    with torch.no_grad():
        for name, value in model.lstm.named_parameters():
            value.zero_()
            for index, modality in enumerate(("audio", "video")):
                source = unimodal[modality][f"lstm.{name}"]
                rows = [slice(gate * hidden + index * half, gate * hidden + (index + 1) * half) for gate in range(4)]
                for gate, row in enumerate(rows):  # gates i, f, g, o: each is a block of rows
                    part = source[gate * half:(gate + 1) * half]
                    if name.startswith("bias"):
                        value[row] = part
                    elif name == "weight_ih_l0":
                        value[row, columns[modality]] = part
                    else:  # the previous layer's or its own state: its own half
                        value[row, index * half:(index + 1) * half] = part
        model.head.weight.zero_()
        model.head.bias.copy_(weights[:, 2])
        for index, modality in enumerate(("audio", "video")):
            scale = weights[:, index : index + 1]
            model.head.weight[:, index * half:(index + 1) * half] = scale * unimodal[modality]["head.weight"]
            model.head.bias += weights[:, index] * unimodal[modality]["head.bias"]


def _window_starts(num_frames: int, window_frames: int, hop_frames: int) -> list[int]:
    if num_frames <= window_frames:
        return [0]
    starts = list(range(0, num_frames - window_frames + 1, hop_frames))
    if starts[-1] + window_frames < num_frames:
        starts.append(num_frames - window_frames)
    return starts


@torch.no_grad()
def predict_frames(model: EmotionModel, inputs: dict[str, np.ndarray], *, window_frames: int = 150,
                   context: Literal["overlap", "carry"] = "overlap", hop_frames: int | None = None,
                   encode_batch_frames: int = 256, device: str | torch.device = "cpu",
                   autocast_bf16: bool = False) -> np.ndarray:
    """Predictions ``(num_frames, num_targets)`` for one whole session of any length, in eval mode.

    The CNN features are computed frame by frame in chunks of ``encode_batch_frames`` (rounded down to a
    multiple of the model's ``visual_stride``, so the encoded video frames are every ``visual_stride``-th
    frame of the session); then the LSTM runs

    - ``context="carry"``: over the whole session in one pass (the LSTM state is carried from the first
      to the last frame, as in streaming);
    - ``context="overlap"``: over windows of ``window_frames`` that start every ``hop_frames`` (default
      half a window), each from a zero state as in training; every frame takes its prediction from the
      earliest window that contains it, so it has at least ``window_frames - hop_frames`` frames of
      context (except the first frames of the session). Sessions shorter than a window are one window.

    Args:
        model: The network; it is put in ``eval()`` mode (dropout off).
        inputs: Per modality, an array with one row per frame (audio ``(T, 640)``; video face crops
            ``(T, H, W, 3)``, uint8 or float in [0, 1]); all with the same ``T``.
        autocast_bf16: Run the network under bfloat16 autocast (the CUDA path).
    """
    model.eval()
    if context not in ("overlap", "carry"):
        raise BenchboxError(
            f"The 'context' parameter of predict_frames must be 'overlap' or 'carry'. Got {context!r} instead."
        )
    lengths = {len(v) for v in inputs.values()}
    if len(lengths) != 1:
        raise ValueError(f"All modalities must have the same number of frames. Got {sorted(lengths)}.")
    num_frames = lengths.pop()
    stride = getattr(model, "visual_stride", 1)
    chunk = max(stride, encode_batch_frames // stride * stride)
    device_type = torch.device(device).type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast_bf16):
        features = []
        for start in range(0, num_frames, chunk):
            batch = {m: frames_to_tensor(m, v[start : start + chunk], device)[None] for m, v in inputs.items()}
            features.append(model.encode(**batch))
        features = torch.cat(features, dim=1)
        if context == "carry":
            return model.decode(features)[0][0].double().cpu().numpy()
        hop_frames = hop_frames or max(1, window_frames // 2)
        length = min(window_frames, num_frames)
        starts = _window_starts(num_frames, length, hop_frames)
        windows = torch.stack([features[0, s : s + length] for s in starts])
        predictions = model.decode(windows)[0].double().cpu().numpy()
    out = np.empty((num_frames, predictions.shape[-1]))
    covered = 0
    for index, start in enumerate(starts):
        end = start + length
        out[covered:end] = predictions[index, covered - start :]
        covered = end
    return out


def host_tensor(array: np.ndarray) -> torch.Tensor:
    """``array`` as a CPU tensor, sharing its memory where torch may (a copy of a read-only array: memory-mapped
    cache entries are read-only, and torch warns on them and must not write into them).

    Example:
        >>> frozen = np.zeros(3, dtype=np.float32); frozen.flags.writeable = False
        >>> host_tensor(frozen).tolist()
        [0.0, 0.0, 0.0]
    """
    array = np.asarray(array)
    if not array.flags.writeable:
        array = np.array(array)
    return torch.from_numpy(np.ascontiguousarray(array))


def frames_to_tensor(modality: str, array: np.ndarray | torch.Tensor, device) -> torch.Tensor:
    """A batch of frames as a float tensor on ``device``.

    Audio stays as it is. Video arrays are channels-last face crops ``(..., H, W, 3)``, uint8 (scaled to
    [0, 1]) or float in [0, 1], and come back channels-first ``(..., 3, H, W)``. A tensor already on the
    device (a resident training set) is converted there without a copy through host memory.
    """
    tensor = array.to(device) if isinstance(array, torch.Tensor) else host_tensor(array).to(device)
    if modality != "video":
        return tensor.float()
    scaled = tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    return scaled.movedim(-1, -3)


def augment_crops(crops: torch.Tensor, *, enlarge: float = 110 / 96, brightness: float = 32 / 255,
                  contrast: tuple[float, float] = (0.5, 1.5), colour: bool = True) -> torch.Tensor:
    """The paper's training augmentation of face crops ``(..., 3, H, W)`` in [0, 1], per frame.

    Resize by ``enlarge`` (96 -> 110 px in the paper), take a random ``H x W`` crop, then a random
    brightness shift and contrast factor (the paper's "colour distortion"; its exact parameters are not
    published, these follow TensorFlow's ``random_brightness`` / ``random_contrast`` usage; ``colour=False``
    leaves it out). Uses the
    global torch RNG, so it is reproducible under a seed and restored with a checkpoint.
    """
    shape = crops.shape
    flat = crops.reshape(-1, *shape[-3:])
    height, width = shape[-2:]
    big_h, big_w = round(height * enlarge), round(width * enlarge)
    big = F.interpolate(flat, size=(big_h, big_w), mode="bilinear", align_corners=False)
    n = flat.shape[0]
    top = torch.randint(0, big_h - height + 1, (n,))
    left = torch.randint(0, big_w - width + 1, (n,))
    rows = (top[:, None] + torch.arange(height)[None]).to(flat.device)
    cols = (left[:, None] + torch.arange(width)[None]).to(flat.device)
    index = torch.arange(n, device=flat.device)[:, None, None, None]
    channel = torch.arange(3, device=flat.device)[None, :, None, None]
    out = big[index, channel, rows[:, None, :, None], cols[:, None, None, :]]
    if not colour:
        return out.reshape(shape)
    shift = (torch.rand(n, 1, 1, 1) * 2 - 1).to(flat.device) * brightness
    factor = (torch.rand(n, 1, 1, 1) * (contrast[1] - contrast[0]) + contrast[0]).to(flat.device)
    mean = out.mean(dim=(-3, -2, -1), keepdim=True)
    out = ((out - mean) * factor + mean + shift).clamp(0.0, 1.0)
    return out.reshape(shape)


def flip_crops(crops: torch.Tensor, probability: float = 0.5) -> torch.Tensor:
    """Mirror each face crop of ``(..., 3, H, W)`` left to right with ``probability``, independently.

    A mirrored face shows the same expression on another face (a smile stays a smile), so flips add
    appearance variety without changing what the labels describe. Uses the global torch RNG (reproducible
    under a seed, restored with a checkpoint).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> crops = torch.arange(4.0).view(1, 1, 1, 4).expand(8, 3, 2, 4)
        >>> sorted({tuple(c[0, 0].tolist()) for c in flip_crops(crops)})
        [(0.0, 1.0, 2.0, 3.0), (3.0, 2.0, 1.0, 0.0)]
    """
    shape = crops.shape
    flat = crops.reshape(-1, *shape[-3:])
    mirrored = (torch.rand(flat.shape[0]) < probability).to(flat.device)
    return torch.where(mirrored[:, None, None, None], flat.flip(-1), flat).reshape(shape)


def mix_sequences(inputs: Mapping[str, torch.Tensor], labels: torch.Tensor,
                  alpha: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Mixup between the sequences of a batch (Zhang et al. 2018): sequence ``i`` becomes
    ``lam_i * x_i + (1 - lam_i) * x_j`` for a random partner ``j``, its inputs (every modality, so that
    audio and faces stay together) and its labels alike, ``lam_i`` drawn from Beta(alpha, alpha) and folded
    to at least 0.5. Integer inputs (uint8 crops) are rounded back to their dtype.

    Blending the faces of two subjects with their labels asks the network to answer in between, meant to
    keep it from learning a level per training face (on the embedded corpus it did not raise e2e-video's
    held-out CCC; see the README). Uses the global torch RNG (reproducible under a seed).

    Args:
        inputs: ``{modality: (batch, time, ...)}``.
        labels: ``(batch, time, targets)``.
        alpha: Beta parameter, > 0.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> x = {"video": torch.tensor([0, 200], dtype=torch.uint8).view(2, 1, 1).expand(2, 3, 4)}
        >>> y = torch.tensor([0.0, 1.0]).view(2, 1, 1).expand(2, 3, 1)
        >>> mixed, mixed_y = mix_sequences(x, y, 0.4)
        >>> bool(torch.allclose(mixed["video"][:, 0, 0].float() / 200, mixed_y[:, 0, 0], atol=0.01))
        True
    """
    batch = labels.shape[0]
    partner = torch.randperm(batch)
    lam = torch.distributions.Beta(float(alpha), float(alpha)).sample((batch,))
    lam = torch.maximum(lam, 1 - lam)

    def blend(x: torch.Tensor) -> torch.Tensor:
        weight = lam.to(x.device).view((batch,) + (1,) * (x.dim() - 1))
        mixed = weight * x.float() + (1 - weight) * x[partner.to(x.device)].float()
        return mixed.to(x.dtype) if x.dtype.is_floating_point else mixed.round().to(x.dtype)

    return {name: blend(value) for name, value in inputs.items()}, blend(labels)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (all trainable in this model)."""
    return sum(p.numel() for p in module.parameters())


def flops_per_media_second(modalities: Iterable[str], num_targets: int, *, audio_variant: str,
                           lstm_hidden: int = 256, lstm_layers: int = 2, crop_size: int = 96,
                           visual_stride: int = 1, visual_network: str = "resnet50",
                           frame_rate_hz: float = 25.0) -> int:
    """Forward FLOPs for one second of media (25 frames, batch 1), counted by ``FlopCounterMode``.

    The model is built on the ``meta`` device (no memory, no compute). FlopCounterMode counts matrix
    multiplications and convolutions (2 FLOPs per multiply-add), not element-wise work; the ``paper``
    audio convolution counts only the taps that can touch data (see :func:`same_conv1d`); with
    ``visual_stride`` > 1 the ResNet runs on every ``visual_stride``-th of the 25 frames.
    """
    from torch.utils.flop_counter import FlopCounterMode

    frames = int(round(frame_rate_hz))
    with torch.device("meta"):
        model = EmotionModel(modalities, num_targets, audio_variant=audio_variant, lstm_hidden=lstm_hidden,
                             lstm_layers=lstm_layers, visual_stride=visual_stride,
                             visual_network=visual_network).eval()
        inputs = {}
        if "audio" in model.modalities:
            inputs["audio"] = torch.empty(1, frames, AUDIO_CHUNK_SAMPLES)
        if "video" in model.modalities:
            inputs["video"] = torch.empty(1, frames, 3, crop_size, crop_size)
    with FlopCounterMode(display=False) as counter:
        model(**inputs)
    return int(counter.get_total_flops())


def parameter_count(modalities: Iterable[str], num_targets: int, *, audio_variant: str, lstm_hidden: int = 256,
                    lstm_layers: int = 2, visual_network: str = "resnet50") -> int:
    """Parameters of an :class:`EmotionModel` of this configuration (built on ``meta``, no memory)."""
    with torch.device("meta"):
        model = EmotionModel(modalities, num_targets, audio_variant=audio_variant, lstm_hidden=lstm_hidden,
                             lstm_layers=lstm_layers, visual_network=visual_network)
    return count_parameters(model)

