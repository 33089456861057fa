"""Training loop of the end-to-end model: Adam, CCC loss, early stopping, resumable checkpoints.

One epoch tiles every training session with non-overlapping windows of ``sequence_frames`` from a
random offset (:func:`e2e.data.epoch_windows`), shuffled and cut into batches. Every
``eval_every_epochs`` epochs the model predicts the whole select partition (:func:`e2e.model.predict_frames`)
and the mean over targets of the *global* CCC (sessions concatenated, as AVEC 2016) decides early
stopping; at the end the best state is loaded. With ``loss_pool = "session"`` the batches hold windows of
``batch_sessions`` sessions each, the loss ignores each session's level, and the output is centred: at each
evaluation the shift that puts the mean prediction over the *training* sessions on the training labels'
mean is applied before select is scored, and the best epoch's shift is added to the head's bias.

After every epoch a checkpoint (model, optimiser, torch RNG states, epoch, step, best state, history) is
written atomically; once training has finished it is rewritten with the final (best) weights only. A
killed run started again with the same configuration, seed and data resumes from it; since the batch
plan of an epoch depends only on ``(seed, epoch)`` and the dropout RNG state is restored, the resumed
run ends with the same weights as an uninterrupted one (bit for bit on CPU with the same number of
threads; CUDA kernels may not be deterministic).

The device path (:func:`e2e.config.runtime_settings`): on CUDA, forward passes run under bf16 autocast,
the visual branch is channels-last, cuDNN autotunes its convolutions, ``compile=True`` wraps the network
in ``torch.compile`` and the training set is copied to device memory once (batches are cut there). On
the CPU none of this happens, except bf16 autocast where a preset asks for it (``precision``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from benchbox import atomic
from benchbox.errors import BenchboxError
from benchbox.protocol import global_ccc
from e2e.config import E2EConfig, RuntimeSettings, runtime_settings
from e2e.data import SessionArrays, epoch_windows, window_batch
from e2e.loss import ccc_loss
from e2e.model import (
    EmotionModel,
    augment_crops,
    flip_crops,
    frames_to_tensor,
    host_tensor,
    mix_sequences,
    predict_frames,
)

__all__ = ["TrainResult", "train_model", "train_step", "prepare_model", "evaluate_global_ccc", "level_shift",
           "CHECKPOINT_FORMAT"]

#: 2: a network trained with loss_pool = "session" is centred on its training sessions' predictions.
CHECKPOINT_FORMAT = 2
log = logging.getLogger("benchbox.e2e")


@dataclasses.dataclass
class TrainResult:
    """What a training run did (also what goes into ``profile_info``)."""

    epochs: int = 0
    steps: int = 0
    best_epoch: int | None = None
    best_select_ccc: float | None = None
    history: list[dict] = dataclasses.field(default_factory=list)
    train_seconds: float = 0.0
    step_seconds: float = 0.0
    frames_trained: int = 0
    window_frames: int = 0
    resumed_from_epoch: int | None = None
    finished: bool = False
    #: Added to the output (head bias) of a network trained with ``loss_pool = "session"`` (per target).
    level_shift: list[float] | None = None

    @property
    def train_frames_per_s(self) -> float | None:
        return self.frames_trained / self.step_seconds if self.step_seconds > 0 else None


def evaluate_global_ccc(model: EmotionModel, sessions: Sequence[SessionArrays], config: E2EConfig, *,
                        device: str = "cpu", shift: np.ndarray | None = None) -> list[float]:
    """Global CCC per target of the model's predictions on labelled ``sessions`` (plus ``shift`` per target if
    given; see :func:`level_shift`)."""
    predictions = _predict(model, sessions, config, device)
    if shift is not None:
        predictions = [p + shift for p in predictions]
    num_targets = sessions[0].labels.shape[1]
    return [global_ccc([s.labels[:, k] for s in sessions], [p[:, k] for p in predictions])
            for k in range(num_targets)]


def level_shift(predictions: Sequence[np.ndarray], level: Sequence[float]) -> np.ndarray:
    """What to add to ``predictions`` (one ``(frames, targets)`` array per session) so that their mean over
    all frames is ``level`` per target. A network trained with ``loss_pool = "session"`` is shifted so that
    its mean prediction over the training sessions is the training labels' mean: that loss leaves the level
    of its output free.

    Example:
        >>> level_shift([np.array([[1.0], [2.0]]), np.array([[3.0], [6.0]])], [0.5]).tolist()
        [-2.5]
    """
    return np.asarray(level, dtype=np.float64) - np.concatenate(predictions).mean(axis=0)


def _predict(model: EmotionModel, sessions: Sequence[SessionArrays], config: E2EConfig,
             device: str) -> list[np.ndarray]:
    autocast = runtime_settings(config, device).autocast_bf16
    return [predict_frames(model, dict(s.inputs), window_frames=config.sequence_frames,
                           context=config.inference_context, encode_batch_frames=config.encode_batch_frames,
                           device=device, autocast_bf16=autocast) for s in sessions]


def _centring(model: EmotionModel, train: Sequence[SessionArrays], config: E2EConfig, device: str,
              level: np.ndarray | None) -> np.ndarray | None:
    """The :func:`level_shift` onto ``level`` of the model's predictions on the training sessions (``None``
    without a level, i.e. unless ``loss_pool = "session"``)."""
    return None if level is None else level_shift(_predict(model, train, config, device), level)


def _fingerprint(config: E2EConfig, seed: int, model: EmotionModel, train: Sequence[SessionArrays],
                 select: Sequence[SessionArrays], extra: dict | None = None) -> str:
    """What must match for a checkpoint to be resumed: configuration, seed, data and parameter shapes."""
    payload = {
        "config": config.as_dict(), "seed": seed, "extra": extra,
        "train": [(s.id, s.num_frames, _label_digest(s)) for s in train],
        "select": [(s.id, s.num_frames, _label_digest(s)) for s in select],
        "parameters": [(name, list(p.shape)) for name, p in model.named_parameters()],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _label_digest(session: SessionArrays) -> str:
    # The harness hands the same sessions with differently shifted labels (one fit per delay).
    return hashlib.sha1(np.ascontiguousarray(session.labels, dtype=np.float64).tobytes()).hexdigest()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Batches:
    """Cuts training batches out of the sessions: from host memory (memory-mapped caches, CPU path) or,
    with ``resident_data``, from one copy of the training set kept in device memory (CUDA path)."""

    def __init__(self, sessions: Sequence[SessionArrays], window: int, device: str, runtime: RuntimeSettings):
        self.sessions, self.window, self.device = sessions, window, device
        self.resident = None
        if runtime.resident_data:
            # read-only memory-mapped cache entries are copied once on the way (host_tensor)
            self.resident = [({m: host_tensor(v).to(device) for m, v in s.inputs.items()},
                              host_tensor(np.asarray(s.labels, dtype=np.float32)).to(device)) for s in sessions]

    def __call__(self, windows: Sequence[tuple[int, int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if self.resident is None:
            inputs, labels = window_batch(self.sessions, windows, self.window)
            return ({m: frames_to_tensor(m, v, self.device) for m, v in inputs.items()},
                    torch.from_numpy(labels).to(self.device, torch.float32))
        w = self.window
        modalities = self.resident[windows[0][0]][0]
        inputs = {m: torch.stack([self.resident[i][0][m][s : s + w] for i, s in windows]) for m in modalities}
        labels = torch.stack([self.resident[i][1][s : s + w] for i, s in windows])
        return {m: frames_to_tensor(m, v, self.device) for m, v in inputs.items()}, labels


def train_step(network: torch.nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
               labels: torch.Tensor, config: E2EConfig, runtime: RuntimeSettings, *,
               augment: bool = False) -> torch.Tensor:
    """One optimiser step (the configuration's mixup and crop augmentation where ``augment``, forward
    under the device's autocast, CCC loss in float32, backward, Adam); returns the detached loss."""
    if augment and config.mixup_alpha > 0:
        tensors, labels = mix_sequences(tensors, labels, config.mixup_alpha)
    if augment and "video" in tensors and config.augments_video:
        def augment(crops: torch.Tensor) -> torch.Tensor:
            if config.video_augment:
                crops = augment_crops(crops, colour=config.video_colour_augment)
            return flip_crops(crops) if config.video_flip else crops

        video, stride = tensors["video"], getattr(network, "visual_stride", 1)
        if stride > 1:  # only the frames the ResNet encodes need augmenting
            video = video.clone()
            video[:, ::stride] = augment(video[:, ::stride])
        else:
            video = augment(video)
        tensors = dict(tensors, video=video)
    with torch.autocast(runtime.device_type, dtype=torch.bfloat16, enabled=runtime.autocast_bf16):
        prediction, _ = network(**tensors)
    loss = ccc_loss(prediction.float(), labels, pool=config.loss_pool, groups=max(config.batch_sessions, 1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def prepare_model(model: EmotionModel, runtime: RuntimeSettings) -> torch.nn.Module:
    """Apply the device path to ``model`` in place (channels-last visual branch, cuDNN autotuning) and
    return the module to call (``torch.compile``-d when asked; its parameters are ``model``'s)."""
    if runtime.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if runtime.channels_last and model.video is not None:
        model.video.to(memory_format=torch.channels_last)
        model.video.channels_last = True
    return torch.compile(model) if runtime.compile else model


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_model(model: EmotionModel, train: Sequence[SessionArrays], select: Sequence[SessionArrays],
                config: E2EConfig, *, seed: int, device: str = "cpu", checkpoint_path: str | Path | None = None,
                logger: logging.Logger | None = None, on_step: Callable[[int], None] | None = None,
                augment: bool = False, evaluate_initial: bool = False,
                fingerprint_extra: dict | None = None) -> TrainResult:
    """Train ``model`` in place (ending with its best state on ``select``) and return what happened.

    Args:
        model: A freshly initialised network, already on ``device``.
        train: Labelled sessions to learn from (labels ``(frames, targets)``).
        select: Labelled sessions for early stopping; may be empty (then the last state is kept).
        config: Training settings (learning rate, batch size, sequence length, epochs, patience, ...).
        seed: Seeds the batch plan; the caller seeds torch before creating ``model``.
        device: Where the model lives.
        checkpoint_path: Checkpoint file, resumed from when it matches this run; ``None``: no checkpoints.
        logger: Progress messages.
        on_step: Called with the step number after every optimiser step (progress, tests).
        augment: Apply the configuration's training augmentation (``mixup_alpha``: mixup between the
            batch's sequences, :func:`e2e.model.mix_sequences`; ``video_augment``: the paper's crop
            augmentation, :func:`e2e.model.augment_crops`; ``video_flip``: :func:`e2e.model.flip_crops`).
        evaluate_initial: Score ``select`` before the first step too (history entry ``epoch 0``), so that
            early stopping can keep the starting weights (a network initialised from trained models).
        fingerprint_extra: More that a resumable checkpoint must match (e.g. which weights initialised
            the network).
    """
    logger = logger or log
    runtime = runtime_settings(config, device)
    network = prepare_model(model, runtime)
    lengths = [s.num_frames for s in train]
    window = min(config.sequence_frames, min(lengths))
    level = _session_loss_level(train, window, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    result = TrainResult(window_frames=window)
    best_state: dict | None = None
    evals_since_best = 0
    last_loss: float | None = None
    fingerprint = _fingerprint(config, seed, model, train, select, fingerprint_extra)
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    if path is not None and path.exists():
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("format") == CHECKPOINT_FORMAT and checkpoint.get("fingerprint") == fingerprint:
            model.load_state_dict(checkpoint["model"])
            if checkpoint["optimizer"] is not None:  # None once finished: "model" is then the best state
                optimizer.load_state_dict(checkpoint["optimizer"])
            _set_rng_state(checkpoint["rng"])
            result = TrainResult(**checkpoint["result"])
            result.resumed_from_epoch = result.epochs
            best_state, evals_since_best = checkpoint["best_state"], checkpoint["evals_since_best"]
            logger.info("e2e: resuming from %s (epoch %d, step %d)", path, result.epochs, result.steps)
        else:
            logger.info("e2e: ignoring checkpoint %s of another configuration or data", path)

    batch_source = _Batches(train, window, device, runtime)
    started = time.perf_counter()
    elapsed_before = result.train_seconds
    if evaluate_initial and select and result.epochs == 0 and not result.history:
        scores, score, shift = _select_scores(model, train, select, config, device, level)
        result.best_select_ccc = score
        result.best_epoch, best_state = 0, _cpu_state(model)
        result.level_shift = None if shift is None else shift.tolist()
        result.history.append({"epoch": 0, "step": 0, "select_ccc": [float(x) for x in scores], "last_loss": None})
        logger.info("e2e: before training, select global CCC %s", " / ".join(f"{x:.4f}" for x in scores))
    while not result.finished:
        epoch = result.epochs + 1
        model.train()
        batches = epoch_windows(lengths, window, seed=seed, epoch=epoch, batch_size=config.batch_size,
                                batch_sessions=config.batch_sessions)
        for first in range(0, len(batches), config.batch_size):
            if config.max_steps is not None and result.steps >= config.max_steps:
                break
            step_started = time.perf_counter()
            tensors, labels = batch_source(batches[first : first + config.batch_size])
            loss = train_step(network, optimizer, tensors, labels, config, runtime, augment=augment)
            last_loss = float(loss)  # also waits for the device, so step_seconds is the real step time
            result.steps += 1
            result.frames_trained += labels.shape[0] * labels.shape[1]
            result.step_seconds += time.perf_counter() - step_started
            if on_step is not None:
                on_step(result.steps)
        result.epochs = epoch
        out_of_steps = config.max_steps is not None and result.steps >= config.max_steps
        last = out_of_steps or epoch >= config.max_epochs
        if select and (epoch % config.eval_every_epochs == 0 or last):
            scores, score, shift = _select_scores(model, train, select, config, device, level)
            result.history.append({"epoch": epoch, "step": result.steps, "select_ccc": [float(x) for x in scores],
                                   "last_loss": last_loss})
            if result.best_select_ccc is None or score > result.best_select_ccc:
                result.best_select_ccc, result.best_epoch = score, epoch
                best_state, evals_since_best = _cpu_state(model), 0
                result.level_shift = None if shift is None else shift.tolist()
            else:
                evals_since_best += 1
            logger.info("e2e: epoch %d, step %d, select global CCC %s (best %.4f at epoch %d)", epoch, result.steps,
                        " / ".join(f"{x:.4f}" for x in scores), result.best_select_ccc, result.best_epoch)
        result.finished = last or evals_since_best >= config.patience_evals
        if result.finished and level is not None and not select:  # no evaluations: centre the last state
            result.level_shift = _centring(model, train, config, device, level).tolist()
        result.train_seconds = elapsed_before + time.perf_counter() - started
        if path is not None:
            payload = {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "rng": _rng_state(),
                       "result": dataclasses.asdict(result), "evals_since_best": evals_since_best}
            if result.finished:  # keep only the final weights (a fraction of the size: no Adam moments)
                payload |= {"model": best_state if best_state is not None else _cpu_state(model),
                            "optimizer": None, "best_state": None}
            else:
                payload |= {"model": _cpu_state(model), "optimizer": optimizer.state_dict(), "best_state": best_state}
            _save_checkpoint(path, payload)
    if best_state is not None:
        model.load_state_dict(best_state)
    if result.level_shift is not None:  # the checkpoints hold the weights before this shift
        with torch.no_grad():
            model.head.bias += torch.as_tensor(result.level_shift, dtype=model.head.bias.dtype,
                                               device=model.head.bias.device)
    model.eval()
    return result


def _select_scores(model: EmotionModel, train: Sequence[SessionArrays], select: Sequence[SessionArrays],
                   config: E2EConfig, device: str, level: np.ndarray | None
                   ) -> tuple[list[float], float, np.ndarray | None]:
    """Select's global CCC per target, their mean for early stopping (-inf for NaN) and the centring shift
    they were scored with (``None`` unless ``level``)."""
    shift = _centring(model, train, config, device, level)
    scores = evaluate_global_ccc(model, select, config, device=device, shift=shift)
    score = float(np.mean(scores))
    return scores, -math.inf if math.isnan(score) else score, shift


def _session_loss_level(train: Sequence[SessionArrays], window: int, config: E2EConfig) -> np.ndarray | None:
    """The training labels' mean per target where ``loss_pool = "session"`` (the level that the network's
    output is centred on, since that loss does not teach one), else ``None``; raises BenchboxError when the
    training sessions cannot fill a batch of ``batch_sessions`` sessions."""
    if config.loss_pool != "session":
        return None
    per_session = config.batch_size // config.batch_sessions
    usable = sum(s.num_frames // window >= per_session for s in train)
    if usable < config.batch_sessions:
        raise BenchboxError(
            f"loss_pool = 'session' with batch_sessions = {config.batch_sessions} and batch_size = "
            f"{config.batch_size} needs {config.batch_sessions} training sessions of at least "
            f"{per_session * window} frames ({per_session} windows of {window}); {usable} of the "
            f"{len(train)} training sessions are that long.")
    return np.concatenate([s.labels for s in train]).astype(np.float64).mean(axis=0)


def _save_checkpoint(path: Path, payload: dict) -> None:
    with atomic.atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
