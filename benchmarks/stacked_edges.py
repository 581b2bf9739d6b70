"""Calibrate `auto`'s per-view rule: exact top-view HLR time against stacked-edge depth.

SPARE3D-CSG models of one seed, each cut by six similar-object tools (a Z cylinder cuts a
stack of overlapping solids: the case the rule exists for). For every cut whose Z
cylinders carry freeform edges (depth >= 1), times exact HLR of the top view in a forked
process (killed past --limit) and prints the time per depth, the share over 1 s, and the
threshold `renderers.cad.AUTO_STACKED_EDGES` in use. Check both model sizes: a rule
tuned on 28-primitive models alone made 8-primitive T2I generation 35% slower.

    python benchmarks/stacked_edges.py [--models 40] [--primitives 28] [--seed 0] [--limit 20]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renderers import occ  # noqa: E402
from renderers.cad import AUTO_STACKED_EDGES, DEFAULT_TOLERANCE  # noqa: E402
from renderers.errors import RenderError  # noqa: E402
from renderers.views import PRESETS  # noqa: E402
from spare3d_bench import csg  # noqa: E402


def _top_view(conn, shape) -> None:
    t0 = time.perf_counter()
    occ.hlr_exact(shape, PRESETS["t"], DEFAULT_TOLERANCE * occ.rough_size(shape))
    conn.send(time.perf_counter() - t0)


def exact_top_seconds(shape, limit: float) -> float:
    """Seconds of exact HLR for the top view; inf past `limit` (the process is killed),
    NaN when it failed or crashed."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_top_view, args=(send, shape))
    proc.start()
    send.close()
    try:
        seconds = recv.recv() if recv.poll(limit) else float("inf")
    except EOFError:  # the view raised, or OCCT killed the process
        seconds = float("nan")
    proc.kill()
    proc.join()
    return seconds


def z_depth(shape) -> int:
    return max((d for axis, d in occ.stacked_edges(shape) if abs(axis[2]) > 1 - 1e-9), default=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--primitives", type=int, default=28, help="primitives per CSG model (SPARE3D: 28; small: 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=float, default=20.0, help="seconds before a view counts as over the limit")
    args = ap.parse_args()
    rows: list[tuple[int, float]] = []
    from tqdm import tqdm

    for i in tqdm(range(args.models), unit="model"):
        try:
            model = csg.csg_model(args.seed, i, csg.CSGRecipe(args.primitives))
        except csg.GenerationError:
            continue
        rng = np.random.default_rng(i)
        for _ in range(6):
            tool = csg.similar_tool(model, rng)
            try:
                shape = occ.drawable(csg.apply_tool(model, tool, "cut")).shape
            except RenderError:
                continue
            depth = z_depth(shape)
            if depth:
                rows.append((depth, exact_top_seconds(shape, args.limit)))
    failed = sum(np.isnan(s) for _, s in rows)
    rows = [(d, s) for d, s in rows if not np.isnan(s)]
    depths = np.array([d for d, _ in rows])
    secs = np.array([s for _, s in rows])
    print(f"\n{len(rows)} top views with freeform edges on Z cylinders ({failed} failed); "
          f"auto threshold {AUTO_STACKED_EDGES}")
    print("depth  views  median s   max s  over 1 s")
    for d in np.unique(depths):
        t = secs[depths == d]
        print(f"{d:5d}  {len(t):5d}  {np.median(t):8.3f}  {t.max():6.3f}  {(t > 1).sum():8d}")
    for name, m in (("below", depths < AUTO_STACKED_EDGES), ("at or above", depths >= AUTO_STACKED_EDGES)):
        if m.any():
            t = secs[m]
            print(f"{name} threshold: {m.sum()} views, median {np.median(t):.3f} s, max {t.max():.3f} s, "
                  f"{(t > 1).sum()} over 1 s")


if __name__ == "__main__":
    main()
