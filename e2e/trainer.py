"""Training loop of the end-to-end model: Adam, CCC loss, early stopping, resumable checkpoints.

One epoch tiles every training session with non-overlapping windows of ``sequence_frames`` from a
random offset (:func:`e2e.data.epoch_windows`), shuffled and cut into batches. Every
``eval_every_epochs`` epochs the model predicts the whole select partition (:func:`e2e.model.predict_frames`)
and the mean over targets of the *global* CCC (sessions concatenated, as AVEC 2016) decides early
stopping; at the end the best state is loaded.

After every epoch a checkpoint (model, optimiser, torch RNG states, epoch, step, best state, history) is
written atomically; once training has finished it is rewritten with the final (best) weights only. A
killed run started again with the same configuration, seed and data resumes from it; since the batch
plan of an epoch depends only on ``(seed, epoch)`` and the dropout RNG state is restored, the resumed
run ends with the same weights as an uninterrupted one (bit for bit on CPU with the same number of
threads; CUDA kernels may not be deterministic).
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
from benchbox.protocol import global_ccc
from e2e.config import E2EConfig
from e2e.data import SessionArrays, epoch_windows, window_batch
from e2e.loss import ccc_loss
from e2e.model import EmotionModel, augment_crops, frames_to_tensor, predict_frames

__all__ = ["TrainResult", "train_model", "evaluate_global_ccc", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = 1
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

    @property
    def train_frames_per_s(self) -> float | None:
        return self.frames_trained / self.step_seconds if self.step_seconds > 0 else None


def evaluate_global_ccc(model: EmotionModel, sessions: Sequence[SessionArrays], config: E2EConfig, *,
                        device: str = "cpu") -> list[float]:
    """Global CCC per target of the model's predictions on labelled ``sessions``."""
    predictions = [predict_frames(model, dict(s.inputs), window_frames=config.sequence_frames,
                                  context=config.inference_context, encode_batch_frames=config.encode_batch_frames,
                                  device=device) for s in sessions]
    num_targets = sessions[0].labels.shape[1]
    return [global_ccc([s.labels[:, k] for s in sessions], [p[:, k] for p in predictions]) for k in range(num_targets)]


def _fingerprint(config: E2EConfig, seed: int, model: EmotionModel, train: Sequence[SessionArrays],
                 select: Sequence[SessionArrays]) -> str:
    """What must match for a checkpoint to be resumed: configuration, seed, data and parameter shapes."""
    payload = {
        "config": config.as_dict(), "seed": seed,
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


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_model(model: EmotionModel, train: Sequence[SessionArrays], select: Sequence[SessionArrays],
                config: E2EConfig, *, seed: int, device: str = "cpu", checkpoint_path: str | Path | None = None,
                logger: logging.Logger | None = None, on_step: Callable[[int], None] | None = None,
                augment_video: bool = False) -> TrainResult:
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
        augment_video: Apply :func:`e2e.model.augment_crops` to training crops (the paper's augmentation).
    """
    logger = logger or log
    lengths = [s.num_frames for s in train]
    window = min(config.sequence_frames, min(lengths))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    result = TrainResult(window_frames=window)
    best_state: dict | None = None
    evals_since_best = 0
    last_loss: float | None = None
    fingerprint = _fingerprint(config, seed, model, train, select)
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

    started = time.perf_counter()
    elapsed_before = result.train_seconds
    while not result.finished:
        epoch = result.epochs + 1
        model.train()
        batches = epoch_windows(lengths, window, seed=seed, epoch=epoch)
        for first in range(0, len(batches), config.batch_size):
            if config.max_steps is not None and result.steps >= config.max_steps:
                break
            step_started = time.perf_counter()
            inputs, labels = window_batch(train, batches[first : first + config.batch_size], window)
            tensors = {m: frames_to_tensor(m, v, device) for m, v in inputs.items()}
            if augment_video and "video" in tensors:
                tensors["video"] = augment_crops(tensors["video"])
            prediction, _ = model(**tensors)
            loss = ccc_loss(prediction, torch.from_numpy(labels).to(device=device, dtype=prediction.dtype),
                            pool=config.loss_pool)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            last_loss = float(loss.detach())
            result.steps += 1
            result.frames_trained += labels.shape[0] * labels.shape[1]
            result.step_seconds += time.perf_counter() - step_started
            if on_step is not None:
                on_step(result.steps)
        result.epochs = epoch
        out_of_steps = config.max_steps is not None and result.steps >= config.max_steps
        last = out_of_steps or epoch >= config.max_epochs
        if select and (epoch % config.eval_every_epochs == 0 or last):
            scores = evaluate_global_ccc(model, select, config, device=device)
            score = float(np.mean(scores))
            if math.isnan(score):
                score = -math.inf
            result.history.append({"epoch": epoch, "step": result.steps, "select_ccc": [float(x) for x in scores],
                                   "last_loss": last_loss})
            if result.best_select_ccc is None or score > result.best_select_ccc:
                result.best_select_ccc, result.best_epoch = score, epoch
                best_state, evals_since_best = _cpu_state(model), 0
            else:
                evals_since_best += 1
            logger.info("e2e: epoch %d, step %d, select global CCC %s (best %.4f at epoch %d)", epoch, result.steps,
                        " / ".join(f"{x:.4f}" for x in scores), result.best_select_ccc, result.best_epoch)
        result.finished = last or evals_since_best >= config.patience_evals
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
    model.eval()
    return result


def _save_checkpoint(path: Path, payload: dict) -> None:
    with atomic.atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
