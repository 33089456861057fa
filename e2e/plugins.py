"""benchbox model plugins of the end-to-end model of Tzirakis et al. (2017).

- ``e2e-audio`` (:class:`E2EAudio`): raw-audio CNN + 2-layer LSTM;
- ``e2e-video`` (:class:`E2EVideo`): ResNet-50 on face crops + 2-layer LSTM;
- ``e2e-av`` (:class:`E2EAV`): both CNNs, features concatenated into a 2-layer LSTM, initialised from the
  unimodal models' weights and fine-tuned end to end (the paper's recipe).

Face crops come from :func:`e2e.data.label_frame_crops` (the crops of :mod:`benchbox.faces` that the
video baselines read, one per label frame, resized to the preset's crop size); a ``crop_loader`` can
replace it.

The harness creates a fresh plugin per annotation-delay candidate and hands it already shifted labels;
delay and post-processing are the harness's job, not the model's. Preset (see :mod:`e2e.config`): the
constructor's ``preset`` (the harness sets it from ``$BENCHBOX_E2E_PRESET`` where a run gives none, see
``environment_options``), else ``paper`` on CUDA and the CPU preset of the model's modalities on the CPU
(``cpu`` for audio, ``cpu-video`` for video, ``cpu-48px`` for audio-visual). The preset name and
everything it changes are always in :meth:`profile_info`. Single fields of :class:`e2e.config.E2EConfig` can
be changed with keyword arguments (``E2EVideo(visual_pretrained_weights="resnet50.pth")``; the same as
``overrides={...}``), which is how a suite's ``[models.options.<name>]`` and ``benchbox run --option``
reach them.

Unimodal weights for ``e2e-av``: after training, the unimodal plugins store their best weights in the
content-addressed cache (extractor ``e2e-weights``), keyed by model name, configuration, targets, seed,
the training and selection sessions (ids, lengths and a digest of their labels, so the annotation delay
is part of the key), the SHA-256 of their media files and of the ResNet-50 weights file they started
from, if any. ``e2e-av`` declares ``requires = ("e2e-audio", "e2e-video")`` so that the harness runs
those first (same seed, same delay, same data), looks their weights up under the key they were stored
with (each created with the options the run gives it, ``ModelContext.model_options``, and the preset
``e2e-av`` was given explicitly if they have none), loads the audio branch from one and the visual
branch from the other, and starts the fusion LSTM and head as the configuration's ``fusion_init`` says:
``"both"`` (the CPU presets) holds the two unimodal LSTMs side by side and starts each target's head as that
of the network with the better select CCC on that target (:func:`better_branch_weights`), so that it starts
as the audio network on arousal and the video network on valence where select says so, and fine-tuning
learns the cross-modal weights; ``"better"`` (the paper preset's fusion LSTM of 256 units) takes the LSTM and
head of the unimodal model with the better select CCC (mean of the targets), with zero weights on the other
modality's features. Early stopping also scores the starting point and can keep it. It records
``initialised_from`` (with the head weights and the select CCCs they were chosen on).
Where a unimodal model's weights are not in the cache, that branch starts from random weights and a
:class:`UnimodalWeightsMissingWarning` says so (it ends up in the run's report). ``combines_predictions =
False`` tells the harness that, unlike late fusion, ``e2e-av`` goes through the suite's protocol (delay
search and post-processing) like any other model; a suite should give it the same delay candidates as
the unimodal models, as ``avec2016`` does.

This module imports neither torch nor torchvision: ``benchbox models`` lists it instantly.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import LabelledSession, Session
from benchbox.errors import BenchboxError
from benchbox.plugin import ModelContext

__all__ = ["E2EAudio", "E2EVideo", "E2EAV", "CropLoader", "PRESET_ENVIRONMENT_VARIABLE", "better_branch_weights",
           "UnimodalWeightsMissingWarning", "WEIGHTS_EXTRACTOR", "fill_e2e_cache"]

#: ``loader(session, cache, size) -> uint8 array (session.num_frames, size, size, 3)``: one RGB face crop
#: per label frame.
CropLoader = Callable[[Session, Cache, int], np.ndarray]
#: Environment variable naming the preset of every e2e plugin created without an explicit one.
PRESET_ENVIRONMENT_VARIABLE = "BENCHBOX_E2E_PRESET"
#: Cache extractor name (and version) of stored model weights.
WEIGHTS_EXTRACTOR = "e2e-weights"
_WEIGHTS_VERSION = "2"  # 2: loss_pool = "session" networks centred on their training sessions


def better_branch_weights(audio: np.ndarray, video: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the head weights (audio, video, intercept) of a side-by-side audiovisual network that
    starts as the unimodal network with the higher global CCC on the select partition (ties: audio), and
    those CCCs.

    A ranking rather than a fitted blend: the select partition holds 3 sessions on AVEC 2016, and least
    squares on them followed their levels (a video model whose select arousal matched 3 session means got
    weight 1.43 and dev arousal CCC 0.00). Fine-tuning learns what the other modality adds.

    Args:
        audio, video: Select predictions of the two unimodal networks, ``(frames, targets)``.
        labels: Select labels, ``(frames, targets)``.

    Returns:
        ``(weights (targets, 3), ccc (targets, 2))``.

    Example:
        >>> t = np.linspace(0, 6, 200)
        >>> labels = np.column_stack([np.sin(t), np.cos(t)])
        >>> weights, _ = better_branch_weights(labels + [0.0, 1.0], labels + [1.0, 0.0], labels)
        >>> weights.tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    from benchbox.metrics import ccc_score

    scores = np.array([[ccc_score(labels[:, k], branch[:, k]) for branch in (audio, video)]
                       for k in range(labels.shape[1])])
    weights = np.zeros((labels.shape[1], 3))
    weights[np.arange(labels.shape[1]), np.where(scores[:, 1] > scores[:, 0], 1, 0)] = 1.0
    return weights, scores


class UnimodalWeightsMissingWarning(UserWarning):
    """``e2e-av`` found no stored weights of a unimodal model; that branch starts from random weights."""


def fill_e2e_cache(session: Session, cache: Cache, *, audio: bool = False, crop_size: int | None = None,
                   crop_normalisation: str = "none") -> None:
    """The cached inputs of the e2e models for one session: raw-audio chunks, face crops at ``crop_size``
    normalised as the configuration says (the feature job of :meth:`_E2EModel.feature_requests`)."""
    from e2e.data import cached_audio_chunks, label_frame_crops

    if audio:
        cached_audio_chunks(session, cache)
    if crop_size is not None:
        label_frame_crops(session, cache, size=crop_size, normalisation=crop_normalisation)


class _E2EModel:
    """Shared fit/predict/profile of the end-to-end plugins; subclasses set name and modalities."""

    name: str = ""
    modalities: frozenset[str] = frozenset()
    family = "end-to-end"
    framework = "torch"  # benchbox run --profile records fit and predict with the torch profiler
    #: A unit trains on up to 4 cores (torch threads; on a GPU they feed it), plus a GPU on a CUDA device.
    resources: Mapping[str, float] = {"num_cpus": 4}
    description: str = ""
    #: Unimodal models whose stored weights initialise this model's branches ({modality: model name}).
    init_from: Mapping[str, str] = {}
    #: The harness gives the ``preset`` option from ``$BENCHBOX_E2E_PRESET`` where the suite sets none, so
    #: the preset chosen in the environment is part of the run's identity (see benchbox.plugin).
    environment_options: Mapping[str, str] = {"preset": PRESET_ENVIRONMENT_VARIABLE}

    def __init__(self, preset: str | None = None, *, overrides: Mapping[str, Any] | None = None,
                 crop_loader: CropLoader | None = None, **config: Any) -> None:
        self.preset = preset
        self.overrides = {**dict(overrides or {}), **config} or None
        self.crop_loader = crop_loader
        self.preset_: str | None = None
        self.preset_source_: str | None = None
        self.config_ = None
        self.runtime_ = None
        self.model_ = None
        self.result_ = None
        self.device_: str | None = None
        self.num_targets_: int | None = None
        self.initialised_from_: dict[str, Any] | None = None
        self.fine_tuning_: dict[str, Any] | None = None
        self.weights_key_: str | None = None
        self.fit_memory_: dict[str, Any] | None = None
        self.predict_memory_: dict[str, Any] | None = None
        self.inference_seconds_ = 0.0
        self.inference_media_seconds_ = 0.0
        self._flops: dict[tuple, int] = {}

    # -- configuration -------------------------------------------------------------------------------
    def validate_options(self) -> None:
        """Check the options (called by the harness when it creates the model, before the run starts):
        known configuration fields, a known preset, an existing local ResNet-50 weights file."""
        from e2e.config import check_config_fields, check_preset
        from e2e.weights import is_imagenet, is_random_init, visual_weights_file

        owner = f"Model {self.name!r}"
        overrides = dict(self.overrides or {})
        check_config_fields(overrides, owner)
        if self.preset is not None:
            check_preset(self.preset, owner)
        weights = overrides.get("visual_pretrained_weights")
        if "video" in self.modalities and not (is_random_init(weights) or is_imagenet(weights)):
            visual_weights_file(weights, owner)  # a local file must exist; ImageNet is fetched in prepare()

    def prepare(self, device: str) -> None:
        """Fetch what this model needs on ``device`` before the run starts (the harness calls this once per
        run): the ImageNet ResNet-50 through torchvision's weights API where the configuration starts the
        visual branch from it (the ``paper`` preset does). Offline and not cached: a BenchboxError naming
        the file torchvision looks for."""
        from e2e.weights import visual_weights_file

        if "video" in self.modalities:
            visual_weights_file(self._resolve_for(device)[1].visual_pretrained_weights, f"Model {self.name!r}")

    def _resolve(self, ctx: ModelContext):
        """``(preset, config, where the preset came from)`` for this context (see :meth:`_resolve_for`)."""
        return self._resolve_for(ctx.device)

    def _resolve_for(self, device: str):
        """``(preset, config, where the preset came from)`` on ``device``: the ``preset`` option (which the
        harness sets from ``$BENCHBOX_E2E_PRESET`` where a run gives none), else the device's default."""
        from e2e.config import default_preset, resolve_config

        if self.preset:
            preset, source = self.preset, "option"
        else:
            preset, source = default_preset(device, self.modalities), f"default for {device}"
        return preset, resolve_config(preset, self.overrides), source

    # -- data ------------------------------------------------------------------------------------------
    def feature_requests(self, device: str):
        """The cached inputs every session needs (audio chunks; face crops at the preset's size), extracted
        by the harness per session before the unit starts (:mod:`benchbox.features`)."""
        from benchbox.features import FeatureRequest

        config = self._resolve_for(device)[1]
        requests = []
        if "audio" in self.modalities:
            requests.append(FeatureRequest("e2e.plugins:fill_e2e_cache", "audio", {"audio": True},
                                           label="e2e audio"))
        if "video" in self.modalities and self.crop_loader is None:
            params = {"crop_size": config.crop_size}
            if config.crop_normalisation != "none":
                params["crop_normalisation"] = config.crop_normalisation
            requests.append(FeatureRequest("e2e.plugins:fill_e2e_cache", "video", params,
                                           label=f"e2e crops {config.crop_size} px"))
        return requests

    def _inputs(self, session: Session, ctx: ModelContext) -> dict[str, np.ndarray]:
        from e2e.data import cached_audio_chunks

        inputs = {}
        if "audio" in self.modalities:
            inputs["audio"] = cached_audio_chunks(session, ctx.cache)
        if "video" in self.modalities:
            from e2e.data import label_frame_crops, session_normalised

            size, normalisation = self.config_.crop_size, self.config_.crop_normalisation
            if self.crop_loader is None:
                crops = label_frame_crops(session, ctx.cache, size=size, normalisation=normalisation)
            else:
                crops = self.crop_loader(session, ctx.cache, size)
            if crops.ndim != 4 or tuple(crops.shape[1:]) != (size, size, 3) or crops.shape[0] != session.num_frames:
                raise BenchboxError(
                    f"Model {self.name!r}, session {session.id!r}: face crops must have shape "
                    f"({session.num_frames}, {size}, {size}, 3) (one RGB crop per label frame at the preset's "
                    f"crop size). Got {tuple(crops.shape)} instead."
                )
            if self.crop_loader is not None and normalisation == "session":
                crops = session_normalised(crops)
            inputs["video"] = crops
        return inputs

    def _arrays(self, sessions: Sequence[LabelledSession], ctx: ModelContext):
        from e2e.data import SessionArrays

        out = []
        for s in sessions:
            labels = np.asarray(s.labels, dtype=np.float32)
            if labels.shape != (s.num_frames, len(ctx.targets)):
                raise BenchboxError(f"Session {s.id!r}: labels have shape {labels.shape}; expected "
                                    f"({s.num_frames}, {len(ctx.targets)}) for targets {', '.join(ctx.targets)}.")
            out.append(SessionArrays(s.id, self._inputs(s, ctx), labels))
        return out

    # -- stored weights ------------------------------------------------------------------------------
    def weights_path(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession],
                     ctx: ModelContext, config=None) -> Path:
        """Where this model's best weights for this data, configuration, targets and seed are cached."""
        config = config or self._resolve(ctx)[1]
        media = [p for s in (*train, *select) for p in _media_paths(s, self.modalities)]
        media += _initial_weight_files(config, self.modalities)  # their content, not only their path
        params = {"model": self.name, "config": config.as_dict(), "targets": list(ctx.targets), "seed": ctx.seed,
                  "train": [_session_key(s) for s in train], "select": [_session_key(s) for s in select]}
        key = ctx.cache.key(WEIGHTS_EXTRACTOR, _WEIGHTS_VERSION, params, media)
        return ctx.cache.entry_path(WEIGHTS_EXTRACTOR, key, ".pt")

    def _store_weights(self, path: Path) -> None:
        import torch

        from benchbox import atomic

        payload = {"state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
                   "model": self.name, "preset": self.preset_,
                   "best_epoch": self.result_.best_epoch, "best_select_global_ccc_mean": self.result_.best_select_ccc}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)

    def _initialise_branches(self, model, train, select, ctx: ModelContext, select_arrays=None) -> dict[str, Any]:
        """Load each branch named in :attr:`init_from` from the stored weights of its unimodal model, and the
        fusion LSTM and head from both (the configuration's ``fusion_init``)."""
        import torch

        from benchbox.registry import create_model

        record: dict[str, Any] = {}
        sources: dict[str, dict] = {}
        for modality, source in self.init_from.items():
            # created as the run creates it (with the run's options for it), so that its weights are looked up
            # under the key they were stored with; used directly (no run options), with this model's preset
            if ctx.model_options:
                options = dict(ctx.model_options.get(source, {}))
            else:
                options = {"preset": self.preset} if self.preset else {}
            unimodal = create_model(source, options)
            path = unimodal.weights_path(train, select, ctx)
            if not path.exists():
                preset = unimodal._resolve(ctx)[0]
                warnings.warn(f"{self.name}: no stored weights of {source!r} (preset {preset!r}, options "
                              f"{options or 'none'}) for this data, seed and configuration ({path.name[:12]}...); the "
                              f"{modality} branch starts from random weights. Run {source!r} first in the same run "
                              f"(the default order does), with the options and preset {self.name!r} has.",
                              UnimodalWeightsMissingWarning, stacklevel=2)
                record[modality] = None
                continue
            stored = torch.load(path, map_location="cpu", weights_only=True)
            prefix = f"{modality}."
            branch = {k: v for k, v in stored["state_dict"].items() if k.startswith(prefix)}
            expected = {k for k in model.state_dict() if k.startswith(prefix)}
            if set(branch) != expected:
                raise BenchboxError(f"{self.name}: the stored {source!r} weights ({path}) do not fit the {modality} "
                                    f"branch of this configuration.")
            try:
                model.load_state_dict(branch, strict=False)
            except RuntimeError as exc:
                raise BenchboxError(f"{self.name}: the stored {source!r} weights ({path}) do not fit the {modality} "
                                    f"branch of this configuration: {exc}") from exc
            record[modality] = {"model": source, "preset": stored.get("preset"), "weights": path.stem[:16],
                                "best_epoch": stored.get("best_epoch"),
                                "best_select_global_ccc_mean": stored.get("best_select_global_ccc_mean")}
            sources[modality] = stored["state_dict"]
        if sources and len(sources) == len(self.init_from):
            config = self.config_ or self._resolve(ctx)[1]
            if config.fusion_init == "both":
                arrays = select_arrays if select_arrays is not None else self._arrays(select, ctx)
                record.update(self._fuse_side_by_side(model, sources, arrays, ctx, config))
            else:
                record["fusion"] = self._initialise_fusion(model, sources, record)
        return record

    def _fuse_side_by_side(self, model, sources: dict[str, dict], select_arrays, ctx: ModelContext,
                           config) -> dict[str, Any]:
        """``fusion_init = "both"``: the audiovisual network holds the two unimodal networks side by side
        (:func:`e2e.model.side_by_side_fusion`) and starts, per target, as the one with the better global CCC
        on the select partition (:func:`better_branch_weights`)."""
        from e2e.config import runtime_settings
        from e2e.model import EmotionModel, predict_frames, side_by_side_fusion

        if not select_arrays:
            raise BenchboxError(f"{self.name}: fusion_init = 'both' chooses its start on the select partition, "
                                f"which is empty.")
        runtime = runtime_settings(config, ctx.device)
        predictions = {}
        for modality in ("audio", "video"):
            network = EmotionModel((modality,), len(ctx.targets), **config.model_kwargs((modality,)))
            try:
                network.load_state_dict(sources[modality])
            except RuntimeError as exc:
                raise BenchboxError(f"{self.name}: the stored {self.init_from[modality]!r} weights do not fit a "
                                    f"{modality} network of this configuration: {exc}") from exc
            network = network.to(ctx.device).eval()
            predictions[modality] = np.concatenate([
                predict_frames(network, {modality: s.inputs[modality]}, window_frames=config.sequence_frames,
                               context=config.inference_context, encode_batch_frames=config.encode_batch_frames,
                               device=ctx.device, autocast_bf16=runtime.autocast_bf16)
                for s in select_arrays])
        labels = np.concatenate([s.labels for s in select_arrays]).astype(np.float64)
        weights, scores = better_branch_weights(predictions["audio"], predictions["video"], labels)
        side_by_side_fusion(model, sources, weights)
        names = [self.init_from["audio"], self.init_from["video"], "intercept"]
        return {"fusion": "both: the two unimodal LSTMs side by side, each target's head from the network with the "
                          "better select CCC on it; cross-modal weights start at zero",
                "fusion_weights": {target: dict(zip(names, map(float, row), strict=True))
                                   for target, row in zip(ctx.targets, weights, strict=True)},
                "select_global_ccc": {target: {self.init_from["audio"]: float(a), self.init_from["video"]: float(v)}
                                      for target, (a, v) in zip(ctx.targets, scores, strict=True)}}

    @staticmethod
    def _initialise_fusion(model, sources: dict[str, dict], record: dict[str, Any]) -> str:
        """Start the fusion LSTM and head as those of the unimodal model with the better select CCC: its
        input weights on its own modality's features, zero on the other's, so that the audiovisual network
        starts out computing exactly that model's predictions and fine-tuning adds the other modality."""
        import torch

        def score(modality: str) -> float:
            value = record[modality].get("best_select_global_ccc_mean")
            return float("-inf") if value is None else float(value)

        best = max(sources, key=score)
        stored = sources[best]
        state = model.state_dict()
        for key, value in state.items():
            if (key.startswith("lstm.") or key.startswith("head.")) and key != "lstm.weight_ih_l0" and (
                    key not in stored or stored[key].shape != value.shape):
                raise BenchboxError(f"The stored {record[best]['model']!r} weights have another LSTM or head shape "
                                    f"than this audiovisual configuration ({key}); use the same preset.")
        offset = 0
        for modality in model.modalities:  # features are concatenated in this order
            width = getattr(model, modality).out_features
            if modality == best:
                break
            offset += width
        width = getattr(model, best).out_features
        with torch.no_grad():
            for key, value in state.items():
                if not (key.startswith("lstm.") or key.startswith("head.")):
                    continue
                source = stored[key]
                if key == "lstm.weight_ih_l0":
                    value.zero_()
                    value[:, offset : offset + width] = source
                else:
                    value.copy_(source)
        return f"{record[best]['model']} (better select CCC): LSTM and head, zero weights on the other features"

    # -- protocol ------------------------------------------------------------------------------------
    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        import torch

        from e2e.config import runtime_settings
        from e2e.cost import PeakMemory
        from e2e.model import EmotionModel
        from e2e.trainer import train_model

        if not train:
            raise BenchboxError(f"Model {self.name!r}: no training sessions.")
        self.preset_, self.config_, self.preset_source_ = self._resolve(ctx)
        self.runtime_ = runtime_settings(self.config_, ctx.device)
        self.device_, self.num_targets_ = ctx.device, len(ctx.targets)
        config = self.config_
        ctx.logger.info("%s: preset %r (%s) on %s", self.name, self.preset_, self.preset_source_, ctx.device)
        with PeakMemory(ctx.device) as peak:
            train_arrays, select_arrays = self._arrays(train, ctx), self._arrays(select, ctx)
            torch.manual_seed(ctx.seed)
            model = EmotionModel(self.modalities, len(ctx.targets), **config.model_kwargs(self.modalities))
            model = model.to(ctx.device)
            self.initialised_from_ = (self._initialise_branches(model, train, select, ctx, select_arrays)
                                      if self.init_from else None)
            initialised = bool(self.initialised_from_ and any(self.initialised_from_.values()))
            if initialised:
                config = config.for_fine_tuning()
                self.fine_tuning_ = {"learning_rate": config.learning_rate, "max_epochs": config.max_epochs}
            self.result_ = train_model(model, train_arrays, select_arrays, config, seed=ctx.seed, device=ctx.device,
                                       checkpoint_path=ctx.scratch_dir / f"{self.name}-checkpoint.pt",
                                       logger=ctx.logger, augment=True,
                                       evaluate_initial=initialised, fingerprint_extra=self.initialised_from_)
        self.fit_memory_ = peak.as_dict()
        self.model_ = model
        if not self.init_from:  # a unimodal model: its weights may initialise e2e-av
            path = self.weights_path(train, select, ctx, self.config_)
            self._store_weights(path)
            self.weights_key_ = path.stem

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        from e2e.cost import PeakMemory
        from e2e.model import predict_frames

        if self.model_ is None:
            raise BenchboxError(f"Model {self.name!r}: predict called before fit.")
        config = self.config_
        out = {}
        with PeakMemory(ctx.device) as peak:
            for s in sessions:
                inputs = self._inputs(s, ctx)
                started = time.perf_counter()
                out[s.id] = predict_frames(self.model_, inputs, window_frames=config.sequence_frames,
                                           context=config.inference_context,
                                           encode_batch_frames=config.encode_batch_frames, device=ctx.device,
                                           autocast_bf16=self.runtime_.autocast_bf16)
                self.inference_seconds_ += time.perf_counter() - started
                self.inference_media_seconds_ += s.num_frames * s.frame_step_s
        self.predict_memory_ = peak.as_dict()
        return out

    def profile_info(self) -> dict[str, Any]:
        """Preset and what it sets, parameters, forward FLOPs per second of media, training and inference
        cost (time, frames/s, real-time factor, peak memory), initialisation."""
        from e2e.config import default_preset, resolve_config
        from e2e.model import flops_per_media_second, parameter_count
        from e2e.weights import describe_weights

        preset = self.preset_ or self.preset or "paper"
        config = self.config_ or resolve_config(preset, self.overrides)
        num_targets = self.num_targets_ or 2
        shape = dict(audio_variant=config.audio_variant, lstm_hidden=config.fusion_hidden(self.modalities),
                     lstm_layers=config.lstm_layers, visual_network=config.visual_network)
        video = "video" in self.modalities
        key = (num_targets, config.crop_size, config.visual_stride, *shape.values())
        if key not in self._flops:
            self._flops[key] = flops_per_media_second(self.modalities, num_targets, crop_size=config.crop_size,
                                                      visual_stride=config.visual_stride, **shape)
        info: dict[str, Any] = {
            "preset": preset,
            "preset_source": self.preset_source_,
            "paper_preset": preset == "paper",
            "default_preset_on_cpu": default_preset("cpu", self.modalities),
            "audio_variant": config.audio_variant if "audio" in self.modalities else None,
            "crop_size_px": config.crop_size if video else None,
            "visual_network": config.visual_network if video else None,
            "crop_normalisation": config.crop_normalisation if video else None,
            "crop_colour": config.crop_colour if video else None,
            "crop_standardise": config.crop_standardise if video else None,
            "visual_frames_per_s": round(25.0 / config.visual_stride, 3) if video else None,
            "visual_pretrained_weights": describe_weights(config.visual_pretrained_weights) if video else None,
            "visual_pretrained_weights_sha256": _weights_digest(config.visual_pretrained_weights) if video else None,
            "parameters": parameter_count(self.modalities, num_targets, **shape),
            "flops_per_media_second": self._flops[key],
            "flops_counted": "forward, batch 1, 25 frames (1 s), torch FlopCounterMode (matmul/conv, 2 per MAC)",
            "config": config.as_dict(),
            "runtime": self.runtime_.as_dict() if self.runtime_ is not None else None,
            "device": self.device_,
            "fitted": self.result_ is not None,
        }
        result = self.result_
        if result is not None:
            info.update({
                "training_time_s": round(result.train_seconds, 3),
                "epochs": result.epochs,
                "steps": result.steps,
                "best_epoch": result.best_epoch,
                "best_select_global_ccc_mean": result.best_select_ccc,
                "train_frames_per_s": round(result.train_frames_per_s, 1) if result.train_frames_per_s else None,
                "training_window_frames": result.window_frames,
                "resumed_from_epoch": result.resumed_from_epoch,
                "peak_memory_fit": self.fit_memory_,
                "weights_cache_key": self.weights_key_,
            })
        if self.init_from:
            info["initialised_from"] = self.initialised_from_
            info["fine_tuning"] = self.fine_tuning_  # learning rate and epoch budget used from unimodal weights
        if self.inference_media_seconds_ > 0:
            info.update({
                "inference_real_time_factor": round(self.inference_seconds_ / self.inference_media_seconds_, 6),
                "inference_compute_s": round(self.inference_seconds_, 3),
                "inference_media_s": round(self.inference_media_seconds_, 3),
                "peak_memory_predict": self.predict_memory_,
            })
        return info


