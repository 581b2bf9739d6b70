"""Throughput of view-comparison pretraining: the full step against a bare loop.

Builds the project's `Trainer` for the view-comparison method on packed pair data and
times, in one process, pairs per second of:
  bare    the same network, loss and optimiser step on synthetic float inputs already on
          the device (no loading, no conversion, no augmentation);
  device  the real step with the train split held in GPU memory as uint8 (CUDA only);
  host    the real step fed from the memory-mapped split (loader threads, pinned memory,
          uint8 host -> device copy, conversion and shift augmentation on the device).
Prints each real loop's share of the bare one (the target on an H100/H200: 85% or more).
The paper's network is the default: VGG-16 x 4 encoders at 200 px, a 4,096-wide head.

    python benchmarks/view_comparison.py --data PAIRS_DIR [--steps 50] [--batch 32] [--compile]
    python benchmarks/view_comparison.py --synthetic 256 --resolution 64   # no data needed

`--synthetic N` writes N random line-like pairs in the packed layout (no OpenCascade
needed, as on a GPU box). On a CPU it runs too (bare and host only), for checking.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spare3d_bench.packed import PackedWriter  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer  # noqa: E402


def synthetic_pairs(root: Path, n: int, size: int) -> Path:
    """N pairs of random sparse-line drawings in the packed layout (train and val)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", max(2, n // 8))):
        w = PackedWriter(root / split, "pairs", 0)
        for i in range(count):
            imgs = np.where(rng.random((8, size, size, 1)) < 0.04, 0, 255).astype(np.uint8).repeat(3, axis=3)
            views = {f"{k}_{v}": imgs[3 * k + j] for k in (0, 1) for j, v in enumerate("frt")}
            q = SimpleNamespace(task="pairs", views=views, candidates=[imgs[6], imgs[7]], pose=None, candidate_poses=[])
            w.add(str(i), q, [1, 0, 0, 1], i, "synthetic", [])
        w.close()
    (root / "dataset.json").write_text('{"task": "pairs"}\n')
    return root


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step, batches, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per step over `steps` steps after `warmup` untimed ones."""
    it = iter(batches)
    for _ in range(warmup):
        step(next(it))
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _bare_step(trainer: Trainer, inputs: tuple, _batch) -> None:
    trainer.step_on(*inputs)


def bench(args: argparse.Namespace, data: str) -> dict[str, float]:
    """Seconds per step of each mode."""
    device = torch.device(args.device)
    modes = ("device", "host") if device.type == "cuda" else ("host",)
    arch = dict(a.split("=", 1) for a in args.arch)
    results: dict[str, float] = {}
    for mode in modes:
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(
                task="pairs", model=args.model, data=data, epochs=1000, batch_size=args.batch, lr=5e-5,
                resolution=args.resolution, shift=0.03, compile=args.compile, device=args.device,
                data_on_device="yes" if mode == "device" else "no", method="view-comparison", arch=arch,
            )  # fmt: skip
            trainer = Trainer(config, out, progress=False)
            if not results:  # the bare loop: the same trainer on synthetic float inputs prepared once
                batch = trainer.train_set.gather(np.arange(min(args.batch, len(trainer.train_set))))
                inputs = trainer.method.prepare(batch, device)
                inputs = tuple(torch.rand_like(x) if x.is_floating_point() else x for x in inputs)
                bare = functools.partial(_bare_step, trainer, inputs)
                results["bare"] = _timed(bare, itertools.repeat(None), args.steps, 5, device)
            batches = itertools.chain.from_iterable(itertools.repeat(trainer.loader))
            results[mode] = _timed(trainer.step, batches, args.steps, 5, device)
            del trainer
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="packed pair data (spare3d generate pairs --layout packed)")
    ap.add_argument("--synthetic", type=int, metavar="N", help="write N synthetic pairs instead of --data")
    ap.add_argument("--model", default="vgg16-compare")
    ap.add_argument("--arch", action="append", default=[], metavar="NAME=VALUE", help="architecture switches")
    ap.add_argument("--resolution", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32, help="pairs per step (8 drawings each)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if (args.data is None) == (args.synthetic is None):
        ap.error("give --data DIR or --synthetic N")
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"{where}, torch {torch.__version__}, {args.model} at {args.resolution} px, batch {args.batch} pairs, "
          f"bf16 and channels_last on CUDA, compile={args.compile}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or str(synthetic_pairs(Path(tmp) / "pairs", args.synthetic, args.resolution))
        results = bench(args, data)
    bare = results["bare"]
    for mode, seconds in results.items():
        share = f"  {100 * bare / seconds:5.1f}% of bare" if mode != "bare" else ""
        print(f"{mode:6s}: {args.batch / seconds:8.1f} pairs/s {8 * args.batch / seconds:9.0f} drawings/s{share}", flush=True)


if __name__ == "__main__":
    main()
