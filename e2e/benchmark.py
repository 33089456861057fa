"""Training throughput of the end-to-end model: frames per second and model FLOP utilisation (MFU).

Runs the trainer's own step (:func:`e2e.trainer.train_step`: device path, autocast, CCC loss, Adam) on
random inputs of the preset's shapes, after warm-up steps, and reports

- training frames per second (forward + backward + optimiser step; frames = label frames, 40 ms each);
- seconds per RECOLA-size epoch (9 x 7,501 frames);
- achieved model FLOP/s = 3 x forward FLOPs per frame (``torch.utils.flop_counter``) x frames/s (the usual
  "backward costs twice the forward" convention; element-wise work is not counted);
- MFU = achieved / peak, when the peak of the device is known (``--peak-tflops``, or a small table of
  dense bf16 peaks for NVIDIA data-centre GPUs).

Usage (the issue's GPU goal: >= 15,000 frames/s for the paper configuration on one H100)::

    python -m e2e.benchmark --device cuda --preset paper --model e2e-av
    python -m e2e.benchmark --device cpu --preset cpu --model e2e-audio --steps 5 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["BenchmarkResult", "benchmark_training", "main", "DENSE_BF16_PEAK_TFLOPS", "RECOLA_EPOCH_FRAMES"]

#: Frames of one RECOLA-size training epoch (9 sessions of 7,501 label frames).
RECOLA_EPOCH_FRAMES = 9 * 7_501
#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from the vendors' data sheets, matched as
#: substrings of ``torch.cuda.get_device_name()``; ``--peak-tflops`` overrides.
DENSE_BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 756.0,
                          "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0}
_MODALITIES = {"e2e-audio": ("audio",), "e2e-video": ("video",), "e2e-av": ("audio", "video")}


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    model: str
    preset: str
    device: str
    device_name: str
    runtime: dict[str, Any]
    batch_size: int
    sequence_frames: int
    steps: int
    seconds: float
    train_frames_per_s: float
    recola_epoch_s: float
    forward_flops_per_frame: float
    achieved_tflops: float
    peak_tflops: float | None
    mfu: float | None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _peak_tflops(device_name: str) -> float | None:
    for key, value in DENSE_BF16_PEAK_TFLOPS.items():  # most specific names first
        if key in device_name:
            return value
    return None


def benchmark_training(model_name: str = "e2e-av", preset: str = "paper", *, device: str = "cuda", steps: int = 20,
                       warmup_steps: int = 3, num_targets: int = 2, overrides: dict[str, Any] | None = None,
                       peak_tflops: float | None = None, seed: int = 0) -> BenchmarkResult:
    """Time ``steps`` training steps of ``model_name`` with ``preset`` on ``device`` (random inputs)."""
    import torch

    from benchbox.errors import BenchboxError
    from e2e.config import resolve_config, runtime_settings
    from e2e.model import AUDIO_CHUNK_SAMPLES, EmotionModel, flops_per_media_second
    from e2e.trainer import prepare_model, train_step

    if model_name not in _MODALITIES:
        raise BenchboxError(f"The 'model' parameter of benchmark_training must be one of {sorted(_MODALITIES)}. "
                            f"Got {model_name!r} instead.")
    modalities = _MODALITIES[model_name]
    # training speed does not depend on the starting weights: random ones, nothing fetched
    config = resolve_config(preset, {"visual_pretrained_weights": None, **(overrides or {})})
    runtime = runtime_settings(config, device)
    torch.manual_seed(seed)
    model = EmotionModel(modalities, num_targets, **config.model_kwargs(modalities)).to(device)
    network = prepare_model(model, runtime)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    batch, frames = config.batch_size, config.sequence_frames
    tensors = {}
    if "audio" in modalities:
        tensors["audio"] = torch.randn(batch, frames, AUDIO_CHUNK_SAMPLES, device=device)
    if "video" in modalities:
        tensors["video"] = torch.rand(batch, frames, 3, config.crop_size, config.crop_size, device=device)
    labels = torch.rand(batch, frames, num_targets, device=device) * 2 - 1

    def run(count: int) -> float:
        if runtime.device_type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for _ in range(count):
            loss = train_step(network, optimizer, tensors, labels, config, runtime, augment=True)
        float(loss)  # waits for the device
        return time.perf_counter() - started

    run(max(1, warmup_steps))
    seconds = run(steps)
    frames_per_s = steps * batch * frames / seconds
    flops_per_frame = flops_per_media_second(modalities, num_targets, audio_variant=config.audio_variant,
                                             lstm_hidden=config.lstm_hidden, lstm_layers=config.lstm_layers,
                                             crop_size=config.crop_size, visual_stride=config.visual_stride,
                                             visual_network=config.visual_network) / 25.0
    achieved = 3.0 * flops_per_frame * frames_per_s / 1e12
    name = torch.cuda.get_device_name(device) if runtime.device_type == "cuda" else "cpu"
    peak = peak_tflops if peak_tflops is not None else (_peak_tflops(name) if runtime.device_type == "cuda" else None)
    return BenchmarkResult(model=model_name, preset=preset, device=str(device), device_name=name,
                           runtime=runtime.as_dict(), batch_size=batch, sequence_frames=frames, steps=steps,
                           seconds=round(seconds, 4), train_frames_per_s=round(frames_per_s, 1),
                           recola_epoch_s=round(RECOLA_EPOCH_FRAMES / frames_per_s, 2),
                           forward_flops_per_frame=flops_per_frame, achieved_tflops=round(achieved, 3),
                           peak_tflops=peak, mfu=round(achieved / peak, 4) if peak else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="e2e-av", choices=sorted(_MODALITIES))
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, help="override the preset's sequences per step")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA)")
    parser.add_argument("--peak-tflops", type=float, help="peak of the device for MFU (default: known GPUs)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.compile:
        overrides["compile"] = True
    result = benchmark_training(args.model, args.preset, device=args.device, steps=args.steps,
                                warmup_steps=args.warmup_steps, overrides=overrides, peak_tflops=args.peak_tflops)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    mfu = f"{result.mfu:.1%}" if result.mfu is not None else "n/a (give --peak-tflops)"
    print(f"{result.model} ({result.preset}) on {result.device_name}: {result.train_frames_per_s:,.0f} training "
          f"frames/s (batch {result.batch_size} x {result.sequence_frames} frames, {result.steps} steps), "
          f"{result.recola_epoch_s:.2f} s per RECOLA-size epoch; {result.achieved_tflops:.2f} model TFLOP/s, "
          f"MFU {mfu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
