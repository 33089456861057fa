"""benchbox model plugins of the end-to-end model of Tzirakis et al. (2017).

- ``e2e-audio`` (:class:`E2EAudio`): raw-audio CNN + 2-layer LSTM;
- ``e2e-video`` (:class:`E2EVideo`) and ``e2e-av`` (:class:`E2EAV`): ResNet-50 on face crops (+ audio).
  They read crops through a ``crop_loader``; until benchbox ships a face-crop extractor the default
  loader raises a clear error, so register them only once one is wired in (tests use stub loaders).

The harness creates a fresh plugin per annotation-delay candidate and hands it already shifted labels;
delay and post-processing are the harness's job, not the model's. Preset (see :mod:`e2e.config`):
the constructor's ``preset``, else ``cpu`` on a CPU device and ``paper`` on CUDA; the preset name is
always in :meth:`profile_info`. Single fields can be changed with the constructor's ``overrides``.

This module imports neither torch nor torchvision: ``benchbox models`` lists it instantly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from benchbox.cache import Cache
from benchbox.corpus.session import LabelledSession, Session
from benchbox.errors import BenchboxError
from benchbox.plugin import ModelContext

__all__ = ["E2EAudio", "E2EVideo", "E2EAV", "CropLoader", "missing_crop_loader"]

#: ``loader(session, cache) -> uint8 array (session.num_frames, H, W, 3)``: one RGB face crop per label frame.
CropLoader = Callable[[Session, Cache], np.ndarray]


def missing_crop_loader(session: Session, cache: Cache) -> np.ndarray:
    """Default crop loader: benchbox has no face-crop extractor wired into the e2e plugins yet."""
    raise BenchboxError(
        f"Session {session.id!r}: the e2e video models need face crops, and no crop loader is configured. "
        "Pass crop_loader=... (a function (session, cache) -> uint8 array (num_frames, H, W, 3))."
    )


class _E2EModel:
    """Shared fit/predict/profile of the end-to-end plugins; subclasses set name and modalities."""

    name: str = ""
    modalities: frozenset[str] = frozenset()
    family = "end-to-end"
    description: str = ""

    def __init__(self, preset: str | None = None, *, overrides: Mapping[str, Any] | None = None,
                 crop_loader: CropLoader | None = None) -> None:
        self.preset = preset
        self.overrides = overrides
        self.crop_loader = crop_loader
        self.preset_: str | None = None
        self.config_ = None
        self.model_ = None
        self.result_ = None
        self.device_: str | None = None
        self.num_targets_: int | None = None
        self._flops: dict[tuple, int] = {}

    # -- configuration -------------------------------------------------------------------------------
    def _resolve(self, ctx: ModelContext):
        from e2e.config import default_preset, resolve_config

        preset = self.preset or default_preset(ctx.device)
        return preset, resolve_config(preset, self.overrides)

    # -- data ------------------------------------------------------------------------------------------
    def _inputs(self, session: Session, ctx: ModelContext) -> dict[str, np.ndarray]:
        from e2e.data import cached_audio_chunks

        inputs = {}
        if "audio" in self.modalities:
            inputs["audio"] = cached_audio_chunks(session, ctx.cache)
        if "video" in self.modalities:
            crops = (self.crop_loader or missing_crop_loader)(session, ctx.cache)
            if crops.ndim != 4 or crops.shape[0] != session.num_frames or crops.shape[-1] != 3:
                raise BenchboxError(
                    f"Session {session.id!r}: face crops must have shape ({session.num_frames}, H, W, 3). "
                    f"Got {tuple(crops.shape)} instead."
                )
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

    # -- protocol ------------------------------------------------------------------------------------
    def fit(self, train: Sequence[LabelledSession], select: Sequence[LabelledSession], ctx: ModelContext) -> None:
        import torch

        from e2e.model import EmotionModel
        from e2e.trainer import train_model

        if not train:
            raise BenchboxError(f"Model {self.name!r}: no training sessions.")
        self.preset_, self.config_ = self._resolve(ctx)
        self.device_, self.num_targets_ = ctx.device, len(ctx.targets)
        ctx.logger.info("%s: preset %r (%s audio kernels) on %s", self.name, self.preset_,
                        self.config_.audio_variant, ctx.device)
        torch.manual_seed(ctx.seed)
        model = EmotionModel(self.modalities, len(ctx.targets), **self.config_.model_kwargs()).to(ctx.device)
        self.result_ = train_model(model, self._arrays(train, ctx), self._arrays(select, ctx), self.config_,
                                   seed=ctx.seed, device=ctx.device,
                                   checkpoint_path=ctx.scratch_dir / f"{self.name}-checkpoint.pt", logger=ctx.logger,
                                   augment_video=self.config_.video_augment)
        self.model_ = model

    def predict(self, sessions: Sequence[Session], ctx: ModelContext) -> dict[str, np.ndarray]:
        from e2e.model import predict_frames

        if self.model_ is None:
            raise BenchboxError(f"Model {self.name!r}: predict called before fit.")
        config = self.config_
        return {s.id: predict_frames(self.model_, self._inputs(s, ctx), window_frames=config.sequence_frames,
                                     context=config.inference_context, encode_batch_frames=config.encode_batch_frames,
                                     device=ctx.device)
                for s in sessions}

    def profile_info(self) -> dict[str, Any]:
        """Preset, audio variant, parameters, forward FLOPs per second of media, training figures."""
        from e2e.config import resolve_config
        from e2e.model import flops_per_media_second, parameter_count

        preset = self.preset_ or self.preset or "paper"
        config = self.config_ or resolve_config(preset, self.overrides)
        num_targets = self.num_targets_ or 2
        shape = dict(audio_variant=config.audio_variant, lstm_hidden=config.lstm_hidden,
                     lstm_layers=config.lstm_layers)
        key = (num_targets, config.crop_size, *shape.values())
        if key not in self._flops:
            self._flops[key] = flops_per_media_second(self.modalities, num_targets, crop_size=config.crop_size, **shape)
        info: dict[str, Any] = {
            "preset": preset,
            "audio_variant": config.audio_variant if "audio" in self.modalities else None,
            "parameters": parameter_count(self.modalities, num_targets, **shape),
            "flops_per_media_second": self._flops[key],
            "flops_counted": "forward, batch 1, 25 frames (1 s), torch FlopCounterMode (matmul/conv, 2 per MAC)",
            "config": config.as_dict(),
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
            })
        return info


class E2EAudio(_E2EModel):
    """End-to-end audio model of Tzirakis et al. 2017 (raw-waveform CNN + 2-layer LSTM, CCC loss)."""

    name = "e2e-audio"
    modalities = frozenset({"audio"})
    description = ("End-to-end audio model (Tzirakis et al. 2017): 1-D CNN on raw 40 ms chunks, 2-layer LSTM, "
                   "CCC loss; preset 'paper' on CUDA, 'cpu' (released kernels, short schedule) on CPU.")

    def __init__(self, preset: str | None = None, *, overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(preset, overrides=overrides)


class E2EVideo(_E2EModel):
    """End-to-end visual model of Tzirakis et al. 2017 (ResNet-50 on face crops + 2-layer LSTM)."""

    name = "e2e-video"
    modalities = frozenset({"video"})
    description = ("End-to-end visual model (Tzirakis et al. 2017): ResNet-50 on 96x96 face crops, 2-layer LSTM, "
                   "CCC loss.")


class E2EAV(_E2EModel):
    """End-to-end audiovisual model of Tzirakis et al. 2017 (audio CNN + ResNet-50, fused by a 2-layer LSTM)."""

    name = "e2e-av"
    modalities = frozenset({"audio", "video"})
    description = ("End-to-end audiovisual model (Tzirakis et al. 2017): audio CNN + ResNet-50 features "
                   "concatenated into a 2-layer LSTM, CCC loss, trained jointly from scratch.")
