"""The experiment harness's own cost: a suite's wall time against the time its stages took
(each stage's `spare3d` command, as ROOT/stages/<key>.json records it), per run; and the
time of a second bench of the finished suite, which must do no work.

    python benchmarks/harness.py [SUITE] [--scale tiny|cpu] [--device cpu]

SUITE defaults to the built-in paper-spare3d; the target is an overhead under 1% of the
run's time at the cpu scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spare3d_bench.harness.runner import Bench  # noqa: E402
from spare3d_bench.harness.suite import load_suite  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?", default="paper-spare3d")
    ap.add_argument("--scale", default="tiny", choices=("tiny", "cpu", "gpu", "paper"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    suite = load_suite(args.suite, args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(suite, tmp, args.device, args.workers)
        t0 = time.perf_counter()
        out = bench.run(progress=False)
        wall = time.perf_counter() - t0
        stages = sum(json.loads(p.read_text())["seconds"] for p in (Path(tmp) / "stages").glob("*.json"))
        t1 = time.perf_counter()
        again = Bench(load_suite(args.suite, args.scale), tmp, args.device, args.workers).run(progress=False)
        second = time.perf_counter() - t1
    runs = len(suite.runs)
    overhead = wall - stages
    print(f"{suite.name} ({args.scale}): {runs} runs, {len(out.ran)} stages run, {len(out.failed)} failed")
    print(f"wall {wall:.1f} s, in stages {stages:.1f} s: harness {overhead:.2f} s in all, {overhead / runs:.3f} s a run, "
          f"{100 * overhead / wall:.2f}% of the time (target < 1% at the cpu scale)")
    print(f"second bench of the finished suite: {second:.2f} s, {len(again.ran)} stages run")


if __name__ == "__main__":
    main()