def _session_key(session: LabelledSession) -> tuple[str, int, str]:
    labels = np.ascontiguousarray(session.labels, dtype=np.float64)
    return session.id, session.num_frames, hashlib.sha1(labels.tobytes()).hexdigest()


def _initial_weight_files(config, modalities: frozenset[str]) -> list[Path]:
    """The weight files a configuration starts ``modalities`` from (the ResNet-50 state dict: a local file,
    or torchvision's cached ImageNet file, fetched if absent)."""
    from e2e.weights import visual_weights_file

    if "video" not in modalities:
        return []
    path = visual_weights_file(config.visual_pretrained_weights, "e2e")
    return [] if path is None else [path]


def _weights_digest(spec: str | None) -> str | None:
    """SHA-256 of the ResNet-50 weights file a configuration starts from (``None``: random initialisation,
    or ImageNet weights not fetched yet)."""
    from benchbox.cache import file_sha256
    from e2e.weights import visual_weights_file

    try:
        path = visual_weights_file(spec, "e2e", download=False)
    except BenchboxError:
        return None
    return None if path is None else file_sha256(path)


def _media_paths(session: Session, modalities: frozenset[str]) -> list[Path]:
    paths = []
    if "audio" in modalities and session.audio_path is not None:
        paths.append(Path(session.audio_path))
    if "video" in modalities and session.video_path is not None:
        paths.append(Path(session.video_path))
    return paths


