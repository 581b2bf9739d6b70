"""Benchmark the generation pipeline: its overhead per unit, and how T2I generation scales.

1. Overhead: trivial units (returning 1 kB) through the whole pipeline: the SQLite journal
   (one transaction per unit), the executor's scheduling and inter-process transfer, and
   an atomic write of each unit's bytes (what assembly does). Target: under 5 ms per unit.
2. Scaling: a real T2I generation (8-primitive CSG models, 200 px) with 1 and 2 local
   workers and on a 2-worker Dask LocalCluster (questions per second while building,
   cluster start-up excluded and shown apart). Target: Dask within 10% of local.

    python benchmarks/pipeline.py [--units 2000] [--questions 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renderers.executors import make_executor  # noqa: E402
from renderers.writers import atomic_write  # noqa: E402
from spare3d_bench.csg import CSGRecipe  # noqa: E402
from spare3d_bench.generate import GenerateConfig, generate  # noqa: E402
from spare3d_bench.pipeline import Journal, run_units  # noqa: E402
from spare3d_bench.tasks import TaskOptions  # noqa: E402


def trivial(unit: int) -> tuple[str, bytes]:
    """A unit that does nothing: 1 kB of result."""
    return "kept", unit.to_bytes(8, "little") * 128


def overhead(units: int, executor: str, workers: int, root: Path) -> float:
    """Milliseconds per trivial unit: journal + scheduling + an atomic write per unit."""
    t0 = time.perf_counter()
    journal = Journal(root, f"bench-{executor}", units)
    ex = make_executor(executor, workers, 60.0, start_method="fork")
    run_units(journal, ex, trivial, progress=False)
    for unit, _, _, blob in journal.results():
        atomic_write(root / f"{unit}.bin", blob)
    journal.close()
    return 1000 * (time.perf_counter() - t0) / units


def t2i(questions: int, executor: str, workers: int, out: Path) -> tuple[float, float]:
    """(questions per second while building, total seconds including start-up and assembly)."""
    cfg = GenerateConfig("t2i", questions, seed=0, recipe=CSGRecipe(8), options=TaskOptions(size=200))
    t0 = time.perf_counter()
    card = generate(cfg, out, workers=workers, progress=False, executor=executor)
    total = time.perf_counter() - t0
    return questions / card["report"]["run"]["seconds"], total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--questions", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for executor, workers in (("serial", 1), ("local", 1), ("local", 2)):
            ms = overhead(args.units, executor, workers, tmp / f"o-{executor}{workers}")
            print(f"overhead, {executor} x{workers}: {ms:.2f} ms per unit over {args.units} trivial units (target < 5)")
        rates = {}
        for executor, workers in (("local", 1), ("local", 2), ("dask", 2)):
            rate, total = t2i(args.questions, executor, workers, tmp / f"t-{executor}{workers}")
            rates[executor, workers] = rate
            print(f"T2I, {executor} x{workers}: {rate:.2f} questions/s ({args.questions} questions, {total:.1f} s in all)")
        local, dask = rates["local", 2], rates["dask", 2]
        print(f"2 local workers: {local / rates['local', 1]:.2f}x one; Dask 2 workers: {100 * dask / local:.0f}% of local"
              " (target >= 90%)")


if __name__ == "__main__":
    main()
