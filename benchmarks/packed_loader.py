"""Benchmark the packed layout's PyTorch dataset: drawings per second on one core.

Writes a packed T2I split of synthetic 200 x 200 RGB drawings (3 views + 4 candidates per
question), then reads it with a shuffled DataLoader (batch 64, no worker processes) and
prints drawings delivered per second, warm (file in the page cache) and with 1 process
pinned to one core. Target (issue 4): at least 50,000 drawings/s.

    python benchmarks/packed_loader.py [--questions 600] [--size 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spare3d_bench.packed import PackedWriter  # noqa: E402
from spare3d_bench.tasks import Question  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import torch
    from torch.utils.data import DataLoader

    from spare3d_bench.data import QuestionDataset, collate_batch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    s = args.size
    with tempfile.TemporaryDirectory() as tmp:
        w = PackedWriter(tmp, "t2i", 0)
        for i in range(args.questions):
            img = lambda: rng.integers(0, 256, (s, s, 3), dtype=np.uint8)  # noqa: E731
            q = Question("t2i", i, {v: img() for v in "frt"}, [img() for _ in range(4)], i % 4)
            w.add(str(i), q, q.answer, i, "synthetic", [])
        w.close()
        ds = QuestionDataset.from_packed(tmp)
        per_q = 7
        for label in ("cold", "warm", "warm"):
            loader = DataLoader(ds, batch_size=args.batch, shuffle=True, collate_fn=collate_batch)
            t0 = time.perf_counter()
            n = 0
            for batch in loader:
                n += batch["views"].shape[0] * per_q
            dt = time.perf_counter() - t0
            print(f"{label:5s}: {n} drawings ({s} px RGB) in {dt:.2f} s = {n / dt:,.0f} drawings/s on one core")
    print("target: 50,000 drawings/s")


if __name__ == "__main__":
    main()
