"""Benchmark T2I generation from CSG models: questions per second and where the time goes.

For 8- and 28-primitive models at 200 px: questions per second with 1 and 2 worker
processes; in one process, the time split between boolean operations (making models and
similar objects), OCCT hidden-line removal (with the splitting of overlapping solids it
needs), and everything else; and the speed-up of the similar-object cut that only touches
the solids the tool can reach over cutting the whole compound. Targets (issue 4):
everything outside OCCT under 10% of the time; T2I on 28-primitive models at least 3x
faster than with whole-compound cuts.

Then the engines (issue 21), 28 primitives, the faster of two runs each: `--engine mesh`
against the default (OpenCascade, `--hlr auto`) and OpenCascade with `--hlr mesh`, one
process, and the mesh engine's speed-up with 2 processes, on `--scaling-questions` (96: a
job long enough that starting the workers and assembling the files, done once, do not
decide it). Targets: at least 5x the default, 3x `--hlr mesh`, and 1.8x with 2 processes.
`--engines-only` runs just that part.

    python benchmarks/generate.py [--questions 8] [--scaling-questions 96] [--engines-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renderers import occ  # noqa: E402
from spare3d_bench import csg, tasks  # noqa: E402
from spare3d_bench.generate import GenerateConfig, generate  # noqa: E402
from spare3d_bench.tasks import TaskOptions  # noqa: E402

SPENT = {"boolean": 0.0, "hlr": 0.0}


def timed(module, name: str, bucket: str) -> None:
    """Wrap module.name so its wall time is added to SPENT[bucket] (outermost call only)."""
    inner = getattr(module, name)
    depth = {"n": 0}

    def wrapper(*a, **k):
        depth["n"] += 1
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            depth["n"] -= 1
            if depth["n"] == 0:
                SPENT[bucket] += time.perf_counter() - t0

    setattr(module, name, wrapper)


def run(
    primitives: int, questions: int, workers: int, out: Path, hlr: str = "auto", executor: str = "local",
    engine: str = "occ",
) -> tuple[float, dict]:
    cfg = GenerateConfig(
        "t2i", questions, seed=0, recipe=csg.CSGRecipe(primitives), options=TaskOptions(size=200, hlr=hlr), engine=engine
    )
    t0 = time.perf_counter()
    card = generate(cfg, out, workers=workers, progress=False, executor=executor)
    return time.perf_counter() - t0, card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--engines-only", action="store_true", help="only compare the engines")
    ap.add_argument("--primitives", type=int, default=28, help="primitives per model in the engine comparison")
    ap.add_argument("--scaling-questions", type=int, default=96, help="questions of the mesh engine's scaling runs")
    args = ap.parse_args()
    n = args.questions
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        engines(n, tmp, args.primitives, args.scaling_questions)
        if args.engines_only:
            return
        for k in (8, 28):
            t1, card = run(k, n, 1, tmp / f"a{k}")
            t2, _ = run(k, n, 2, tmp / f"b{k}")
            kept = sum(card["questions"].values())
            print(f"{k:2d} primitives: {n / t1:.2f} questions/s (1 process), {n / t2:.2f} (2 processes, {t1 / t2:.2f}x);"
                  f" {kept}/{n} kept, filtered {sum(card['filtered'].values())}")
        # time split: the serial executor builds questions in this process, where the
        # wrappers add up their time (a forked worker's sums would be lost)
        timed(csg, "csg_model", "boolean")
        timed(tasks, "apply_tool", "boolean")
        timed(occ, "hlr_exact", "hlr")
        timed(occ, "hlr_poly", "hlr")
        timed(occ, "split_overlaps", "hlr")  # OCCT intersections for the hidden-line removal
        for k in (8, 28):
            SPENT.update(boolean=0.0, hlr=0.0)
            t, _ = run(k, n, 1, tmp / f"c{k}", executor="serial")
            other = t - SPENT["boolean"] - SPENT["hlr"]
            print(f"{k:2d} primitives split: booleans {100 * SPENT['boolean'] / t:.0f}%, HLR (overlaps split included)"
                  f" {100 * SPENT['hlr'] / t:.0f}%,"
                  f" everything else {100 * other / t:.1f}% of {t:.1f} s (target < 10%)")
        # local cut against cutting the whole compound, 28 primitives, exact and mesh drawings;
        # the faster of two runs each, as single runs of 8 questions vary by up to 15% here
        def best(name: str, hlr: str) -> float:
            return min(run(28, n, 1, tmp / f"{name}-{hlr}-{r}", hlr)[0] for r in range(2))

        local = {h: best("local", h) for h in ("auto", "mesh")}
        tasks.apply_tool = lambda shape, tool, operation="cut": occ.cut(shape, tool)
        whole = {h: best("whole", h) for h in ("auto", "mesh")}
        for h in ("auto", "mesh"):
            print(f"28 primitives, --hlr {h}: local cuts {n / local[h]:.2f} questions/s, whole-compound cuts"
                  f" {n / whole[h]:.2f}: {whole[h] / local[h]:.1f}x (target >= 3x)")


def engines(n: int, tmp: Path, primitives: int = 28, scaling: int = 96) -> None:
    """T2I questions/s by engine (the faster of two runs each), and the mesh engine's
    scaling on `scaling` questions (runs of 1 and 2 processes alternating)."""
    def best(name: str, workers: int = 1, questions: int = n, **kw) -> float:
        return questions / min(run(primitives, questions, workers, tmp / f"engine-{name}-{r}", **kw)[0] for r in range(2))

    occ_auto, occ_mesh = best("occ-auto"), best("occ-mesh", hlr="mesh")
    mesh1 = best("mesh-1", engine="mesh")
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(2):
        for w in (1, 2):
            times[w].append(run(primitives, scaling, w, tmp / f"scaling-{w}-{r}", engine="mesh")[0])
    one, two = scaling / min(times[1]), scaling / min(times[2])
    print(f"| T2I, {primitives} primitives, 200 px, {n} questions | questions/s | mesh engine's speed-up |")
    print("|---|---|---|")
    print(f"| OpenCascade, --hlr auto (default), 1 process | {occ_auto:.2f} | {mesh1 / occ_auto:.1f}x (target >= 5x) |")
    print(f"| OpenCascade, --hlr mesh, 1 process | {occ_mesh:.2f} | {mesh1 / occ_mesh:.1f}x (target >= 3x) |")
    print(f"| --engine mesh, 1 process | {mesh1:.2f} | |")
    print(f"\n| --engine mesh, {scaling} questions | questions/s | runs (s) |")
    print("|---|---|---|")
    for w, rate in ((1, one), (2, two)):
        print(f"| {w} process{'es' if w > 1 else ''} | {rate:.2f} | {', '.join(f'{t:.2f}' for t in times[w])} |")
    print(f"2 processes: {two / one:.2f}x one (target >= 1.8x)")


if __name__ == "__main__":
    main()