class E2EAudio(_E2EModel):
    """End-to-end audio model of Tzirakis et al. 2017 (raw-waveform CNN + 2-layer LSTM, CCC loss)."""

    name = "e2e-audio"
    modalities = frozenset({"audio"})
    description = ("End-to-end audio model (Tzirakis et al. 2017): 1-D CNN on raw 40 ms chunks, 2-layer LSTM, "
                   "CCC loss; preset 'paper' on CUDA, 'cpu' (released kernels, short schedule) on CPU.")

    def __init__(self, preset: str | None = None, *, overrides: Mapping[str, Any] | None = None,
                 **config: Any) -> None:
        super().__init__(preset, overrides=overrides, **config)


class E2EVideo(_E2EModel):
    """End-to-end visual model of Tzirakis et al. 2017 (ResNet-50 on face crops + 2-layer LSTM)."""

    name = "e2e-video"
    modalities = frozenset({"video"})
    description = ("End-to-end visual model (Tzirakis et al. 2017): ResNet-50 on face crops, 2-layer LSTM, CCC "
                   "loss; preset 'paper' (96 px, every frame) on CUDA, 'cpu-video' (a compact residual trunk on grey, "
                   "standardised 48 px crops, 5 frames/s, CCC of within-session deviations) on CPU.")


class E2EAV(_E2EModel):
    """End-to-end audiovisual model of Tzirakis et al. 2017 (audio CNN + ResNet-50, fused by a 2-layer LSTM)."""

    name = "e2e-av"
    modalities = frozenset({"audio", "video"})
    #: The harness runs these first (same seed and delay); their stored weights initialise the branches.
    requires = ("e2e-audio", "e2e-video")
    #: It learns from the media, not from their predictions: the suite's protocol applies as to any model.
    combines_predictions = False
    init_from = {"audio": "e2e-audio", "video": "e2e-video"}
    description = ("End-to-end audiovisual model (Tzirakis et al. 2017): audio CNN + ResNet-50 features into a "
                   "2-layer LSTM, CCC loss, initialised from e2e-audio and e2e-video and fine-tuned end to end; "
                   "on CPU (preset 'cpu-48px') the visual trunk of e2e-video's 'cpu-video'.")
