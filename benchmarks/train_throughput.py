"""Benchmark the training step end to end against a bare loop of the same model.

For each case (ResNet-18 early fusion at 128 px, VGG-16 early fusion at 200 px, T2I) it
builds the project's `Trainer` on a packed dataset and times, in one process:
  bare    the same model, loss and optimiser step on synthetic float inputs already on the
          GPU (no loading, no conversion);
  device  the real step with the train split held in GPU memory (uint8, gathered there);
  host    the real step fed from the memory-mapped split on the host (loader threads
          gathering into pinned memory, uint8 host -> device copy, conversion on the device).
Prints questions/s and backbone images/s (4 candidates per question) and each real
loop's share of the bare one. Target (issue 6): at least 85%. Needs CUDA; it reads a
packed dataset made elsewhere (no OpenCascade needed):

    python benchmarks/train_throughput.py [--data128 DIR] [--data200 DIR] [--steps 60] [--compile]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spare3d_bench.train import TrainConfig, Trainer  # noqa: E402


def _timed(step, batches, steps: int, warmup: int) -> float:
    """Seconds per step over `steps` steps after `warmup` untimed ones."""
    it = iter(batches)
    for _ in range(warmup):
        step(next(it))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def _bare_step(trainer: Trainer, inputs: tuple, _batch) -> None:
    trainer.step_on(*inputs)


def bench(model: str, data: str, resolution: int, batch: int, steps: int, compile_: bool) -> None:
    results = {}
    for mode in ("device", "host"):
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(
                task="t2i", model=model, data=data, epochs=1000, batch_size=batch, lr=2e-5,
                resolution=resolution, compile=compile_, data_on_device="yes" if mode == "device" else "no",
            )  # fmt: skip
            trainer = Trainer(config, out, progress=False)
            batches = itertools.chain.from_iterable(itertools.repeat(trainer.loader))
            if mode == "device":  # the bare loop on the same trainer (same model and optimiser)
                c = trainer.config.channels
                views = torch.rand(batch, 3, c, resolution, resolution, device="cuda")
                candidates = torch.rand(batch, 4, c, resolution, resolution, device="cuda")
                pose = torch.zeros(batch, dtype=torch.long, device="cuda")
                answer = torch.randint(0, 4, (batch,), device="cuda")
                bare = functools.partial(_bare_step, trainer, (views, candidates, pose, answer))
                results["bare"] = _timed(bare, itertools.repeat(None), steps, 10)
            results[mode] = _timed(trainer.step, batches, steps, 10)
            del trainer
            torch.cuda.empty_cache()
    bare = results["bare"]
    for mode, seconds in results.items():
        q = batch / seconds
        share = f"  {100 * bare / seconds:5.1f}% of bare" if mode != "bare" else ""
        print(f"{model} {resolution}px batch {batch} {mode:6s}: {q:8.0f} questions/s {4 * q:8.0f} images/s{share}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data128", help="packed T2I dataset of 128 px drawings (ResNet-18 case)")
    ap.add_argument("--data200", help="packed T2I dataset of 200 px drawings (VGG-16 case)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64, help="questions per step (x4 backbone images)")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("train_throughput.py needs a CUDA GPU")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, bf16 autocast, channels_last, compile={args.compile}")
    if args.data128:
        bench("resnet18-early", args.data128, 128, args.batch, args.steps, args.compile)
    if args.data200:
        bench("vgg16-early", args.data200, 200, args.batch, args.steps, args.compile)


if __name__ == "__main__":
    main()
