"""Throughput of self-supervised pretraining on drawings: the full step against a bare loop.

Builds the project's `Trainer` for a pretraining method (SimCLR by default) and times, in
one process, views per second of:
  bare    the same encoder, heads, loss and optimiser step on synthetic float views already
          on the device (no loading, no conversion, no augmentation);
  device  the real step with the drawings held in GPU memory as uint8, augmented there
          per sample (CUDA only);
  host    the real step fed from the memory-mapped split (loader threads, pinned memory,
          uint8 host -> device copy, then the same augmentation on the device);
  augment the views alone (the method's `prepare`: uint8 batch to augmented float views),
          no network: where the real loop's time goes.
  syncs   (CUDA) the points where a real step waits for the device (torch's sync debug
          mode over a few steps, by source line): a step that waits cannot queue the next
          step's kernels while the GPU works, so every one costs throughput.
Prints each real loop's share of the bare one. The target on an H100/H200 is 85% or more
(ResNet-18, 128 px, two views, bf16, channels_last: a bare loop ran 29.3k views/s eager
on an H100, 41.2k compiled).

    python benchmarks/ssl_throughput.py --data DIR [--method simclr] [--batch 512] [--steps 30]
    python benchmarks/ssl_throughput.py --synthetic 4096 --resolution 128   # no data needed

`--synthetic N` writes N random line-like pairs (8 drawings each) in the packed layout.
On a CPU it runs too (bare and host only), for checking.
"""

from __future__ import annotations

import argparse
import collections
import functools
import itertools
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from spare3d_bench.data import infer_task  # noqa: E402
from spare3d_bench.train import TrainConfig, Trainer  # noqa: E402
from view_comparison import _bare_step, _timed, synthetic_pairs  # noqa: E402


SYNC_STEPS = 3  # steps watched for sync points


def sync_points(step, batches, steps: int = SYNC_STEPS) -> collections.Counter:
    """Where `steps` calls of `step` synchronise with the CUDA device: a count per
    source line (torch.cuda's sync debug mode, which warns at each such call)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                step(next(batches))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught
                               if "synchroniz" in str(w.message))


def bench(args: argparse.Namespace, data: str) -> tuple[dict[str, float], int, collections.Counter]:
    """Seconds per step of each mode, the views a step sees, and a real step's sync points."""
    device = torch.device(args.device)
    modes = ("device", "host") if device.type == "cuda" else ("host",)
    options = dict(a.split("=", 1) for a in args.option)
    task = infer_task(data, ("t2i", "i2p", "p2i", "pairs", "poses"))  # any task's drawings make the pool
    results: dict[str, float] = {}
    views = 0
    syncs: collections.Counter = collections.Counter()
    for mode in modes:
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(
                task=task, model=args.model, data=data, epochs=1000, batch_size=args.batch, lr=0.1,
                optimizer="lars" if args.method == "simclr" else "sgd", resolution=args.resolution,
                compile=args.compile, device=args.device, data_on_device="yes" if mode == "device" else "no",
                method=args.method, options=options,
            )  # fmt: skip
            trainer = Trainer(config, out, progress=False)
            batch = trainer.train_set.gather(np.arange(min(args.batch, len(trainer.train_set))))
            inputs = trainer.method.prepare(batch, device, torch.Generator().manual_seed(0))
            views = sum(len(x) for x in inputs if x.is_floating_point())
            if not results:  # the bare loop: synthetic float views prepared once
                fake = tuple(torch.rand_like(x) if x.is_floating_point() else x for x in inputs)
                results["bare"] = _timed(functools.partial(_bare_step, trainer, fake), itertools.repeat(None),
                                         args.steps, 5, device)
            batches = itertools.chain.from_iterable(itertools.repeat(trainer.loader))
            results[mode] = _timed(trainer.step, batches, args.steps, 5, device)
            if mode == "device":
                syncs = sync_points(trainer.step, batches)
            if mode == modes[0]:  # the views alone: uint8 batch to augmented float views, no network
                g = torch.Generator().manual_seed(1)
                views_only = functools.partial(trainer.method.prepare, device=device, generator=g)
                results["augment"] = _timed(views_only, batches, args.steps, 5, device)
            del trainer
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return results, views, syncs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="any packed dataset folder (its drawings are the pool)")
    ap.add_argument("--synthetic", type=int, metavar="N", help="write N synthetic pairs (8 drawings each) instead of --data")
    ap.add_argument("--method", default="simclr", help="simclr, moco, clsa (disco needs --option teacher=...)")
    ap.add_argument("--model", default="resnet18-embed")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", help="method options")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch", type=int, default=512, help="drawings per step (two views each, more for CLSA)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if (args.data is None) == (args.synthetic is None):
        ap.error("give --data DIR or --synthetic N")
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"{where}, torch {torch.__version__}, {args.method} {args.model} at {args.resolution} px, batch {args.batch} "
          f"drawings, bf16 and channels_last on CUDA, compile={args.compile}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or str(synthetic_pairs(Path(tmp) / "pairs", args.synthetic, args.resolution))
        results, views, syncs = bench(args, data)
    bare = results["bare"]
    for mode, seconds in results.items():
        share = {"bare": "", "augment": f"  {1000 * seconds:5.1f} ms a step"}.get(mode, f"  {100 * bare / seconds:5.1f}% of bare")
        print(f"{mode:7s}: {views / seconds:9.0f} views/s {args.batch / seconds:8.0f} drawings/s{share}", flush=True)
    if torch.device(args.device).type == "cuda":
        where = ", ".join(f"{line} x{n}" for line, n in syncs.most_common(8))
        print(f"syncs  : {sum(syncs.values()) / SYNC_STEPS:.1f} a step{' (' + where + ')' if where else ''}", flush=True)


if __name__ == "__main__":
    main()
